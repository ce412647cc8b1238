"""Running one Faust worker process."""

from __future__ import annotations

import logging

import faust

from streams.app import create_app
from streams.settings import Settings
from streams.topics import create_topics, wait_for_broker

log = logging.getLogger(__name__)

FAUST_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warn", "error": "error"}


def run_worker(settings: Settings, ensure_topics: bool = True) -> None:
    """Run a worker until SIGINT/SIGTERM; creates missing topics first unless told not to."""
    wait_for_broker(settings)
    if ensure_topics:
        create_topics(settings)
    app, _runtime = create_app(settings)
    log.info("cargoguard worker settings: %s", settings.as_dict())
    worker = faust.Worker(app, loglevel=FAUST_LOG_LEVELS[settings.log_level])
    worker.execute_from_commandline()
