"""``cargoguard bench``: the full pipeline on a fresh embedded broker, measured.

1. Throughput: a generated workload (all three feeds, planted patterns) is
   published first; then the workers start (one by default, ``--workers N``
   for N processes in one group) and route and process it. Events/s = events
   / (time of the last state change - time of the first routed event), read
   from the workers' own metrics, summed. CPU time is counted per process:
   the workers' and the broker's, over the same span, so a run shows where
   the machine's cores went.
2. Latency: with the worker caught up, live traffic is published at a
   steady rate (1,000 events/s) with current event times; event-to-alert
   latency is the time from publishing the last event an alert names as
   trigger to reading the alert from the alerts topic. A rule judged once
   stream time has passed its triggers (``STREAM_TIME_RULES``) is timed from
   the moment stream time allowed the decision: when every input partition
   had been sent an event at or after the newest trigger's event time (the
   trigger-to-alert time is reported beside it). Exit decisions wait out the
   feed skew by design, so they are reported apart, less that skew.
3. Memory: each worker process's peak resident set (VmHWM), and the
   largest worker's resident set (VmRSS) each time another 200,000 input
   events have been routed, so a long run shows whether memory stays flat.
4. Recovery: the workers stop; a fresh worker, with an empty state
   directory, joins the group and restores every table from the changelogs.
   Reported: seconds from its start to ``/ready``, and the changelog offsets
   it had to read per second.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from agents.rules import amendment_churn, declarant_surge, split_shipment, undervaluation
from agents.rules.config import load_rule_book
from agents.rules.exit_without_clearance import RULE_ID as EXIT_RULE
from agents.rules.exit_without_clearance import skew_ms
from streams.errors import UserError
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from streams.kafka.publish import Delivered, EventPublisher
from streams.kafka.topics import create_topics
from streams.runtime.control import change_rule, effective_rules
from streams.runtime.metrics import scrape_totals
from streams.runtime.stream_time import wall_ms
from streams.settings import Settings
from streams.tools.alert_clock import AlertClock
from streams.tools.detection_quality import WAITING_RULES, percentile
from streams.tools.simulate import FILE_START_MS
from streams.tools.traffic import SimulationConfig, generate
from streams.tools.up import stop_process, wait_until_ready

# The throughput workload starts at 08:00 so the daily rhythm is near its peak.
WORKLOAD_START_MS = FILE_START_MS + 8 * 3_600_000
WORKLOAD_RATE = 20.0
# Each scrape of /metrics costs the worker ~5 ms of its one core: polled every
# 0.1 s that was 4.5 % of its time (py-spy). Every 0.25 s it is under 2 %, and
# the run's start and end are still known to a quarter second.
METRICS_POLL_S = 0.25
# The pipeline is done when its counters stay still this long beyond the
# wait for stream time: the last decisions (exits, clusters) come only once
# the input partitions count as idle and a progress report has said so, and
# no counter moves meanwhile.
QUIET_S = 2.0
# Issue 18's condition for the latency targets.
LATENCY_RATE = 1000.0
LATENCY_SECONDS = 30.0
# Live stories compressed 3600-fold: an hour of port time per second.
LATENCY_TIME_SCALE = 3600.0
LATENCY_DRAIN_S = 75.0
# Rules judged once stream time has passed their triggers, and no later wait.
STREAM_TIME_RULES = frozenset({split_shipment.RULE_ID, undervaluation.RULE_ID, amendment_churn.RULE_ID,
                               declarant_surge.RULE_ID})
# The resident set is sampled each time this many more input events have been routed.
RSS_SAMPLE_EVENTS = 200_000
# A fresh worker not ready after this long counts as a failed recovery.
RECOVERY_TIMEOUT_S = 900.0
COUNTERS = ("cargoguard_events_total", "cargoguard_subject_events_total", "cargoguard_alerts_total")


def quiet_after_s(settings: Settings) -> float:
    """How long the counters must stay still before the run counts as done."""
    return settings.idle_partition_after_s + 2 * settings.progress_interval_s + QUIET_S


@dataclass
class BenchResult:
    """What one benchmark run measured."""

    events: int
    seconds: float
    events_per_s: float
    alerts: int
    latency_alerts: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    exit_decisions: int
    exit_decision_delay_p50_ms: float | None
    latency_by_rule: dict[str, dict[str, Any]]
    peak_rss_mb: float
    # The workers' CPU time (user + system, all their threads, summed) over the
    # same span as ``seconds``: less at the mercy of the broker and the scheduler
    # than the wall clock when runs are compared on a busy machine.
    worker_cpu_s: float
    worker_cpu_us_per_event: float
    # The embedded broker's CPU time over the same span: it shares the machine's cores.
    broker_cpu_s: float
    workers: int
    # Each worker's peak RSS (``peak_rss_mb`` is the largest).
    worker_peak_rss_mb: list[float]
    partitions: int
    cpus: int
    # The rules enabled for the run.
    rules: list[str]
    # The largest worker's resident set (MiB) when the routed input events first
    # reached each multiple of RSS_SAMPLE_EVENTS, and at the end of the run.
    rss_mb_at_events: dict[int, float]
    # A fresh worker restoring the state the run left: seconds from its start to
    # /ready (start-up and group join included), and the changelog offsets to read.
    recovery_s: float | None
    recovery_records: int
    recovery_records_per_s: float | None


def read_counters(url: str) -> tuple[float, float, float]:
    """(input events routed, subject events applied, alerts raised) from ``/metrics``."""
    totals = scrape_totals(url, COUNTERS)
    return (totals[COUNTERS[0]], totals[COUNTERS[1]], totals[COUNTERS[2]])


def enable_only(settings: Settings, rule_ids: Iterable[str] | None) -> list[str]:
    """Disable, through the rules topic, every rule not in ``rule_ids`` (None: leave them); return the enabled ones."""
    book = effective_rules(settings)
    if rule_ids is None:
        return sorted(rule_id for rule_id in book.rules if book.enabled(rule_id))
    wanted = set(rule_ids)
    unknown = wanted - set(book.rules)
    if unknown:
        raise UserError(f"unknown rules {', '.join(sorted(unknown))}; rules: {', '.join(sorted(book.rules))}")
    for rule_id in sorted(set(book.rules) - wanted):
        if book.enabled(rule_id):
            change_rule(settings, rule_id, enabled=False, updated_by="cargoguard bench")
    return sorted(wanted)


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user plus system, in seconds (Linux)."""
    # /proc/PID/stat: the command may hold spaces, so fields count from its closing ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_mb(pid: int, field: str) -> float:
    """A memory figure of /proc/PID/status (kB there) in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set in MiB (Linux)."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """A process's resident set now, in MiB (Linux)."""
    return _status_mb(pid, "VmRSS")


@dataclass
class PublishedLog:
    """The live events: when each was published, its event time, and the input partition it went to."""

    at: dict[str, float] = field(default_factory=dict)
    event_time: dict[str, int] = field(default_factory=dict)
    partition_of: dict[str, tuple[str, int]] = field(default_factory=dict)

    def note(self, event_id: str, event_time: int, published_at: float) -> Delivered:
        """Record a publication; the returned callback records where it was delivered."""
        self.at[event_id] = published_at
        self.event_time[event_id] = event_time

        def delivered(topic: str, partition: int) -> None:
            self.partition_of[event_id] = (topic, partition)
        return delivered

    def stream_time_passes(self) -> Callable[[int], float | None]:
        """When every input partition had been sent an event at or after a moment (None: not within the run)."""
        by_partition: dict[tuple[str, int], list[tuple[int, float]]] = {}
        for event_id, where in self.partition_of.items():
            by_partition.setdefault(where, []).append((self.event_time[event_id], self.at[event_id]))
        # Per partition: for each event time, the earliest publication of an event at or after it.
        suffixes: list[tuple[list[int], list[float]]] = []
        for entries in by_partition.values():
            entries.sort()
            times = [t for t, _at in entries]
            earliest = [at for _t, at in entries]
            for i in range(len(earliest) - 2, -1, -1):
                earliest[i] = min(earliest[i], earliest[i + 1])
            suffixes.append((times, earliest))

        def passes(moment_ms: int) -> float | None:
            latest = None
            for times, earliest in suffixes:
                i = bisect.bisect_left(times, moment_ms)
                if i == len(times):
                    return None
                latest = earliest[i] if latest is None else max(latest, earliest[i])
            return latest
        return passes


def measure_latency(settings: Settings, console: Console, seed: int) -> dict[str, Any]:
    """Publish live traffic at a steady rate and time each new alert."""
    log = PublishedLog()
    config = SimulationConfig(seed=seed + 1, start_ms=wall_ms(), duration_s=LATENCY_SECONDS,
                              rate=LATENCY_RATE, time_scale=LATENCY_TIME_SCALE)
    with AlertClock(settings, group_id="bench") as clock:
        with EventPublisher(settings) as publisher:
            for event in generate(config):
                delay = (event.record["event_time"] - wall_ms()) / 1000
                if delay > 0:
                    publisher.producer.poll(0)
                    time.sleep(delay)
                record = event.record
                noted = log.note(record["event_id"], record["event_time"], time.monotonic())
                publisher.publish(event.kind, record, then=noted)
        console.print(f"latency phase: {len(log.at)} live events published; waiting for alerts")
        time.sleep(LATENCY_DRAIN_S)
    skew_s = skew_ms(load_rule_book(settings.rules_file)) / 1000
    return summarise_latency(clock.seen.values(), log, skew_s)


def summarise_latency(seen: Iterable[tuple[float, dict[str, Any]]], log: PublishedLog,
                      skew_s: float) -> dict[str, Any]:
    """Event-to-alert latency of alerts seen at a time, from their latest trigger's publication.

    A rule judged on stream time is timed from the moment stream time
    allowed its decision instead (an alert whose moment the run never
    reached is not timed); its trigger-to-alert time is given beside.
    Exit decisions wait out the feed skew by design: their delay beyond it
    is reported apart. Transit deadlines, hours of story time later, are
    left out. Each rule's count, p50 and p99 are given too, so a tail can be
    traced to its rule.
    """
    passes = log.stream_time_passes()
    latencies: list[float] = []
    by_rule: dict[str, list[float]] = {}
    from_trigger: dict[str, list[float]] = {}
    exit_delays: list[float] = []
    for seen_at, alert in seen:
        live = [e for e in alert["trigger_event_ids"] if e in log.at]
        if not live:
            continue
        last_published = max(log.at[e] for e in live)
        rule_id = alert["rule_id"]
        if rule_id == EXIT_RULE:
            exit_delays.append((seen_at - last_published - skew_s) * 1000)
            continue
        if rule_id in WAITING_RULES:
            continue
        start: float | None = last_published
        if rule_id in STREAM_TIME_RULES:
            from_trigger.setdefault(rule_id, []).append((seen_at - last_published) * 1000)
            start = passes(max(log.event_time[e] for e in live))
        if start is None:
            continue
        latency = (seen_at - start) * 1000
        latencies.append(latency)
        by_rule.setdefault(rule_id, []).append(latency)
    rules: dict[str, dict[str, Any]] = {}
    for rule_id in sorted(by_rule.keys() | from_trigger.keys()):
        values = by_rule.get(rule_id, [])
        rules[rule_id] = {"alerts": len(values), "p50_ms": percentile(values, 0.5),
                          "p99_ms": percentile(values, 0.99)}
        if rule_id in from_trigger:
            rules[rule_id].update(from_trigger_p50_ms=percentile(from_trigger[rule_id], 0.5),
                                  from_trigger_p99_ms=percentile(from_trigger[rule_id], 0.99))
    return {"latency_alerts": len(latencies), "latency_p50_ms": percentile(latencies, 0.5),
            "latency_p99_ms": percentile(latencies, 0.99), "exit_decisions": len(exit_delays),
            "exit_decision_delay_p50_ms": percentile(exit_delays, 0.5), "latency_by_rule": rules}


def start_workers(settings: Settings, count: int, workdir: Path) -> list[tuple[subprocess.Popen[bytes], str]]:
    """Start ``count`` worker processes in one group, each with its own web port and state directory."""
    started = []
    for index in range(count):
        own = settings.model_copy(update={"web_port": settings.web_port if index == 0 else free_port(),
                                          "data_dir": workdir / f"data-{index}"})
        env = {**os.environ, **own.as_env()}
        worker = subprocess.Popen([sys.executable, "-m", "streams", "worker"], env=env,
                                  stdout=(workdir / f"worker-{index}.log").open("wb"), stderr=subprocess.STDOUT)
        started.append((worker, f"http://{own.web_host}:{own.web_port}/metrics"))
    return started


def run_throughput(settings: Settings, events: int, seed: int, workdir: Path, console: Console, workers: int = 1,
                   broker_pid: int | None = None) -> tuple[list[subprocess.Popen[bytes]], dict[str, Any]]:
    """Publish the workload, start the workers, time them through; return the running workers."""
    config = SimulationConfig(seed=seed, start_ms=WORKLOAD_START_MS,
                              duration_s=events / WORKLOAD_RATE * 2, rate=WORKLOAD_RATE)
    workload = list(itertools.islice(generate(config), events))
    if len(workload) < events:
        raise UserError(f"the generator made only {len(workload)} events")
    started = time.monotonic()
    with EventPublisher(settings) as publisher:
        for event in workload:
            publisher.publish(event.kind, event.record)
    console.print(f"published {events:,} events in {time.monotonic() - started:.1f} s; "
                  f"starting {workers} worker{'s' if workers > 1 else ''}")

    running = start_workers(settings, workers, workdir)
    processes = [worker for worker, _url in running]

    def cpu_now() -> tuple[float, float]:
        return (sum(cpu_seconds(worker.pid) for worker in processes),
                cpu_seconds(broker_pid) if broker_pid is not None else 0.0)

    first_routed: float | None = None
    last_change = time.monotonic()
    last: tuple[float, float, float] | None = None
    cpu_at_first = cpu_at_last_change = (0.0, 0.0)
    rss_at_events: dict[int, float] = {}
    quiet_s = quiet_after_s(settings)
    while True:
        for index, worker in enumerate(processes):
            if worker.poll() is not None:
                raise UserError(f"worker {index} exited with {worker.returncode}; "
                                f"see {workdir / f'worker-{index}.log'}")
        try:
            each = [read_counters(url) for _worker, url in running]
        except OSError:
            time.sleep(METRICS_POLL_S)
            continue
        counters = (sum(c[0] for c in each), sum(c[1] for c in each), sum(c[2] for c in each))
        now = time.monotonic()
        cpu = cpu_now()
        if counters[0] > 0 and first_routed is None:
            first_routed, cpu_at_first = now, cpu
        if counters != last:
            last, last_change, cpu_at_last_change = counters, now, cpu
        sample = int(counters[0]) // RSS_SAMPLE_EVENTS * RSS_SAMPLE_EVENTS
        if sample and sample not in rss_at_events:
            rss_at_events[sample] = round(max(rss_mb(worker.pid) for worker in processes), 1)
        if first_routed is not None and counters[0] >= events and now - last_change >= quiet_s:
            break
        time.sleep(METRICS_POLL_S)
    assert first_routed is not None and last is not None
    seconds = max(last_change - first_routed, METRICS_POLL_S)
    cpu_s = cpu_at_last_change[0] - cpu_at_first[0]
    rss_at_events[int(last[0])] = round(max(rss_mb(worker.pid) for worker in processes), 1)
    return processes, {"events": events, "seconds": seconds, "events_per_s": events / seconds,
                       "rss_mb_at_events": rss_at_events,
                       "alerts": int(last[2]), "worker_cpu_s": round(cpu_s, 2),
                       "worker_cpu_us_per_event": round(cpu_s / events * 1e6, 1),
                       "broker_cpu_s": round(cpu_at_last_change[1] - cpu_at_first[1], 2)}


def changelog_records(settings: Settings) -> int:
    """Offsets the app's table changelogs span: every record written.

    A worker with no state reads them all back from a broker that does not
    compact them; a compacted changelog leaves about one record per key.
    """
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    try:
        records = 0
        for name, topic in consumer.list_topics(timeout=10).topics.items():
            if name.startswith(f"{settings.app_id}-") and name.endswith("-changelog"):
                for partition in topic.partitions:
                    low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
                    records += high - low
        return records
    finally:
        consumer.close()


def measure_recovery(settings: Settings, workdir: Path, console: Console) -> dict[str, Any]:
    """Start a worker with an empty state directory and time it to ``/ready``."""
    records = changelog_records(settings)
    (workdir / "recovery").mkdir()
    console.print(f"recovery: a fresh worker restores {records:,} changelog records")
    started = time.monotonic()
    [(worker, metrics_url)] = start_workers(settings, 1, workdir / "recovery")
    try:
        wait_until_ready(metrics_url.removesuffix("/metrics") + "/ready", worker, RECOVERY_TIMEOUT_S)
        seconds = time.monotonic() - started  # before the worker is stopped: its shutdown is no part of it
    except UserError as exc:
        if worker.poll() is not None:
            raise UserError(f"the recovering worker exited with {worker.returncode}; "
                            f"see {workdir / 'recovery' / 'worker-0.log'}") from exc
        console.print(f"recovery: not ready after {RECOVERY_TIMEOUT_S:.0f} s")
        return {"recovery_s": None, "recovery_records": records, "recovery_records_per_s": None}
    finally:
        stop_process(worker)
    return {"recovery_s": round(seconds, 2), "recovery_records": records,
            "recovery_records_per_s": round(records / seconds, 1)}


def run_bench(settings: Settings, events: int, seed: int, as_json: bool,
              only_rules: Iterable[str] | None = None, workers: int = 1) -> BenchResult:
    """Run the benchmark on a fresh embedded broker and print the result.

    ``only_rules``: run with just these rules enabled (the others disabled
    through the rules topic before the workers start). ``workers``: how many
    worker processes share the work, in one group.
    """
    if workers < 1:
        raise UserError("--workers must be at least 1")
    console = Console(stderr=True)
    workdir = Path(tempfile.mkdtemp(prefix="cargoguard-bench-"))
    address = f"127.0.0.1:{free_port()}"
    bench_settings = settings.model_copy(update={
        "broker": address, "app_id": f"bench-{uuid.uuid4().hex[:8]}", "data_dir": workdir / "data",
        "web_host": "127.0.0.1", "web_port": free_port(), "log_level": "warn",
        "schema_registry_url": None,
    })
    try:
        with (workdir / "broker.log").open("wb") as log, \
                EmbeddedBroker(address, settings.tansu_bin, log=log) as broker:
            create_topics(bench_settings)
            rules = enable_only(bench_settings, only_rules)
            broker_pid = broker.process.pid if broker.process is not None else None
            running, throughput = run_throughput(bench_settings, events, seed, workdir, console, workers,
                                                 broker_pid)
            try:
                console.print(f"throughput: {throughput['events_per_s']:,.0f} events/s; measuring latency")
                latency = measure_latency(bench_settings, console, seed)
                rss = [round(peak_rss_mb(worker.pid), 1) for worker in running]
            finally:
                for worker in running:
                    worker.terminate()
                for worker in running:
                    worker.wait(timeout=30)
            recovery = measure_recovery(bench_settings, workdir, console)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = BenchResult(**throughput, **latency, **recovery, peak_rss_mb=max(rss), workers=workers,
                         worker_peak_rss_mb=rss, partitions=settings.partitions, cpus=os.cpu_count() or 0, rules=rules)
    if as_json:
        print(json.dumps(asdict(result)))
    else:
        print_result(result)
    return result


def print_result(result: BenchResult) -> None:
    """The result as a table on stdout."""
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} ms"

    workers = "one worker" if result.workers == 1 else f"{result.workers} workers in one group"
    table = Table(title=f"cargoguard bench ({workers}, embedded broker)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("events", f"{result.events:,}")
    table.add_row("throughput", f"{result.events_per_s:,.0f} events/s ({result.seconds:.1f} s)")
    table.add_row("worker CPU", f"{result.worker_cpu_s:,.1f} s ({result.worker_cpu_us_per_event:,.0f} µs per event)")
    table.add_row("broker CPU", f"{result.broker_cpu_s:,.1f} s")
    table.add_row("alerts raised", f"{result.alerts:,}")
    table.add_row("event-to-alert p50", ms(result.latency_p50_ms))
    table.add_row("event-to-alert p99", ms(result.latency_p99_ms))
    table.add_row("alerts timed", f"{result.latency_alerts:,}")
    for rule, figures in result.latency_by_rule.items():
        since = " from stream time" if "from_trigger_p50_ms" in figures else ""
        table.add_row(f"  {rule} ({figures['alerts']}){since} p50 / p99",
                      f"{ms(figures['p50_ms'])} / {ms(figures['p99_ms'])}")
        if since:
            table.add_row(f"  {rule} from its trigger p50 / p99",
                          f"{ms(figures['from_trigger_p50_ms'])} / {ms(figures['from_trigger_p99_ms'])}")
    table.add_row("exit decision after skew, p50", ms(result.exit_decision_delay_p50_ms))
    table.add_row("peak RSS (per worker)", ", ".join(f"{mib:,.0f} MiB" for mib in result.worker_peak_rss_mb))
    table.add_row("RSS by events routed", ", ".join(f"{events:,}: {mib:,.0f} MiB"
                                                    for events, mib in sorted(result.rss_mb_at_events.items())))
    recovery = ("not ready" if result.recovery_s is None else
                f"{result.recovery_s:,.1f} s ({result.recovery_records_per_s:,.0f} records/s)")
    table.add_row(f"recovery of {result.recovery_records:,} changelog records", recovery)
    table.add_row("partitions / CPUs", f"{result.partitions} / {result.cpus}")
    table.add_row("rules enabled", f"{len(result.rules)}: {', '.join(result.rules)}")
    Console().print(table)
