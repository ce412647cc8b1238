"""Running one Faust worker process."""

from __future__ import annotations

import gc
import logging

import faust

from streams.kafka.topics import create_topics, wait_for_broker
from streams.runtime.app import create_app
from streams.settings import Settings

log = logging.getLogger(__name__)

FAUST_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warn", "error": "error"}


# The worker holds hundreds of thousands of long-lived objects (staged
# state); with CPython's default thresholds the cyclic collector rescans them
# constantly: 12 % of the worker's time, measured with py-spy.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_garbage_collector() -> None:
    """Collect young garbage less often and never rescan start-up objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_worker(settings: Settings, ensure_topics: bool = True) -> None:
    """Run a worker until SIGINT/SIGTERM; creates missing topics first unless told not to."""
    tune_garbage_collector()
    wait_for_broker(settings)
    if ensure_topics:
        create_topics(settings)
    app, _runtime = create_app(settings)
    log.info("cargoguard worker settings: %s", settings.as_dict())
    worker = faust.Worker(app, loglevel=FAUST_LOG_LEVELS[settings.log_level])
    # Faust's start-up spinner hooks a handler onto the root logger and sets the
    # root to DEBUG, so every debug call of aiokafka, mode and Faust builds a
    # record that the handlers then drop: 3 % of the worker's time (py-spy).
    worker.spinner = None
    worker.execute_from_commandline()
