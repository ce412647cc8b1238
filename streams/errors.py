"""The errors cargoguard raises, by what should happen next.

- ``PoisonEvent``: this input can never be processed; it goes to the
  dead-letter topic with its bytes and the reason, and is never retried.
- ``ProcessingFailed``: processing the event raised every time it was tried;
  it is dead-lettered with the exception, the rest of its step goes on.
- ``TransientError``: the world is briefly unavailable (broker, registry);
  retry until it is back (``streams.runtime.retry``).
- ``UserError``: a person gave a bad file, option or value; the CLI prints the
  message as one line (a traceback only with ``--debug``).
"""

from __future__ import annotations


class CargoguardError(Exception):
    """Base of every error cargoguard raises on purpose."""


class PoisonEvent(CargoguardError):
    """An input event that can never be processed.

    ``reason`` is written for a person: it names the event and the field.
    """

    kind = "INVALID"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UndecodableEvent(PoisonEvent):
    """The bytes are not Avro of a schema this topic accepts."""

    kind = "UNDECODABLE"


class InvalidEvent(PoisonEvent):
    """The event decoded but breaks a rule of the contract (e.g. a negative weight)."""

    kind = "INVALID"


class ProcessingFailed(PoisonEvent):
    """An event whose processing raised however often it was retried: a bug, or input no rule expects."""

    kind = "PROCESSING_FAILED"


class TransientError(CargoguardError):
    """A dependency is briefly unavailable; the operation may succeed if retried."""


class UserError(CargoguardError):
    """A mistake in what a person gave cargoguard: printed as one clear line."""
