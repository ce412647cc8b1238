"""What to do when a step fails: retry a passing fault, isolate a lasting one.

A router step or a subject batch that raises must neither vanish (Faust
would acknowledge it) nor stall its partition for ever:

- a *transient* fault (the broker or the registry is briefly away) is retried
  with capped exponential back-off for as long as it lasts: the input is held,
  not acknowledged, and not dead-lettered, because it is valid;
- any other fault is retried ``ISOLATE_AFTER`` times, then the step is split:
  each event (router) or each subject's events (subject agent) is processed
  alone, and only the ones that still fail are dead-lettered with the
  exception as the reason; the rest of the step goes on.

Each cause is logged once (with its traceback) and counted in
``cargoguard_processing_errors_total``; the log would otherwise repeat the same
traceback every back-off for the length of an outage.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from streams.errors import TransientError

# Attempts of a step before its events are tried one by one.
ISOLATE_AFTER = 3
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0


def is_transient(exc: BaseException) -> bool:
    """True for a fault of the world around the worker (broker, registry, network), not of the event."""
    return isinstance(exc, TransientError | KafkaError | TimeoutError | ConnectionError)


def backoff_s(attempt: int) -> float:
    """The pause before retry number ``attempt`` (1, 2, ...): doubling from 0.2 s, at most 5 s."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


def cause_of(exc: BaseException) -> str:
    """A cause as logs group it: the exception's type and first line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


@dataclass(slots=True)
class CauseLog:
    """Logs each cause of failure once per worker, with its traceback; later ones at debug level."""

    logger: logging.Logger
    seen: set[str] = field(default_factory=set)

    def failed(self, what: str, exc: BaseException) -> None:
        """Note that ``what`` failed with ``exc``."""
        cause = cause_of(exc)
        if cause in self.seen:
            self.logger.debug("%s failed again: %s", what, cause)
            return
        self.seen.add(cause)
        self.logger.error("%s failed (%s); %s", what, cause,
                          "retrying until it passes" if is_transient(exc) else "retrying, then isolating",
                          exc_info=exc)


async def pause(attempt: int) -> None:
    """Sleep the back-off of retry number ``attempt``."""
    await asyncio.sleep(backoff_s(attempt))
