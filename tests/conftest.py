"""Shared fixtures: one embedded broker per test session, one deployment per test.

Each deployment gets its own topic prefix, app id (consumer group), data dir
and web port, so end-to-end tests never see each other's topics or state.
``CARGOGUARD_TEST_BROKER=host:port`` runs them against an existing cluster.
"""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

import schemas
from streams.kafka.alert_feed import NewestAlerts
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from streams.kafka.publish import EventPublisher
from streams.kafka.topics import INPUT_FEEDS, INTERNAL_TOPICS, TopicNames, create_topics
from streams.runtime.metrics import scrape_totals
from streams.settings import Settings

REPO = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT_S = 90.0
METRIC_WAIT_S = 30.0


pytest_plugins = ["tests.browser"]

@pytest.fixture(scope="session")
def broker_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka-compatible broker for the whole session."""
    external = os.environ.get("CARGOGUARD_TEST_BROKER")
    if external:
        yield external
        return
    log = (tmp_path_factory.mktemp("broker") / "tansu.log").open("wb")
    with EmbeddedBroker(f"127.0.0.1:{free_port()}", log=log) as broker:
        yield broker.address
    log.close()


def read_avro(schema_name: str, value: bytes) -> dict[str, Any]:
    """Decode a single-object-encoded value with fastavro alone (independent of streams.kafka.codec)."""
    assert value[:2] == b"\xc3\x01", value[:10]
    schema = fastavro.parse_schema(schemas.load(schema_name))
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value[10:]), schema, None)
    return record


class WorkerProcess:
    """A ``cargoguard worker`` child process."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}
        self.log = log_path.open("ab")
        self.terminated = False
        self.process = subprocess.Popen([sys.executable, "-m", "streams", "worker"], cwd=REPO, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    @property
    def url(self) -> str:
        """The worker's web base URL."""
        return f"http://{self.settings.web_host}:{self.settings.web_port}"

    def wait_ready(self, timeout_s: float = WORKER_READY_TIMEOUT_S) -> None:
        """Block until ``/ready`` answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not ready within {timeout_s} s:\n{self.tail()}")

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples on ``/metrics`` whose labels include ``labels`` (0 when none)."""
        return scrape_totals(self.url + "/metrics", [name], timeout_s=5, labels=labels)[name]

    def samples(self, name: str) -> list[str]:
        """The non-zero samples of ``name`` on ``/metrics``, as text lines (for failure messages)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
        return [line for line in lines if line.startswith(name + "{") and not line.endswith(" 0.0")]

    def wait_metric(self, name: str, done: Callable[[float], bool], **labels: str) -> None:
        """Block until ``done`` holds for :meth:`metric`; fail with the log's tail after a while."""
        deadline = time.monotonic() + METRIC_WAIT_S
        while not done(value := self.metric(name, **labels)):
            assert time.monotonic() < deadline, f"{name}{labels} still {value}:\n{self.tail()}"
            time.sleep(0.1)

    def wait_rule_version(self, rule_id: str, version: int) -> None:
        """Block until the worker has a rule change in force (it reads the rules topic on its own)."""
        self.wait_metric("cargoguard_rule_version", lambda v: v == version, rule_id=rule_id)

    def tail(self, lines: int = 60) -> str:
        """The end of the worker's log."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self) -> None:
        """SIGTERM without waiting (once): a clean shutdown begins."""
        if self.process.poll() is None and not self.terminated:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


class Deployment:
    """One isolated cargoguard deployment on the session broker."""

    def __init__(self, broker: str, tmp_path: Path, **overrides: Any) -> None:
        tag = uuid.uuid4().hex[:8]
        self.settings = Settings(**{
            "broker": broker,
            "topic_prefix": f"t{tag}.",
            "app_id": f"cg-{tag}",
            "data_dir": tmp_path / "data",
            "web_port": free_port(),
            "idle_partition_after_s": 1.0,
            "progress_interval_s": 0.5,
            "log_level": "info",
            **overrides,
        })
        self.tmp_path = tmp_path
        self.names = TopicNames(self.settings)
        self.workers: list[WorkerProcess] = []
        create_topics(self.settings)
        self.publisher = EventPublisher(self.settings)

    def start_worker(self, wait: bool = True, **overrides: Any) -> WorkerProcess:
        """Start a worker (overrides e.g. a second worker's port and data dir)."""
        settings = self.settings.model_copy(update=overrides)
        worker = WorkerProcess(settings, self.tmp_path / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def start_workers(self, count: int) -> list[WorkerProcess]:
        """Start ``count`` more workers in the group, each with its own port and data dir; wait for all."""
        started = [self.start_worker(wait=False, web_port=free_port(),
                                     data_dir=self.tmp_path / f"data-{len(self.workers)}")
                   for _ in range(count)]
        for worker in started:
            worker.wait_ready()
        return started

    @property
    def live_workers(self) -> list[WorkerProcess]:
        """The workers still running."""
        return [worker for worker in self.workers if worker.process.poll() is None]

    def end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """Each partition's end offset, as a fetch reports it.

        Tansu answers ListOffsets with the base offset of a partition's last
        record batch plus one, short of the batch's other records; the high
        watermark of a fetch response is right (``streams.runtime.transport`` does the same).
        """
        consumer = Consumer({"bootstrap.servers": self.settings.broker, "group.id": "test-ends",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 50})
        try:
            listed = {}
            for topic in topics:
                for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                    listed[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            consumer.assign([TopicPartition(t, p, max(0, end - 1)) for (t, p), end in listed.items()])
            ends: dict[tuple[str, int], int] = {}
            deadline = time.monotonic() + 30
            while len(ends) < len(listed):
                assert time.monotonic() < deadline, f"no fetch answer from {set(listed) - set(ends)}"
                consumer.poll(0.05)
                for (t, p), end in listed.items():
                    high = consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)[1]
                    if high >= 0:
                        ends[(t, p)] = max(end, high)
            return ends
        finally:
            consumer.close()

    def uncommitted(self, topics: list[str], ends: dict[tuple[str, int], int] | None = None
                    ) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
        """Events of ``topics`` the group has not committed (up to ``ends``, else the end offsets now).

        Returns them per partition that has any, and the end offsets they were measured against.
        """
        if ends is None:
            ends = self.end_offsets(topics)
        consumer = Consumer({"bootstrap.servers": self.settings.broker, "group.id": self.settings.app_id,
                             "enable.auto.commit": False})
        try:
            partitions = [TopicPartition(topic, p) for topic, p in ends]
            lag = {f"{tp.topic}[{tp.partition}]": ends[(tp.topic, tp.partition)] - max(tp.offset, 0)
                   for tp in consumer.committed(partitions, timeout=10)}
            return {tp: count for tp, count in lag.items() if count > 0}, ends
        finally:
            consumer.close()

    def wait_drained(self, timeout_s: float = 120.0) -> None:
        """Block until the group has committed every input event and everything routed from it, and no
        live worker waits for stream time.

        Progress reports flow through the internal topics for ever, so those
        count up to their end offsets once the inputs are drained.
        """
        deadline = time.monotonic() + timeout_s
        inputs = [self.names.public(key) for key in INPUT_FEEDS]
        internal = [self.names.internal(key) for key in INTERNAL_TOPICS]
        routed_ends: dict[tuple[str, int], int] | None = None
        while True:
            lag = None
            if routed_ends is None:
                lag = self.uncommitted(inputs)[0]
                if not lag:
                    routed_ends = self.uncommitted(internal)[1]
            if routed_ends is not None:
                lag = self.uncommitted(internal, routed_ends)[0]
            pending = sum(worker.metric("cargoguard_pending_timers") for worker in self.live_workers)
            if routed_ends is not None and not lag and pending == 0:
                return
            if time.monotonic() > deadline:
                views = [(w.url, w.samples("cargoguard_consumer_lag"), w.samples("cargoguard_partition_stuck"))
                         for w in self.live_workers]
                raise AssertionError(f"uncommitted {lag}, {pending} subjects waiting; each worker's own view "
                                     f"(consumer lag, stuck partitions): {views}\n"
                                     + "\n".join(w.tail(20) for w in self.live_workers))
            time.sleep(0.5)

    def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish (kind, record) pairs in order and wait for delivery."""
        for kind, record in events:
            self.publisher.publish(kind, record)
        self.publisher.flush()

    def publish_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Write alert records to the alerts topic as a worker would (the control room's input)."""
        topic = self.names.public("alerts")
        for record in alerts:
            self.publisher.publish_raw(topic, record["alert_id"].encode(),
                                       self.publisher.codec.encode("alert", record, topic=topic))
        self.publisher.flush()

    def read_topic(self, key: str, schema_name: str, until: Callable[[list[dict[str, Any]]], bool],
                   timeout_s: float = 60.0, settle_s: float = 0.0,
                   reader: Callable[[bytes], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Read a public topic from the start with a plain consumer until ``until(records)``.

        After the condition holds, keep reading ``settle_s`` more seconds so
        that unexpected extra records show up too. Values are decoded by
        ``reader``, else as single-object-encoded ``schema_name``.
        """
        read = reader or functools.partial(read_avro, schema_name)
        topic = self.names.public(key)
        consumer = Consumer({"bootstrap.servers": self.settings.broker, "group.id": "test-reader",
                             "enable.auto.commit": False})
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        settled_at: float | None = None
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    records.append(read(message.value()))
                if settled_at is None and until(records):
                    settled_at = time.monotonic()
                if settled_at is not None and time.monotonic() - settled_at >= settle_s:
                    return records
        finally:
            consumer.close()
        return records

    def read_all(self, key: str, schema_name: str, timeout_s: float = 60.0,
                 reader: Callable[[bytes], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Every record a public topic holds now, from the start to its end offsets (decoded as ``read_topic``)."""
        read = reader or functools.partial(read_avro, schema_name)
        topic = self.names.public(key)
        ends = {p: end for (_t, p), end in self.end_offsets([topic]).items()}
        consumer = Consumer({"bootstrap.servers": self.settings.broker, "group.id": "test-reader",
                             "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
            records: list[dict[str, Any]] = []
            reached = {p: end == 0 for p, end in ends.items()}
            deadline = time.monotonic() + timeout_s
            while not all(reached.values()):
                assert time.monotonic() < deadline, f"{topic}: read {len(records)} records, ends {ends}"
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    records.append(read(message.value()))
                    reached[message.partition()] = message.offset() + 1 >= ends[message.partition()]
            return records
        finally:
            consumer.close()

    def close(self) -> None:
        """Stop every worker (all at once), and the publisher's client before the session's broker goes."""
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.stop()
        # confluent-kafka has no close(): a producer's client is destroyed with the object.
        del self.publisher


@pytest.fixture
def deployment(broker_address: str, tmp_path: Path,
               request: pytest.FixtureRequest) -> Iterator[Callable[..., Deployment]]:
    """Factory of isolated deployments; workers are stopped after the test (logs kept on failure)."""
    made: list[Deployment] = []

    def make(**overrides: Any) -> Deployment:
        # Each deployment its own directory: two in one test must not share state or logs.
        home = tmp_path / f"deployment-{len(made)}"
        home.mkdir()
        made.append(Deployment(broker_address, home, **overrides))
        return made[-1]

    yield make
    for deployed in made:
        deployed.close()


def newest_versions(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The highest version of each alert id, as a downstream consumer keeps them."""
    newest = NewestAlerts()
    for alert in alerts:
        newest.offer(alert)
    return newest.alerts
