"""The partition watchdog: notices an assigned partition that has work but makes no progress.

Every ``watchdog_interval_s`` the worker looks at each input and routed-batch
partition it owns: its consumer lag (the fetched high watermark less the
committed offset) goes to ``cargoguard_consumer_lag``, and a partition that
has events waiting while its committed offset has not moved for
``stuck_partition_after_s`` is stuck: ``cargoguard_partition_stuck`` is 1,
the log says so once (and again when it moves), and ``/ready`` answers 503
until it moves. A rebalance starts every partition's clock again.

Faust's own check of this kind is off (``streams.runtime.transport``): it relies on
per-message bookkeeping that cargoguard's monitor does not keep, so it
reported every partition with a momentary backlog as never processed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import faust

from streams.kafka.topics import INPUT_FEEDS

if TYPE_CHECKING:
    from streams.runtime.context import Runtime

log = logging.getLogger(__name__)

Change = Literal["stuck", "moving"]


@dataclass(slots=True)
class _Progress:
    committed: int | None
    since: float
    stuck: bool = False


@dataclass(slots=True)
class PartitionWatch:
    """What the watchdog remembers of each partition: its committed offset and since when."""

    stuck_after_s: float
    progress: dict[str, _Progress] = field(default_factory=dict)

    def observe(self, tp: str, committed: int | None, highwater: int | None, now: float) -> Change | None:
        """Take a partition's offsets at ``now``; return how its state changed, if it did."""
        known = self.progress.get(tp)
        if known is None or known.committed != committed:
            was_stuck = known is not None and known.stuck
            self.progress[tp] = _Progress(committed, now)
            return "moving" if was_stuck else None
        waiting = highwater is not None and highwater > (committed or 0)
        if not known.stuck and waiting and now - known.since >= self.stuck_after_s:
            known.stuck = True
            return "stuck"
        if known.stuck and not waiting:
            known.stuck = False
            known.since = now
            return "moving"
        return None

    def stuck(self) -> list[str]:
        """The partitions stuck now."""
        return sorted(tp for tp, known in self.progress.items() if known.stuck)

    def forget(self) -> None:
        """After a rebalance: every partition starts again."""
        self.progress.clear()


class Watchdog:
    """The worker's watchdog: a timer over the consumer's assigned partitions."""

    def __init__(self, app: faust.App, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.watch = runtime.watch
        names = runtime.names
        self.topics = {*(names.public(key) for key in INPUT_FEEDS),
                       *(names.internal(kind) for kind in runtime.internal_topics)}
        self.labelled: set[tuple[str, str]] = set()
        app.timer(runtime.settings.watchdog_interval_s, name="cargoguard.watchdog")(self.check)
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]  # mode's handler type rejects coroutine functions it runs fine

    async def _on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.watch.forget()
        metrics = self.runtime.metrics
        for labels in self.labelled:
            metrics.forget(metrics.consumer_lag, *labels)
            metrics.forget(metrics.partition_stuck, *labels)
        self.labelled.clear()

    async def check(self) -> None:
        """Timer: look at every assigned partition once; no error escapes."""
        try:
            self._check()
        except Exception:
            self.runtime.metrics.processing_errors.labels("watchdog").inc()
            log.exception("watchdog: check failed")

    def _check(self) -> None:
        app = self.app
        if app.rebalancing or app.in_recovery:
            return
        consumer: Any = app.consumer
        committed_offsets: dict[Any, int | None] = consumer._committed_offset
        metrics = self.runtime.metrics
        now = time.monotonic()
        for tp in consumer.assignment():
            if tp.topic not in self.topics:
                continue
            committed = committed_offsets.get(tp)
            highwater = consumer.highwater(tp)
            labels = (tp.topic, str(tp.partition))
            self.labelled.add(labels)
            if highwater is not None:
                metrics.consumer_lag.labels(*labels).set(max(0, highwater - (committed or 0)))
            change = self.watch.observe(f"{tp.topic}[{tp.partition}]", committed, highwater, now)
            if change == "stuck":
                metrics.partition_stuck.labels(*labels).set(1)
                waiting = "?" if highwater is None else highwater - (committed or 0)
                log.warning("%s[%d] is stuck: %s events wait and its committed offset %s has not moved for "
                            "%.0f s", tp.topic, tp.partition, waiting, committed, self.watch.stuck_after_s)
            elif change == "moving":
                metrics.partition_stuck.labels(*labels).set(0)
                log.info("%s[%d] moves again (committed offset %s)", tp.topic, tp.partition, committed)
            elif not self.watch.progress[f"{tp.topic}[{tp.partition}]"].stuck:
                metrics.partition_stuck.labels(*labels).set(0)
