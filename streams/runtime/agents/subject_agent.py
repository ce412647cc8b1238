"""The Faust side of a subject kind: one agent, one state table, one timer table.

Each message on the kind's internal topic is a routed batch for one
partition. Per message the agent merges the router's progress into stream
time, takes the state of every subject the batch touches or whose timer is
due, calls the kind's pure ``process``, and sends alerts and forwards.

State is staged in memory (``streams.runtime.staged_table``): once per
``checkpoint_interval_s`` for each partition the agent waits until the
alerts it sent are acknowledged, writes the subjects that changed to the
Faust tables in bulk, and only then acknowledges the batches, so a state
that remembers an alert never outlives a lost alert and a crash replays
exactly the batches whose effects were not yet written.

Timers: a subject that waits for stream time (an exit decision, an
unsettled parcel) has its due time in the timer table; the in-memory heap
per partition is rebuilt from it after every rebalance.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

import faust
import orjson
from faust.streams import Stream
from faust.types import TP

from agents.subjects import office
from agents.subjects.common import Context, Outcome, RoutedEvent
from agents.subjects.routes import OFFICES, SCORING, resting_kinds
from streams.errors import ProcessingFailed
from streams.runtime.alert_versions import Takeover, new_versions, to_scoring, withdrawn_unsent
from streams.runtime.context import Runtime, settle
from streams.runtime.retry import ISOLATE_AFTER, CauseLog, cause_of, is_transient, pause
from streams.runtime.routed_batches import Outbox, decode_batch, partition_for
from streams.runtime.staged_table import StagedTable
from streams.runtime.stream_time import ProgressBoard, wall_ms
from streams.runtime.transport import Consumer

log = logging.getLogger(__name__)

# Routed batches already fetched that one step takes at most, all partitions together,
# and their bytes: live batches are small and many, a backlog's up to 512 KiB each,
# and a step holds all of its batches decoded at once.
STEP_MAX_BATCHES = 32
STEP_MAX_BYTES = 1 << 20


class SubjectState(Protocol):
    """What the plumbing needs of a state: a dataclass (orjson writes its fields) with its alert memory."""

    raised: dict[str, list[Any]]


S = TypeVar("S", bound=SubjectState)


# Reads one of a subject's stored segments by id (None when there is none).
SegmentReader = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Segmented(Generic[S]):
    """How a kind whose state is too large to rewrite whole stores it: a head plus segments.

    Each segment is stored under its own key (the subject's key, ``SEGMENT_SEPARATOR``,
    the segment id) and rewritten only when it changed; segments are written before
    their head, so a head is never newer than its segments.
    """

    head: Callable[[S], dict[str, Any]]
    # The segments changed since last asked (None: delete), each readable afterwards through the reader.
    take_dirty: Callable[[S, SegmentReader], dict[str, Any | None]]


@dataclass(frozen=True, slots=True)
class SubjectKind(Generic[S]):
    """A subject kind's pure parts, as the plumbing calls them."""

    name: str
    # Rebuilds a state from its stored document (a segmented kind's head) and its segments.
    load: Callable[[dict[str, Any], SegmentReader], S]
    process: Callable[[S | None, str, Sequence[RoutedEvent], Context], tuple[S, Outcome]]
    is_empty: Callable[[S], bool]
    # Findings of the final kind (scoring) are alerts; every other kind's go to scoring.
    final: bool = False
    # Set for a kind stored in segments.
    segmented: Segmented[S] | None = None


def stored_whole(from_doc: Callable[[dict[str, Any]], S]) -> Callable[[dict[str, Any], SegmentReader], S]:
    """The ``load`` of a kind stored as one document: it reads no segments."""
    def load(doc: dict[str, Any], _read_segment: SegmentReader) -> S:
        return from_doc(doc)
    return load


def encode_state(kind: SubjectKind[S], state: S | None) -> bytes | None:
    """The bytes a state is stored as (a segmented kind: its head); None deletes it."""
    if state is None or kind.is_empty(state):
        return None
    return orjson.dumps(state if kind.segmented is None else kind.segmented.head(state))


def encode_segment(segment: Any) -> bytes | None:
    """The bytes a segment is stored as; None (an emptied segment) deletes it."""
    return None if segment is None else orjson.dumps(segment)


def decode_state(kind: SubjectKind[S], raw: bytes, read_segment: Callable[[str], Any]) -> S:
    """Rebuild a state from its stored bytes and, for a segmented kind, ``read_segment`` (``decode_segment``)."""
    return kind.load(orjson.loads(raw), read_segment)


def decode_segment(stored: bytes | None) -> Any:
    """A stored segment as its state reads it (None: there is none)."""
    return None if stored is None else orjson.loads(stored)


# Between a subject's key and a segment id in a segment's table key; never in a subject key.
SEGMENT_SEPARATOR = b"\x1f"


def segment_key(subject_key: bytes, segment_id: str) -> bytes:
    """The table key a subject's segment is stored under."""
    return subject_key + SEGMENT_SEPARATOR + segment_id.encode()


@dataclass(slots=True)
class PartitionTimers:
    """Due times of one partition's subjects: a heap with lazy deletion."""

    heap: list[tuple[int, str]] = field(default_factory=list)
    due_by_key: dict[str, int] = field(default_factory=dict)

    def set(self, key: str, due: int | None) -> bool:
        """Set or clear a subject's due time; True when it changed."""
        if self.due_by_key.get(key) == due:
            return False
        if due is None:
            self.due_by_key.pop(key, None)
        else:
            self.due_by_key[key] = due
            heapq.heappush(self.heap, (due, key))
        return True

    def pop_due(self, watermark: int | None) -> list[str]:
        """Subjects whose due time stream time has reached."""
        due_keys: list[str] = []
        if watermark is None:
            return due_keys
        while self.heap and self.heap[0][0] <= watermark:
            due, key = heapq.heappop(self.heap)
            if self.due_by_key.get(key) == due:
                due_keys.append(key)
        return due_keys


def partition_record_key(name: str, partition: int, partitions: int) -> str:
    """The timer-table key of one of ``partition``'s own records (``stream-start``, ``resting``).

    Keys place themselves by hash, so this finds the first of a fixed series
    that lands in the partition.
    """
    return next(key for n in itertools.count() if partition_for(key := f"~{name}~{n}", partitions) == partition)


def observation_start(start: int | None, was_resting: bool, resting: bool, watermark: int | None) -> int | None:
    """When a subject partition's observation began, after a batch processed while its kind rests or not.

    It begins at the first stream time known, and again when the kind stops
    resting: the events of its rest never reached it, so a rule that needs
    history (DECLARANT_SURGE's baseline) must not take that hole for quiet days.
    """
    if start is None or (was_resting and not resting):
        return watermark
    return start


@dataclass(frozen=True, slots=True)
class PartitionRecordKeys:
    """The timer-table keys of one partition's own records."""

    stream_start: bytes
    resting: bytes
    progress: bytes

    @classmethod
    def of(cls, partition: int, partitions: int) -> PartitionRecordKeys:
        """The keys of ``partition``'s records."""
        return cls(*(partition_record_key(name, partition, partitions).encode()
                     for name in ("stream-start", "resting", "progress")))


@dataclass(slots=True)
class PartitionStage:
    """What one partition has processed since its last checkpoint."""

    timers: PartitionTimers
    records: PartitionRecordKeys
    # Stream time as this partition's committed input left it; checkpointed with its state.
    board: ProgressBoard
    stream_start: int | None
    # Whether the kind was resting (sent no events, its rules all disabled) at the last batch.
    resting: bool
    events: list[Any] = field(default_factory=list)
    alert_sends: list[Any] = field(default_factory=list)
    last_checkpoint: float = field(default_factory=time.monotonic)
    # Set at this owner's first step of the partition, let go once past the redelivered batches.
    takeover: Takeover | None = None
    stepped: bool = False

    def step_takeover(self, events: list[Any], highwater: Callable[[], int | None]) -> Takeover | None:
        """The takeover in force for a step of ``events`` (consecutive batches of the partition).

        ``highwater``: the partition's high watermark as last fetched, asked only at the first step.
        """
        first = events[0].message.offset
        if not self.stepped:
            self.stepped = True
            self.takeover = Takeover.begin(first, events[-1].message.offset, highwater())
        elif self.takeover is not None and first >= self.takeover.end:
            self.takeover = None
        return self.takeover

    def hold(self, event: Any) -> None:
        """Keep a batch for the next checkpoint to acknowledge, once.

        A batch retried, or taken alone after its step failed, is among the
        last ``STEP_MAX_BATCHES`` held: nothing of its partition came between.
        """
        if all(held is not event for held in self.events[-STEP_MAX_BATCHES:]):
            self.events.append(event)


def _encode_timer_record(value: Any) -> bytes | None:
    # A due time (an integer: the same bytes as before boards were stored here) or a partition record.
    return None if value is None else orjson.dumps(value)


def _decode_timer_record(_partition: int, _key: bytes, raw: bytes) -> Any:
    return orjson.loads(raw)


def _segment_not_read(_partition: int, _key: bytes, _raw: bytes) -> None:
    # Segments are read by their state (``_decode_state``'s reader), which keeps
    # those it wants; the segment table writes them and remembers what it stored.
    return None


class SubjectAgent(Generic[S]):
    """Runs one subject kind on a worker."""

    def __init__(self, app: faust.App, runtime: Runtime, kind: SubjectKind[S]) -> None:
        self.app = app
        self.runtime = runtime
        self.kind = kind
        settings = runtime.settings
        self.partitions = settings.partitions
        self.lateness_ms = int(settings.allowed_lateness_s * 1000)
        self.idle_after_ms = int(settings.idle_partition_after_s * 1000)
        # bytes -> Faust's raw serializer: the state's JSON form is ours to version.
        table = app.Table(f"{kind.name}-state", partitions=settings.partitions, key_type=bytes,
                          value_type=bytes, help=f"State per {kind.name} subject (JSON).")
        timer_table = app.Table(f"{kind.name}-timers", partitions=settings.partitions, key_type=bytes,
                                value_type=bytes, help=f"Stream-time due per waiting {kind.name} subject.")
        self.states = StagedTable(runtime.changelog_writer, table, self._encode_state, self._decode_state,
                                  settings.state_cache_entries)
        self.timer_states = StagedTable(runtime.changelog_writer, timer_table, _encode_timer_record,
                                        _decode_timer_record, settings.state_cache_entries)
        self.segments = StagedTable(runtime.changelog_writer, table, encode_segment, _segment_not_read,
                                    settings.state_cache_entries, keep_written=False)
        self.stages: dict[int, PartitionStage] = {}
        self.generation = 0
        self.stream: faust.StreamT[bytes] | None = None
        # Batches and the checkpoint timer take turns: a checkpoint in the
        # middle of a batch would write half of its effects.
        self.turn = asyncio.Lock()
        self.causes = CauseLog(log)
        app.timer(settings.checkpoint_interval_s, name=f"cargoguard.{kind.name}.checkpoint")(self.checkpoint_quiet)
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]  # mode's handler type rejects coroutine functions it runs fine
        app.agent(runtime.internal_topics[kind.name], name=f"cargoguard.{kind.name}")(self.run)

    def owner_url(self, key: str) -> str | None:
        """The web address of the worker whose partitions hold ``key``'s state, as the group last assigned them."""
        topic = self.states.table.changelog_topic.get_topic_name()
        partition = partition_for(key, self.partitions)
        for url, topics in self.app.assignor.table_metadata(topic).items():
            if partition in topics.get(topic, ()):
                return url
        return None

    def owns(self, key: str) -> bool:
        """Whether this worker holds ``key``'s partition now."""
        tp = TP(self.runtime.internal_topics[self.kind.name].get_topic_name(), partition_for(key, self.partitions))
        return tp in self.app.assignor.assigned_actives()

    def current(self, key: str) -> S | None:
        """``key``'s live state (staged, else stored), or None; only for a key this worker ``owns``."""
        return cast(S | None, self.states.entry(partition_for(key, self.partitions), key.encode()).value)

    def _encode_state(self, state: S | None) -> bytes | None:
        return encode_state(self.kind, state)

    def _decode_state(self, partition: int, key: bytes, raw: bytes) -> S:
        return decode_state(self.kind, raw, self._segment_reader(partition, key))

    def _segment_reader(self, partition: int, key: bytes) -> SegmentReader:
        # Kept by the state: a declarant reads its older segments back long after loading.
        def read_segment(segment_id: str) -> Any:
            stored_as = segment_key(key, segment_id)
            # A segment staged for deletion is never asked for: its id has left the state's list.
            staged = self.segments.staged(partition, stored_as)
            return staged if staged is not None else decode_segment(self.segments.stored(partition, stored_as))

        return read_segment

    async def _on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust seeks every partition back to its committed offset after a
        # rebalance: the unacknowledged batches come again and rebuild what
        # was staged, from the last checkpoint. Stream time too starts again
        # from the checkpointed board: kept, it would be ahead of the events
        # coming again and decide their exits before their declarations.
        self.generation += 1
        metrics = self.runtime.metrics
        for partition in self.stages:
            for gauge in (metrics.stream_time_lag, metrics.stream_time):
                metrics.forget(gauge, self.kind.name, str(partition))
        self.stages.clear()
        self.states.drop()
        self.segments.drop()
        self.timer_states.drop()

    async def run(self, stream: faust.StreamT[bytes]) -> None:
        """The agent: routed batches, those already fetched taken as one step per partition; no error escapes.

        A busy worker falls behind its input, and the batches it has not
        reached wait in the stream's queue. They are taken together, up to
        ``STEP_MAX_BATCHES`` and ``STEP_MAX_BYTES``: a partition's consecutive batches processed as
        one are what the router would have sent had its step been longer,
        and every subject, step and checkpoint cost is paid once for them
        instead of per handful of events.

        A subject whose processing raises is dead-lettered inside the batch
        (``process_message``); what fails beyond that (a send or a checkpoint
        while the broker is away) is retried with back-off until it passes,
        the batch unacknowledged meanwhile. A batch that cannot even be read
        is dead-lettered after a few attempts.
        """
        step = self.runtime.metrics.step_seconds.labels(self.kind.name)
        step_batches = self.runtime.metrics.step_batches.labels(self.kind.name)
        self.stream = cast(Stream, stream).noack()
        queue_empty = cast(faust.ChannelT[bytes], self.stream.channel).queue.empty
        held: dict[int, list[Any]] = {}
        held_count = held_bytes = 0
        held_generation = self.generation
        async for event in self.stream.events():
            if held_generation != self.generation:
                # Rebalanced while held: Faust sends the unacknowledged batches again.
                held.clear()
                held_count = held_bytes = 0
                held_generation = self.generation
            held.setdefault(event.message.partition, []).append(event)
            held_count += 1
            held_bytes += len(event.value)
            if held_count < STEP_MAX_BATCHES and held_bytes < STEP_MAX_BYTES and not queue_empty():
                continue
            started = time.perf_counter()
            # The turn is held through the retries: a checkpoint between two
            # attempts would write the half of the batch the failed one staged
            # and acknowledge the batch, whose rest a rebalance would then lose.
            async with self.turn:
                if held_generation == self.generation:  # else rebalanced while waiting for the turn
                    for partition_events in held.values():
                        await self.process_with_retries(partition_events)
                    step.observe(time.perf_counter() - started)
                    step_batches.observe(held_count)
            held.clear()
            held_count = held_bytes = 0

    async def process_with_retries(self, events: list[Any]) -> None:
        """Process one partition's routed batches, retrying until they pass, the group rebalances, or are isolated.

        Batches that fail together for a reason other than a passing fault
        are taken one by one at once; a batch that fails alone is
        dead-lettered after ``ISOLATE_AFTER`` attempts.
        """
        first = events[0].message
        generation = self.generation
        attempt = 0
        while generation == self.generation:
            try:
                await self.process_message(first.partition, events)
                return
            except Exception as exc:
                attempt += 1
                self.runtime.metrics.processing_errors.labels(self.kind.name).inc()
                self.causes.failed(f"{self.kind.name}: batch {first.topic}[{first.partition}]"
                                   f"@{first.offset}" + (f" and {len(events) - 1} after it" if len(events) > 1 else ""),
                                   exc)
                if not is_transient(exc) and len(events) > 1:
                    for event in events:
                        await self.process_with_retries([event])
                    return
                if not is_transient(exc) and attempt >= ISOLATE_AFTER:
                    error = ProcessingFailed(f"{self.kind.name} batch raised {cause_of(exc)}")
                    await settle([await self.runtime.send_dead_letter(self.kind.name, first, error)])
                    await self.ack_after_staged(first.partition, events[0])
                    return
                await pause(attempt)

    async def ack_after_staged(self, partition: int, event: Any) -> None:
        """Acknowledge a dead-lettered batch, but never ahead of the partition's batches awaiting a checkpoint.

        Faust commits up to the first gap in what was acknowledged; acknowledged
        alone, this batch would commit past the staged ones, lost in a crash.
        """
        stage = self.stages.get(partition)
        if stage is None or not stage.events:
            await cast(Stream, self.stream).ack(event)
        else:
            stage.hold(event)

    def _stage_for(self, partition: int) -> PartitionStage:
        stage = self.stages.get(partition)
        if stage is None:
            timers = PartitionTimers()
            records = PartitionRecordKeys.of(partition, self.partitions)
            own = (records.stream_start, records.resting, records.progress)
            for raw_key, raw_due in self.timer_states.table.items():
                key = raw_key.decode()
                if raw_key not in own and partition_for(key, self.partitions) == partition:
                    timers.set(key, int(raw_due))
            stored = self.timer_states.entry(partition, records.progress).value
            board = (ProgressBoard(self.idle_after_ms) if stored is None
                     else ProgressBoard.from_doc(stored, self.idle_after_ms))
            stage = self.stages[partition] = PartitionStage(
                timers, records, board,
                self.timer_states.entry(partition, records.stream_start).value,
                self.timer_states.entry(partition, records.resting).value is not None)
        return stage

    async def process_message(self, partition: int, events: list[Any]) -> None:
        """Process consecutive routed batches of ``partition`` as one."""
        runtime = self.runtime
        generation = self.generation
        batches = [decode_batch(event.value) for event in events]
        stage = self._stage_for(partition)
        consumer = cast(Consumer, self.app.consumer)
        takeover = stage.step_takeover(events, lambda: consumer.fetched_highwater(events[0].message.tp))
        board = stage.board
        now = wall_ms()
        arrival_watermark = board.watermark(now)
        progressed = False
        for batch in batches:
            if batch.progress:
                board.update(batch.progress)
                progressed = True
        if progressed:
            self.timer_states.put(partition, stage.records.progress, board.to_doc())
        watermark = board.watermark(now)
        if watermark is not None:
            labels = (self.kind.name, str(partition))
            runtime.metrics.stream_time_lag.labels(*labels).set(max(0, now - watermark) / 1000)
            runtime.metrics.stream_time.labels(*labels).set(watermark / 1000)
        rules = runtime.rules.current
        resting = self.kind.name in resting_kinds(rules)
        start = observation_start(stage.stream_start, stage.resting, resting, watermark)
        if start != stage.stream_start:
            stage.stream_start = start
            self.timer_states.put(partition, stage.records.stream_start, start)
        if resting != stage.resting:
            stage.resting = resting
            self.timer_states.put(partition, stage.records.resting, 1 if resting else None)
        context = Context(rules, watermark, self.lateness_ms, stage.stream_start, arrival_watermark,
                          runtime.prices, runtime.lane_policy)

        by_key: dict[str, list[RoutedEvent]] = {}
        routed_count = 0
        for batch in batches:
            routed_count += len(batch.events)
            for key, kind, fields in batch.events:
                by_key.setdefault(key, []).append((kind, fields))
        if routed_count:
            runtime.metrics.subject_events.labels(self.kind.name).inc(routed_count)
        for event in events:
            stage.hold(event)

        forwards: dict[str, Outbox] = {}
        for key in sorted(set(by_key).union(stage.timers.pop_due(watermark))):
            if generation != self.generation:
                # Revoked during a send: the tables were dropped, and the rest of
                # the batch would be staged on states re-read for the next owner's turn.
                return
            raw_key = key.encode()
            entry = self.states.entry(partition, raw_key)
            routed = by_key.get(key, ())
            try:
                state, outcome = self.kind.process(entry.value, key, routed, context)
            except Exception as exc:  # the rules' bug or input they do not expect: this subject only
                await self.dead_letter_subject(events[-1], key, routed, exc)
                continue
            if outcome.late_events:
                runtime.metrics.late_events.labels(self.kind.name).inc(outcome.late_events)
            self.states.changed(partition, raw_key, state)
            if self.kind.segmented is not None:
                for segment_id, segment in self.kind.segmented.take_dirty(
                        state, self._segment_reader(partition, raw_key)).items():
                    stored_as = segment_key(raw_key, segment_id)
                    self.segments.put(partition, stored_as, segment)
            if outcome.lanes:
                # TreeSHAP takes tens of ms a declaration: in a thread, the event loop (heartbeats) free.
                await asyncio.to_thread(office.explain, outcome.lanes, runtime.risk.current)
                stage.alert_sends.extend(await runtime.send_lanes(outcome.lanes))
            onward = outcome.forwards
            if self.kind.final:
                for rule_id, severity in withdrawn_unsent(outcome.withdrawn_unsent):
                    runtime.metrics.alerts.labels(rule_id, severity).inc()
                sends = new_versions(outcome.findings, state.raised, outcome.version_floor, takeover)
                if sends.versions:
                    stage.alert_sends.extend(await runtime.send_alerts(sends))
                    if OFFICES in runtime.active_kinds:  # CRITICAL alerts force lanes RED
                        onward = [*onward, *office.critical_forwards(finding for finding, _ in sends.versions)]
            else:
                for history, kind, fields in to_scoring(outcome.findings, state.raised, takeover):
                    forwards.setdefault(SCORING, Outbox(self.partitions)).add(history, kind, fields)
            for forward in onward:
                forwards.setdefault(forward.subject_kind, Outbox(self.partitions)).add(
                    forward.key, forward.kind, forward.event)
            if stage.timers.set(key, outcome.next_due):
                self.timer_states.put(partition, raw_key, outcome.next_due)
        for subject_kind, outbox in forwards.items():
            if generation != self.generation:
                return
            stage.alert_sends.extend(await runtime.send_batches(subject_kind, outbox.by_partition, None))

        settings = runtime.settings
        if (time.monotonic() - stage.last_checkpoint >= settings.checkpoint_interval_s
                or self.states.dirty_count(partition) >= settings.checkpoint_max_dirty):
            await self.checkpoint(partition, stage)

    async def dead_letter_subject(self, event: Any, key: str, routed: Sequence[RoutedEvent],
                                  exc: Exception) -> None:
        """Dead-letter one subject's events of a step (its state stays as it was); the step goes on.

        ``event`` is the step's last batch, named as the source; the value holds all the subject's events.
        """
        self.runtime.metrics.processing_errors.labels(self.kind.name).inc()
        self.causes.failed(f"{self.kind.name}: subject {key!r}", exc)
        value = orjson.dumps([[kind, fields] for kind, fields in routed]) if routed else b"[] (a timer wake-up)"
        error = ProcessingFailed(f"{self.kind.name} subject {key!r}: processing raised {cause_of(exc)}")
        await settle([await self.runtime.send_dead_letter(self.kind.name, event.message, error,
                                                          (key.encode(), value))])

    async def checkpoint_quiet(self) -> None:
        """Timer: checkpoint the partitions whose batches wait for one but that get no new batch.

        A checkpoint is otherwise made when a batch arrives; without this the
        last batches before a quiet spell (scoring gets no progress reports)
        would stay unacknowledged, their effects staged, until traffic resumes.
        """
        interval = self.runtime.settings.checkpoint_interval_s
        try:
            async with self.turn:
                for partition, stage in list(self.stages.items()):
                    if stage.events and time.monotonic() - stage.last_checkpoint >= interval:
                        await self.checkpoint(partition, stage)
        except Exception:
            self.runtime.metrics.processing_errors.labels(f"{self.kind.name}-checkpoint").inc()
            log.exception("%s: checkpoint of quiet partitions failed", self.kind.name)

    async def checkpoint(self, partition: int, stage: PartitionStage) -> None:
        """Make the partition's staged effects durable, then acknowledge its batches."""
        generation = self.generation
        started = time.perf_counter()
        # Alerts and forwarded findings first: a state that remembers them must never outlive them.
        await settle(stage.alert_sends)
        if generation == self.generation:
            await self.segments.checkpoint(partition)  # before the heads that list them
        if generation == self.generation:
            await self.states.checkpoint(partition)
        if generation == self.generation:
            await self.timer_states.checkpoint(partition)
        if generation != self.generation or self.stream is None:
            return  # rebalanced meanwhile: these batches will come again
        for event in stage.events:
            await self.stream.ack(event)
        stage.events.clear()
        stage.alert_sends.clear()
        stage.last_checkpoint = time.monotonic()
        metrics = self.runtime.metrics
        metrics.step_seconds.labels(f"{self.kind.name}-checkpoint").observe(time.perf_counter() - started)
        metrics.pending_timers.labels(self.kind.name).set(
            sum(len(s.timers.due_by_key) for s in self.stages.values()))
