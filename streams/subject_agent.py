"""The Faust side of a subject kind: one agent, one state table, one timer table.

Each message on the kind's internal topic is a routed batch for one
partition. Per message the agent merges the router's progress into stream
time, loads the state of every subject the batch touches or whose timer is
due, calls the kind's pure ``process``, sends alerts and forwards, waits
until the alerts are acknowledged, and only then stores the new states, so
that state which remembers an alert never outlives a lost alert.

Timers: a subject that waits for stream time (an exit decision, an
unsettled parcel) stores its due time in the timer table; the in-memory
heap per partition is rebuilt from it after every rebalance.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import faust

from agents.subjects.common import Context, Outcome, RoutedEvent
from streams.alerts import new_versions
from streams.routing import Outbox, decode_batch, partition_for
from streams.runtime import Runtime, settle
from streams.stream_time import ProgressBoard, wall_ms

log = logging.getLogger(__name__)


class SubjectState(Protocol):
    """What the plumbing needs of a state: its alert memory and its serialized form."""

    raised: dict[str, list[Any]]

    def to_doc(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=SubjectState)


@dataclass(frozen=True, slots=True)
class SubjectKind(Generic[S]):
    """A subject kind's pure parts, as the plumbing calls them."""

    name: str
    load: Callable[[Mapping[str, Any]], S]
    process: Callable[[S | None, str, Sequence[RoutedEvent], Context], tuple[S, Outcome]]
    is_empty: Callable[[S], bool]


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


class SubjectAgent(Generic[S]):
    """Runs one subject kind on a worker."""

    def __init__(self, app: faust.App, runtime: Runtime, kind: SubjectKind[S]) -> None:
        self.runtime = runtime
        self.kind = kind
        settings = runtime.settings
        self.partitions = settings.partitions
        # bytes -> Faust's raw serializer: the state's JSON form is ours to version.
        self.table = app.Table(f"{kind.name}-state", partitions=settings.partitions, key_type=bytes,
                               value_type=bytes, help=f"State per {kind.name} subject (JSON).")
        self.timer_table = app.Table(f"{kind.name}-timers", partitions=settings.partitions,
                                     key_type=bytes, value_type=bytes,
                                     help=f"Stream-time due per waiting {kind.name} subject.")
        self.boards: dict[int, ProgressBoard] = {}
        self.timers: dict[int, PartitionTimers] = {}
        app.on_partitions_revoked.connect(self._on_revoked)
        app.agent(runtime.internal_topics[kind.name], name=f"cargoguard.{kind.name}")(self.run)

    async def _on_revoked(self, app: faust.App, revoked: Any, **_: Any) -> None:
        # Another worker may own these partitions next and move their timers.
        self.timers.clear()

    async def run(self, stream: faust.StreamT[bytes]) -> None:
        """The agent: one routed batch per message; no error ever escapes."""
        step = self.runtime.metrics.step_seconds.labels(self.kind.name)
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            try:
                await self.process_message(message.partition, event.value)
            except Exception:
                # A bug, not bad input (the router vetted it): keep going, loudly.
                self.runtime.metrics.processing_errors.labels(self.kind.name).inc()
                log.exception("%s: batch %s[%d]@%d failed", self.kind.name,
                              message.topic, message.partition, message.offset)
            step.observe(time.perf_counter() - started)

    def _timers_for(self, partition: int) -> PartitionTimers:
        timers = self.timers.get(partition)
        if timers is None:
            timers = self.timers[partition] = PartitionTimers()
            for raw_key, raw_due in self.timer_table.items():
                key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
                if partition_for(key, self.partitions) == partition:
                    timers.set(key, int(raw_due))
        return timers

    async def process_message(self, partition: int, value: bytes) -> None:
        """Process one routed batch of ``partition``."""
        runtime = self.runtime
        batch = decode_batch(value)
        board = self.boards.setdefault(partition, ProgressBoard())
        board.update(batch.progress)
        now = wall_ms()
        watermark = board.watermark(now)
        if watermark is not None:
            runtime.metrics.stream_time_lag.labels(self.kind.name).set(max(0, now - watermark) / 1000)
        context = Context(runtime.rules.current, watermark)

        by_key: dict[str, list[RoutedEvent]] = {}
        for key, kind, fields in batch.events:
            by_key.setdefault(key, []).append((kind, fields))
        timers = self._timers_for(partition)
        keys = set(by_key).union(timers.pop_due(watermark))
        if not keys:
            return

        results: list[tuple[str, S, Outcome]] = []
        sends: list[Any] = []
        forwards: dict[str, Outbox] = {}
        for key in sorted(keys):
            raw_state = self.table.get(key.encode())
            state = self.kind.load(json.loads(raw_state)) if raw_state else None
            state, outcome = self.kind.process(state, key, by_key.get(key, ()), context)
            to_send = new_versions(outcome.findings, state.raised)
            if to_send:
                sends.extend(await runtime.send_alerts(to_send))
            for forward in outcome.forwards:
                forwards.setdefault(forward.subject_kind, Outbox(self.partitions)).add(
                    forward.key, forward.kind, forward.event)
            results.append((key, state, outcome))
        for subject_kind, outbox in forwards.items():
            await runtime.send_batches(subject_kind, outbox.by_partition, None)
        # Alerts first: a state that remembers an alert must never outlive it.
        await settle(sends)

        for key, state, outcome in results:
            raw_key = key.encode()
            if self.kind.is_empty(state):
                if raw_key in self.table:
                    del self.table[raw_key]
            else:
                self.table[raw_key] = json.dumps(state.to_doc(), separators=(",", ":")).encode()
            if timers.set(key, outcome.next_due):
                if outcome.next_due is None:
                    self.timer_table.pop(raw_key, None)
                else:
                    self.timer_table[raw_key] = str(outcome.next_due).encode()
        runtime.metrics.pending_timers.labels(self.kind.name).set(
            sum(len(t.due_by_key) for t in self.timers.values()))
