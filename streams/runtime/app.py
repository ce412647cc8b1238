"""The Faust app factory: the one place that wires settings, topics and agents."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import faust
from faust.sensors import Monitor
from faust.types import TP, EventT, Message, StreamT
from faust.types.auth import SASLMechanism

from agents.rules.config import load_rule_book
from agents.rules.watchlist_hit import WatchEntry
from agents.subjects.routes import SHIPMENTS
from streams import web
from streams.kafka.codec import Codec
from streams.outcomes.record_feed import RecordFeed
from streams.runtime import stores
from streams.runtime.agents import router, subjects
from streams.runtime.capacity import lane_policy
from streams.runtime.context import RuleHolder, Runtime
from streams.runtime.control import ControlFollower, read_compacted, rule_book_from
from streams.runtime.recovery import TableManager
from streams.runtime.risk import follow_live_outcomes, follow_model_file
from streams.runtime.topic_follower import follower_credentials
from streams.runtime.transport import BatchSubscriber, Transport
from streams.runtime.watchdog import Watchdog
from streams.settings import Settings

log = logging.getLogger(__name__)

# Faust pauses every stream while more than 100 table changelog messages
# wait to be sent; one routed batch updates hundreds of keys at once.
PRODUCER_BUFFER_MAX_MESSAGES = 20_000


class QuietMonitor(Monitor):
    """Faust's monitor without its per-message bookkeeping.

    It feeds Faust's own statistics pages, which cargoguard turns off
    (Prometheus has cargoguard's metrics), yet cost several microseconds on
    every input message.
    """

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        """Not tracked."""

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> dict[str, Any] | None:
        """Not tracked."""
        return None

    def on_stream_event_out(self, tp: TP, offset: int, stream: StreamT, event: EventT,
                            state: dict[str, Any] | None = None) -> None:
        """Not tracked."""

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        """Not tracked."""

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        """Not tracked."""


class CargoguardApp(faust.App):
    """A Faust app whose consumer uses cargoguard's flow-control fixes."""

    #: Read by ``streams.runtime.transport.ConsumerThread`` (Faust's own is fixed at 1500).
    fetch_max_wait_ms: int
    #: Read by ``streams.runtime.recovery.TableManager``.
    changelog_buffer_maxsize: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Topics delivered in lists (``streams.runtime.transport.subscribe_in_batches``).
        self.batch_subscribers: dict[str, BatchSubscriber] = {}

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def _new_producer(self) -> Any:
        producer = super()._new_producer()
        producer.buffer.max_messages = PRODUCER_BUFFER_MAX_MESSAGES
        return producer


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust credentials for the configured Kafka security protocol."""
    protocol = settings.security_protocol
    context: ssl.SSLContext | None = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
        if settings.ssl_certfile:
            context.load_cert_chain(str(settings.ssl_certfile),
                                    str(settings.ssl_keyfile) if settings.ssl_keyfile else None)
    if protocol.startswith("SASL"):
        mechanism = SASLMechanism(settings.sasl_mechanism or "PLAIN")
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        return faust.SASLCredentials(username=settings.sasl_username or "", password=password,
                                     mechanism=mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings) -> tuple[CargoguardApp, Runtime]:
    """Build the Faust app of a cargoguard worker, with every agent registered."""
    stores.bound_rocksdb_memory(settings.rocksdb_memory_mb)
    app = CargoguardApp(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        broker_credentials=broker_credentials(settings),
        store=f"{stores.ROCKSDB_SCHEME if settings.store == 'rocksdb' else stores.MEMORY_SCHEME}://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_commit_interval=settings.commit_interval_s,
        broker_max_poll_records=settings.max_poll_records,
        consumer_max_fetch_size=settings.consumer_max_fetch_bytes,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        TableManager=TableManager,
        # Faust's Cython fast paths run only when asked for.
        cython_optimizations=True,
        # Exactly-once needs Kafka transactions, which the embedded broker lacks;
        # cargoguard is at-least-once with idempotent effects instead.
        processing_guarantee="at_least_once",
        # Subject agents acknowledge batches at their checkpoint; a rebalance
        # must not wait for that, it re-delivers the unacknowledged batches.
        stream_wait_empty=False,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.web_url or f"http://{settings.web_host}:{settings.web_port}",
        # These serve table contents and cluster topology to anyone: off.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        autodiscover=False,
        # The leader topic only elects a leader for on_leader timers, which
        # cargoguard has none of; consuming it cost a fifth of the throughput.
        topic_disable_leader=True,
        Monitor=QuietMonitor,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    app.changelog_buffer_maxsize = settings.changelog_buffer_maxsize
    codec = Codec.for_settings(settings)
    defaults = load_rule_book(settings.rules_file)
    runtime = Runtime.build(app, settings, codec, RuleHolder(current=defaults, defaults=defaults))
    follow_control_topics(app, runtime)
    follow_model_file(app, runtime.risk, settings)
    results = follow_inspection_results(app, runtime)
    follow_live_outcomes(app, runtime, results)
    router.register(app, runtime)
    subject_agents = subjects.register(app, runtime)
    web.register(app, runtime, subject_agents[SHIPMENTS], results)
    Watchdog(app, runtime)
    return app, runtime


def follow_inspection_results(app: CargoguardApp, runtime: Runtime) -> RecordFeed:
    """Follow ``cargo.inspection-results`` once for the worker; its listeners are added before it starts."""
    feed = RecordFeed(runtime.settings, runtime.codec, follower_credentials(app.conf), "inspection_results",
                      runtime.refuse_followed("inspection_results"))

    @app.task
    async def follow_results() -> None:
        await feed.run()

    return feed


def follow_control_topics(app: CargoguardApp, runtime: Runtime) -> None:
    """Read the rules, the watchlist, the users and the capacities whole now, and follow them while the worker runs."""
    settings = runtime.settings
    holder = runtime.rules
    rules = read_compacted(settings, "rules", runtime.codec)
    watch = read_compacted(settings, "watchlist", runtime.codec)
    users = read_compacted(settings, "users", runtime.codec)
    capacity = read_compacted(settings, "lane_capacity", runtime.codec)
    for username, record in users.records.items():
        runtime.users.apply(username, record)
    rule_records = dict(rules.records)

    def show_rules() -> None:
        for rule_id, config in holder.current.rules.items():
            runtime.metrics.rule_version.labels(rule_id).set(config.version)

    def apply_rule(rule_id: str, record: dict[str, Any] | None) -> None:
        rule_records[rule_id] = record
        holder.current = rule_book_from(holder.defaults, rule_records)
        show_rules()
        config = holder.current.rules.get(rule_id)
        log.info("rule %s now at version %s", rule_id, config.version if config else "?")

    def apply_watch(entry_id: str, record: dict[str, Any] | None) -> None:
        if record is None:
            runtime.watchlist.remove(entry_id)
        else:
            runtime.watchlist.put(WatchEntry.from_record(record))
        runtime.metrics.watchlist_entries.set(len(runtime.watchlist.entries))

    capacity_records = dict(capacity.records)

    def apply_capacity(office_code: str, record: dict[str, Any] | None) -> None:
        capacity_records[office_code] = record
        runtime.set_lane_policy(lane_policy(settings, capacity_records))
        log.info("office %s capacity now %s", office_code, runtime.lane_policy.capacity_of(office_code))

    holder.current = rule_book_from(holder.defaults, rule_records)
    show_rules()
    runtime.set_lane_policy(lane_policy(settings, capacity_records))
    for entry_id, record in watch.records.items():
        apply_watch(entry_id, record)
    credentials = follower_credentials(app.conf)
    followers = [
        ControlFollower(settings, "rules", rules.next_offsets, runtime.codec, credentials, apply_rule,
                        runtime.refuse_followed("rules")),
        ControlFollower(settings, "watchlist", watch.next_offsets, runtime.codec, credentials, apply_watch,
                        runtime.refuse_followed("watchlist")),
        ControlFollower(settings, "users", users.next_offsets, runtime.codec, credentials, runtime.users.apply,
                        runtime.refuse_followed("users")),
        ControlFollower(settings, "lane_capacity", capacity.next_offsets, runtime.codec, credentials,
                        apply_capacity, runtime.refuse_followed("lane_capacity")),
    ]

    @app.task
    async def follow_control() -> None:
        """Dead-letter what the start-up read skipped; apply rule, watchlist, user and capacity changes as they come."""
        for feed, refused in (("rules", rules.refused), ("watchlist", watch.refused), ("users", users.refused),
                              ("lane_capacity", capacity.refused)):
            for record in refused:
                await runtime.refuse_followed(feed)(record, record.error)
        await asyncio.gather(*(follower.run() for follower in followers))
