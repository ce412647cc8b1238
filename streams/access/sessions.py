"""Signed session cookies, their CSRF tokens, and the sign-in rate limit.

A session is a cookie signed with the deployment's session secret
(itsdangerous): the user name, a CSRF token made at sign-in, and the time the
user's record last changed, so a password change or removal ends every session
of that user. The cookie is HttpOnly and SameSite=Strict and expires; every
request that changes something must echo the CSRF token in a header.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from streams.access.users import User, UserDirectory

SESSION_COOKIE = "cargoguard_session"
CSRF_HEADER = "X-CSRF-Token"
# User names and addresses with recent failures the limiter keeps before forgetting expired ones.
TRACKED_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user and the token their page sends with every action."""

    user: User
    csrf_token: str

    def csrf_matches(self, sent: str | None) -> bool:
        """Whether a request carries this session's CSRF token (compared in constant time)."""
        return sent is not None and hmac.compare_digest(sent, self.csrf_token)


class SessionSigner:
    """Makes and reads session cookies."""

    def __init__(self, secret: str, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._serializer = URLSafeTimedSerializer(secret, salt="cargoguard-session")

    def issue(self, user: User) -> tuple[str, Session]:
        """A new session for ``user``: the cookie value and the session."""
        csrf_token = secrets.token_urlsafe(32)
        cookie = self._serializer.dumps({"u": user.username, "c": csrf_token, "t": user.changed_at})
        return cookie, Session(user, csrf_token)

    def read(self, cookie: str | None, users: UserDirectory) -> Session | None:
        """The session a cookie holds, or ``None`` when it is missing, forged, expired or outdated."""
        if not cookie:
            return None
        try:
            payload: Any = self._serializer.loads(cookie, max_age=round(self.ttl_s))
        except BadSignature:
            return None
        if not isinstance(payload, dict):
            return None
        user = users.get(str(payload.get("u")))
        if user is None or user.changed_at != payload.get("t"):
            return None
        return Session(user, str(payload.get("c")))


@dataclass
class SignInLimiter:
    """Refuses sign-in after too many wrong passwords for one user name, or from one address.

    Per worker: behind a load balancer an attacker spread over N workers gets
    N times the attempts, still a handful a minute against argon2 hashes.
    """

    max_failures: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        cutoff = self.clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return deque()
        return times

    def retry_after_s(self, username: str, address: str) -> float:
        """0 when a sign-in may be tried now, else how long until it may."""
        waits = [times[0] + self.window_s - self.clock()
                 for key in (f"user:{username}", f"address:{address}")
                 if len(times := self._recent(key)) >= self.max_failures]
        return max(waits, default=0.0)

    def failed(self, username: str, address: str) -> None:
        """Count a wrong password for this user name and address."""
        now = self.clock()
        for key in (f"user:{username}", f"address:{address}"):
            times = self._failures.setdefault(key, deque())
            times.append(now)
            if len(times) > self.max_failures:  # only the newest few decide anything
                times.popleft()
        if len(self._failures) > TRACKED_KEYS:  # many names tried: forget those whose failures expired
            for key in [key for key, times in self._failures.items() if times[-1] <= now - self.window_s]:
                del self._failures[key]

    def succeeded(self, username: str) -> None:
        """Forget the user name's failures (the address keeps its own)."""
        self._failures.pop(f"user:{username}", None)
