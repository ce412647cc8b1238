"""What every agent of one worker shares: settings, codec, topics, rules, metrics, sinks.

Built once by ``streams.runtime.app.create_app`` and handed to each agent's
``register``; agents never build their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.tables.manager import TableManager

from agents.risk.lanes import LanePolicy
from agents.risk.live_outcomes import LiveOutcomes
from agents.rules.config import RuleBook
from agents.rules.reference_prices import PriceTable, load_price_table, shipped_price_table
from agents.rules.watchlist_hit import Watchlist
from agents.subjects.office import CATEGORIES_KEY, RESTATED_KEY
from agents.subjects.routes import OFFICES
from streams.access.users import UserDirectory
from streams.errors import PoisonEvent
from streams.kafka.codec import Codec
from streams.kafka.dead_letters import dead_letter_record
from streams.kafka.topics import INTERNAL_TOPICS, TopicNames
from streams.runtime.alert_versions import AlertsToSend, alert_record
from streams.runtime.capacity import EVERY_OFFICE, lane_policy
from streams.runtime.metrics import Metrics
from streams.runtime.once_per_cause import OncePerCause
from streams.runtime.risk import RiskHolder
from streams.runtime.routed_batches import encode_batches
from streams.runtime.staged_table import ChangelogWriter
from streams.runtime.stream_time import wall_ms
from streams.runtime.watchdog import PartitionWatch
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RuleHolder:
    """The rule book in force; replaced whole when a change arrives."""

    current: RuleBook
    defaults: RuleBook


@dataclass(slots=True)
class Runtime:
    """The shared parts of one worker."""

    app: faust.App
    settings: Settings
    names: TopicNames
    codec: Codec
    metrics: Metrics
    rules: RuleHolder
    alerts_topic: faust.types.TopicT
    dead_letter_topic: faust.types.TopicT
    changelog_writer: ChangelogWriter
    watch: PartitionWatch
    selectivity_topic: faust.types.TopicT
    inspected_topic: faust.types.TopicT
    risk: RiskHolder
    live_outcomes: LiveOutcomes
    lane_policy: LanePolicy
    internal_topics: dict[str, faust.types.TopicT] = field(default_factory=dict)
    watchlist: Watchlist = field(default_factory=Watchlist)
    prices: PriceTable = field(default_factory=shipped_price_table)
    dead_letter_log: OncePerCause = field(default_factory=OncePerCause)
    users: UserDirectory = field(default_factory=UserDirectory)
    assigned_once: bool = False

    @classmethod
    def build(cls, app: faust.App, settings: Settings, codec: Codec, rules: RuleHolder) -> Runtime:
        """Declare the shared topics on ``app`` and return the runtime."""
        names = TopicNames(settings)
        metrics = Metrics()
        runtime = cls(
            app=app,
            settings=settings,
            names=names,
            codec=codec,
            metrics=metrics,
            rules=rules,
            alerts_topic=app.topic(names.public("alerts"), key_serializer="raw", value_serializer="raw"),
            dead_letter_topic=app.topic(names.public("dead_letter"), key_serializer="raw",
                                        value_serializer="raw"),
            changelog_writer=ChangelogWriter(app, settings),
            watch=PartitionWatch(settings.stuck_partition_after_s),
            selectivity_topic=app.topic(names.public("selectivity"), key_serializer="raw",
                                        value_serializer="raw"),
            inspected_topic=app.topic(names.public("inspected_declarations"), key_serializer="raw",
                                      value_serializer="raw"),
            risk=RiskHolder(settings.model_file, metrics),
            live_outcomes=LiveOutcomes(join_window_ms=int(settings.outcome_join_days * 86_400_000)),
            lane_policy=lane_policy(settings),
            prices=load_price_table(settings.reference_prices_file),
        )
        for kind in INTERNAL_TOPICS:
            runtime.internal_topics[kind] = app.topic(
                names.internal(kind), partitions=settings.partitions, internal=True,
                replicas=settings.replication_factor, key_serializer="raw", value_serializer="raw",
            )
        return runtime

    def set_lane_policy(self, policy: LanePolicy) -> None:
        """Put capacities in force (from the settings and ``cargo.lane-capacity``) and show them as metrics."""
        self.lane_policy = policy
        gauge = self.metrics.lane_capacity
        gauge.clear()
        for office_code, capacity in [*policy.capacities.items(), (EVERY_OFFICE, policy.default)]:
            gauge.labels(office_code, "RED").set(capacity.red)
            gauge.labels(office_code, "YELLOW").set(capacity.yellow)

    @property
    def active_kinds(self) -> tuple[str, ...]:
        """The subject kinds this worker runs: offices only when a risk model file is configured."""
        return tuple(kind for kind in INTERNAL_TOPICS if kind != OFFICES or self.settings.model_file is not None)

    def is_ready(self) -> bool:
        """True once the worker has its partitions and has restored its tables, and none is stuck."""
        app = self.app
        return (
            self.assigned_once
            and not app.rebalancing
            and not app.in_recovery
            and cast(TableManager, app.tables).recovery.completed.is_set()
            and not self.watch.stuck()
        )

    async def send_alerts(self, sends: AlertsToSend) -> list[Awaitable[Any]]:
        """Encode and send alerts; return their delivery futures.

        Those raised for the first time count as alerts, whatever their version; the others as updates.
        """
        rules = self.rules.current
        topic_name = self.names.public("alerts")
        detected_at = wall_ms()
        futures: list[Awaitable[Any]] = []
        for finding, version in sends.versions:
            record = alert_record(finding, version, rules, detected_at)
            value = self.codec.encode("alert", record, topic=topic_name)
            futures.append(await self.alerts_topic.send(key=finding.alert_id.encode(), value=value))
            if finding.alert_id in sends.first_raised:
                self.metrics.alerts.labels(finding.rule_id, finding.severity).inc()
            else:
                self.metrics.alert_updates.labels(finding.rule_id).inc()
        return futures

    async def send_lanes(self, lanes: Iterable[dict[str, Any]]) -> list[Awaitable[Any]]:
        """Encode and send selectivity records (and the inspected declarations); return their delivery futures."""
        topic_name = self.names.public("selectivity")
        inspected_name = self.names.public("inspected_declarations")
        decided_at = wall_ms()
        futures: list[Awaitable[Any]] = []
        for lane in lanes:
            restated = lane.pop(RESTATED_KEY, False)
            categories = lane.pop(CATEGORIES_KEY, None)
            key = lane["declaration_id"].encode()
            value = self.codec.encode("selectivity", {**lane, "decided_at": decided_at}, topic=topic_name)
            futures.append(await self.selectivity_topic.send(key=key, value=value))
            if categories is not None:
                sent = {"declaration_id": lane["declaration_id"], "office_code": lane["office_code"],
                        "event_time": lane["event_time"], "lane": lane["lane"], "categories": categories,
                        "model_version": lane["model_version"]}
                value = self.codec.encode("inspected_declaration", sent, topic=inspected_name)
                futures.append(await self.inspected_topic.send(key=key, value=value))
            if not restated:
                self.metrics.lanes.labels(lane["office_code"], lane["lane"], str(lane["control_sample"]).lower()).inc()
            if lane["alert_ids"]:
                self.metrics.lanes_forced.labels(lane["office_code"]).inc()
        return futures

    async def send_dead_letter(self, feed: str, message: Any, error: PoisonEvent,
                               original: tuple[bytes | None, bytes | None] | None = None) -> Awaitable[Any]:
        """Send an event that can never be processed to the dead-letter topic, bytes untouched.

        ``original`` (key, value) replaces the message's own bytes when only a part
        of it failed (one subject's events of a routed batch).
        """
        key, value = original if original is not None else (message.key, message.value)
        record = dead_letter_record(message.topic, message.partition, message.offset, key, value, error, wall_ms())
        encoded = self.codec.encode("dead_letter", record, topic=self.names.public("dead_letter"))
        self.metrics.dead_letters.labels(feed, error.kind).inc()
        held_back = self.dead_letter_log.admit((feed, error.kind))
        if held_back is not None:
            log.warning("dead-lettered %s[%d]@%d: %s%s", message.topic, message.partition, message.offset,
                        error.reason, f" ({held_back} more {error.kind} on {feed} since the last line)"
                        if held_back else "")
        return await self.dead_letter_topic.send(key=key, value=encoded)

    def refuse_followed(self, feed: str) -> Callable[[Any, PoisonEvent], Awaitable[None]]:
        """What a follower of ``feed`` (control topics, alerts) does with a record it cannot take: dead-letter it.

        Every worker reads those topics, so each sends its own dead letter;
        ``source_topic`` and ``source_offset`` tell the copies apart.
        """

        async def refuse(record: Any, error: PoisonEvent) -> None:
            try:
                await settle([await self.send_dead_letter(feed, record, error)])
            except Exception:  # the follower must go on even when the dead-letter topic is out of reach
                log.exception("could not dead-letter %s[%d]@%d", record.topic, record.partition, record.offset)

        return refuse

    async def send_batches(self, kind: str, by_partition: dict[int, list[Any]],
                           progress: dict[str, Any] | None) -> list[Awaitable[Any]]:
        """Send the routed batches of each partition of an internal topic; return the delivery futures."""
        topic = self.internal_topics[kind]
        return [await topic.send(value=value, partition=partition)
                for partition, events in by_partition.items() for value in encode_batches(events, progress)]


async def settle(futures: list[Awaitable[Any]]) -> None:
    """Wait until every send has been acknowledged by the broker."""
    if futures:
        await asyncio.gather(*futures)
