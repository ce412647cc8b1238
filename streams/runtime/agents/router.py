"""The router: reads the three input feeds, decodes and vets each event once, routes it.

Values arrive as raw bytes and are decoded here, not by Faust, so a poison
event goes to the dead-letter topic with its reason and the worker keeps
going.

The feeds skip Faust's per-message stream path: the consumer hands the
router each fetched batch (up to ``batch_max_events`` events) as one step
(``streams.runtime.transport.subscribe_in_batches``). Per step the router sends
one routed batch per internal partition, carrying the progress of the
input partitions it read, and only then acknowledges the step's events; a
timer reports every assigned input partition's progress, idle ones
included, each ``progress_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from typing import Any, cast

import faust
from faust.types import Message

from agents.risk.features import categories_of
from agents.rules import seal_broken, watchlist_hit
from agents.subjects.routes import OFFICES, SCORING, TIMED_KINDS, LinkMemory, resting_kinds, routes_for
from streams.errors import PoisonEvent, ProcessingFailed, UndecodableEvent
from streams.kafka.topics import INPUT_FEEDS, INTERNAL_TOPICS
from streams.kafka.validation import validate
from streams.runtime.alert_versions import to_scoring
from streams.runtime.context import Runtime, settle
from streams.runtime.retry import ISOLATE_AFTER, CauseLog, cause_of, is_transient, pause
from streams.runtime.routed_batches import Outbox
from streams.runtime.stream_time import SourceTracker, tp_name, wall_ms
from streams.runtime.transport import Consumer, subscribe_in_batches

log = logging.getLogger(__name__)

# Container links remembered to skip repeats (about 100 bytes each).
LINK_MEMORY = 200_000


class Router:
    """The router agent and its progress timer."""

    def __init__(self, app: faust.App, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        settings = runtime.settings
        self.feeds = {runtime.names.public(key): schema for key, schema in INPUT_FEEDS.items()}
        self.tracker = SourceTracker(idle_after_ms=int(settings.idle_partition_after_s * 1000))
        self.max_ahead_ms = int(settings.max_event_time_ahead_s * 1000)
        self.links = LinkMemory(capacity=LINK_MEMORY)
        self.causes = CauseLog(log)
        # A step notes its events' times before it sends them; a progress report
        # made in between would advertise times whose events are not yet on their
        # way, and stream time would run past them (measured: events 24 min
        # behind it, counted late, and split alerts lost). Steps and reports
        # take turns.
        self.turn = asyncio.Lock()
        topic = app.topic(*self.feeds, key_serializer="raw", value_serializer="raw")
        subscribe_in_batches(app, topic, self.step, settings.batch_max_events)
        app.timer(settings.progress_interval_s, name="cargoguard.progress")(self.report_progress)
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]  # mode's handler type rejects coroutine functions it runs fine

    async def _on_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.tracker.forget_start_positions()
        self.runtime.assigned_once = True

    async def step(self, messages: list[Message]) -> None:
        """Route one fetched batch of input events, then acknowledge them; no error ever escapes.

        A failing step is retried (``streams.runtime.retry``): for as long as
        the fault is transient, else a few times and then event by event,
        dead-lettering only the events that still fail. Nothing is acknowledged
        before its events are routed or dead-lettered.
        """
        metrics = self.runtime.metrics
        started = time.perf_counter()
        attempt = 0
        # The turn is held through the retries: a failed attempt has noted its
        # events' times, and a progress report before the retry sends them
        # would vouch for events not yet on their way.
        async with self.turn:
            while True:
                try:
                    await self.route(messages)
                    break
                except Exception as exc:
                    attempt += 1
                    self.failed(messages, exc)
                    if not is_transient(exc) and attempt >= ISOLATE_AFTER:
                        await self.route_one_by_one(messages)
                        break
                    await pause(attempt)
        ack = self.app.consumer.ack
        for message in messages:
            ack(message)
        metrics.routing_batch.observe(len(messages))
        metrics.step_seconds.labels("router").observe(time.perf_counter() - started)

    def failed(self, messages: list[Message], exc: BaseException) -> None:
        """Count and log (once per cause) a failed attempt; forget links it may have noted but not sent."""
        self.runtime.metrics.processing_errors.labels("router").inc()
        first = messages[0]
        self.causes.failed(f"router: step of {len(messages)} events from "
                           f"{first.topic}[{first.partition}]@{first.offset}", exc)
        self.links.clear()

    async def route_one_by_one(self, messages: list[Message]) -> None:
        """Route each event alone (the turn held); dead-letter one that still fails, unless the fault is transient."""
        for message in messages:
            attempt = 0
            while True:
                try:
                    await self.route([message])
                    break
                except Exception as exc:
                    attempt += 1
                    self.failed([message], exc)
                    if is_transient(exc):
                        await pause(attempt)
                        continue
                    error = ProcessingFailed(f"routing raised {cause_of(exc)}")
                    await settle([await self.runtime.send_dead_letter(self.feeds[message.topic], message, error)])
                    break

    async def fetch_writer_schemas(self, messages: list[Message]) -> None:
        """Ask the registry for the writer schemas the step's values need, in a thread, not on the event loop."""
        codec = self.runtime.codec
        for schema_id in codec.uncached_schema_ids(message.value for message in messages):
            assert codec.registry is not None
            # An id the registry does not know is refused when its event is decoded; an outage escapes.
            with contextlib.suppress(UndecodableEvent):
                await asyncio.to_thread(codec.registry.schema, schema_id)

    async def route(self, messages: list[Message]) -> None:
        """Decode, vet and route one step's events."""
        runtime = self.runtime
        partitions = runtime.settings.partitions
        outboxes = {kind: Outbox(partitions) for kind in INTERNAL_TOPICS}
        now = wall_ms()
        latest = now + self.max_ahead_ms
        rules = runtime.rules.current
        resting = resting_kinds(rules)
        seen_tps: set[str] = set()
        counts: Counter[str] = Counter()
        sends: list[Any] = []
        lodged: list[dict[str, Any]] = []
        await self.fetch_writer_schemas(messages)
        for message in messages:
            feed = self.feeds[message.topic]
            try:
                # A TransientError (registry away) escapes: the step is retried, the event held.
                record = runtime.codec.decode(feed, message.value)
                validate(feed, record, latest)
            except PoisonEvent as exc:
                sends.append(await runtime.send_dead_letter(feed, message, exc))
                continue
            tp = tp_name(message.topic, message.partition)
            self.tracker.saw(tp, record["event_time"], message.offset, now)
            seen_tps.add(tp)
            counts[feed] += 1
            routes = routes_for(feed, record, resting)
            if feed == "declaration" and record["action"] == "LODGED":
                lodged.append(record)
            for route in routes:
                if self.links.is_news(route):
                    outboxes[route.subject_kind].add(route.key, route.kind, route.fields)
            findings = watchlist_hit.evaluate(feed, record, runtime.watchlist, rules) if runtime.watchlist else []
            if not routes and feed == "gate_event":
                seal = seal_broken.evaluate(record, rules, "VEHICLE", record["vehicle_plate"])
                if seal is not None:
                    findings.append(seal)
            # The router keeps no state: each finding is its event's own, version 1 however often it comes.
            if findings:
                for history, kind, fields in to_scoring(findings, {}):
                    outboxes[SCORING].add(history, kind, fields)
        self.score_lodged(lodged, outboxes[OFFICES])
        progress = self.tracker.step_report(seen_tps)
        for kind, outbox in outboxes.items():
            sends.extend(await runtime.send_batches(kind, outbox.by_partition,
                                                    progress if kind in TIMED_KINDS else None))
        # Once per step, not per event; the tracker holds each input partition's newest event time
        # under its tp_name, "topic:partition".
        runtime.metrics.feeds_routed(counts, ((self.feeds[tp.rpartition(":")[0]], seen.max_event_time)
                                              for tp, seen in self.tracker.seen.items()), now)
        await settle(sends)

    def score_lodged(self, lodged: list[dict[str, Any]], outbox: Outbox) -> None:
        """Score the step's LODGED declarations in one call and send them to their office for a lane.

        The feature vector goes along (NaN as null): the office explains the
        scores of the declarations it inspects, and only those; so do the
        categories, which it publishes with the lanes it sends for inspection.
        """
        model = self.runtime.risk.current
        if model is None or not lodged:
            return
        categories = [categories_of(record) for record in lodged]
        vectors = model.vectors(lodged, self.runtime.live_outcomes, categories)
        for record, vector, score, own in zip(lodged, vectors.tolist(), model.score_vectors(vectors), categories,
                                              strict=True):
            outbox.add(record["office_code"], "lodged", {
                "declaration_id": record["declaration_id"], "event_id": record["event_id"],
                "event_time": record["event_time"], "score": score, "model_version": model.version,
                "features": [None if math.isnan(x) else x for x in vector],
                "categories": own,
            })

    async def report_progress(self) -> None:
        """Timer: report every assigned input partition's progress to every subject partition."""
        try:
            async with self.turn:
                await self._report_progress()
        except Exception:
            self.runtime.metrics.processing_errors.labels("progress").inc()
            log.exception("router: progress report failed")

    async def _report_progress(self) -> None:
        app = self.app
        # Asked once the turn is ours: a rebalance may have begun while a step ran.
        if app.rebalancing or app.in_recovery or not self.runtime.assigned_once:
            return
        assigned = [tp for tp in app.consumer.assignment() if tp.topic in self.feeds]
        if not assigned:
            return
        counts = {topic: app.consumer.topic_partitions(topic) for topic in self.feeds}
        if any(count is None for count in counts.values()):
            return  # metadata not loaded yet; the next tick will know
        unknown = [tp for tp in assigned
                   if self.tracker.next_offset(tp_name(tp.topic, tp.partition)) is None]
        for tp, start in (await self._start_offsets(unknown)).items():
            self.tracker.note_start_position(tp_name(tp.topic, tp.partition), start)
        consumer = cast(Consumer, app.consumer)
        now = wall_ms()
        backlog: dict[str, int | None] = {}
        for tp in assigned:
            name = tp_name(tp.topic, tp.partition)
            position = self.tracker.next_offset(name)
            # The high watermark of fetch responses: Tansu 0.6 under-reports the
            # ListOffsets one (the last batch's base offset + 1). One no fetch has
            # confirmed lately says nothing: while the broker was paused for 30 s,
            # stale ones made every partition look drained and idle, stream time
            # ran on with the wall clock, and the burst after the outage came in
            # more than the allowed lateness behind it.
            highwater = consumer.highwater(tp)
            polled = consumer.highwater_polled_ms(tp)
            fresh = polled is not None and now - polled <= self.tracker.idle_after_ms
            backlog[name] = (None if highwater is None or position is None or not fresh
                             else max(0, highwater - position))
        report = self.tracker.full_report(backlog, {t: int(c or 0) for t, c in counts.items()}, now)
        everyone: dict[int, list[Any]] = {p: [] for p in range(self.runtime.settings.partitions)}
        for kind in TIMED_KINDS:
            if kind in self.runtime.active_kinds:
                await self.runtime.send_batches(kind, everyone, report)

    async def _start_offsets(self, tps: list[Any]) -> dict[Any, int]:
        """Where reading of each of ``tps`` began: its committed offset, else its first.

        Not the consumer's position: that moves as soon as records are fetched
        into the stream buffer, so a partition fetched to its end but not yet
        routed would look drained, be reported idle, and let stream time run
        past the events still waiting in it.
        """
        # Faust records each partition's committed offset when it is assigned
        # (0 recorded as None); unrouted partitions have committed nothing since.
        committed: dict[Any, int | None] = cast(Any, self.app.consumer)._committed_offset
        starts = {tp: offset for tp in tps if (offset := committed.get(tp)) is not None}
        never_committed = [tp for tp in tps if tp not in starts]
        if never_committed:
            starts.update(await self.app.consumer.earliest_offsets(*never_committed))
        return starts


def register(app: faust.App, runtime: Runtime) -> Router:
    """Add the router agent and its progress timer to ``app``."""
    return Router(app, runtime)
