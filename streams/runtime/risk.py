"""The risk model a worker scores with, and the outcomes reported since it learned.

The model is read at start and replaced when a newer file appears.

``cargoguard learn`` writes the model file atomically, so a worker that
sees the file change reads a whole one. A file that cannot be used is
logged and the model in force stays; the worker never stops for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faust

from agents.risk.model import ModelFileError, RiskModel
from streams.outcomes.live_history import LiveHistoryFeed
from streams.outcomes.record_feed import RecordFeed
from streams.runtime.metrics import Metrics
from streams.runtime.topic_follower import follower_credentials
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.runtime.context import Runtime

log = logging.getLogger(__name__)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@dataclass
class RiskHolder:
    """The model in force (None without a model file), and what its file looked like when read."""

    path: Path | None
    metrics: Metrics
    current: RiskModel | None = None
    read_signature: tuple[int, int] | None = None

    def load(self) -> None:
        """Read the model file if it changed since the last read (blocking: call it off the event loop)."""
        if self.path is None:
            return
        signature = _signature(self.path)
        if signature is None or signature == self.read_signature:
            return
        try:
            model = RiskModel.load(self.path)
        except ModelFileError as exc:
            log.error("risk model not taken: %s", exc)
            self.read_signature = signature  # the same file is not read again
            return
        self.read_signature = signature
        if self.current is not None and self.current.version == model.version:
            return
        if self.current is not None:
            self.metrics.risk_model.remove(self.current.version)
        self.current = model
        self.metrics.risk_model.labels(model.version).set(1)
        log.info("risk model %s in force (%s)", model.version, self.path)


def follow_model_file(app: faust.App, holder: RiskHolder, settings: Settings) -> None:
    """Read the model at start, and look for a newer file every ``model_check_interval_s``."""
    if holder.path is None:
        return
    holder.load()

    @app.timer(settings.model_check_interval_s, name="cargoguard.risk-model")
    async def reload_model() -> None:
        try:
            await asyncio.to_thread(holder.load)
        except Exception:  # a timer must not die: the model in force stays
            log.exception("looking for a newer risk model failed")


def follow_live_outcomes(app: faust.App, runtime: Runtime, results: RecordFeed) -> None:
    """With a model file, keep the outcomes reported since the model learned current (``LiveHistoryFeed``)."""
    if runtime.settings.model_file is None:
        return
    sent = RecordFeed(runtime.settings, runtime.codec, follower_credentials(app.conf), "inspected_declarations",
                      runtime.refuse_followed("inspected_declarations"))
    feed = LiveHistoryFeed(runtime.metrics, runtime.live_outcomes, sent, results)

    @app.task
    async def follow_outcomes() -> None:
        await feed.run()
