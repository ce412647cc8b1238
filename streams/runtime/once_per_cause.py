"""Logging a recurring problem once per cause, not once per event.

Ten thousand hostile events would otherwise write ten thousand log lines
that say the same thing; the metric counts each one, the log says each
cause once, then how many more there were, at most once per interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass
class OncePerCause:
    """Decides which occurrences of a cause reach the log."""

    interval_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _last_logged: dict[Hashable, float] = field(default_factory=dict)
    _held_back: dict[Hashable, int] = field(default_factory=dict)

    def admit(self, cause: Hashable) -> int | None:
        """Whether to log this occurrence: ``None`` if not, else how many were held back since the last.

        The first occurrence of a cause is logged; later ones at most once per ``interval_s``.
        """
        now = self.clock()
        last = self._last_logged.get(cause)
        if last is not None and now - last < self.interval_s:
            self._held_back[cause] = self._held_back.get(cause, 0) + 1
            return None
        self._last_logged[cause] = now
        return self._held_back.pop(cause, 0)
