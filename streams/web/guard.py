"""The web server's gate: sign-in, sign-out, the session every other request needs, and security headers.

``/health``, ``/ready``, ``/metrics`` and the sign-in page are open; anything
else needs a signed-in user: an API call without one gets 401, a page a
redirect to the sign-in form. A request that changes something must carry
the session's CSRF token in the ``X-CSRF-Token`` header. Every response
carries a Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from urllib.parse import quote, urlsplit

from aiohttp import web

from streams.access.sessions import CSRF_HEADER, SESSION_COOKIE, Session, SessionSigner, SignInLimiter
from streams.access.users import UserDirectory
from streams.settings import Settings

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/sign-in", "/sign-in.css"})
HOME = "/control-room/"
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
SESSION_KEY = web.RequestKey("session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _static(name: str) -> str:
    return resources.files("streams.web").joinpath(f"static/{name}").read_text(encoding="utf-8")


def session_of(request: web.Request) -> Session:
    """The session the guard found for this request (only called behind the guard)."""
    return request[SESSION_KEY]


def _local_target(target: str | None) -> str:
    """Where to go after sign-in: a control-room path of this server, never another site."""
    if target and target.startswith(HOME) and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


class Guard:
    """Sessions, the sign-in form and the middleware that checks every request."""

    def __init__(self, settings: Settings, users: UserDirectory) -> None:
        secret = settings.session_secret.get_secret_value() if settings.session_secret else None
        if secret is None:
            log.warning("CARGOGUARD_SESSION_SECRET is not set: sessions are signed with a key of this worker "
                        "alone and end when it stops; set the same secret on every worker")
            secret = secrets.token_urlsafe(32)
        self.settings = settings
        self.users = users
        self.signer = SessionSigner(secret, settings.session_ttl_s)
        self.limiter = SignInLimiter(settings.sign_in_max_failures, settings.sign_in_window_s)
        self._form = _static("sign_in.html")
        self._css = _static("sign_in.css")

    def install(self, app: web.Application) -> None:
        """Add the middleware and the sign-in routes to ``app`` (before it starts)."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                response = await self._check(request, handler)
            except web.HTTPException as exc:
                exc.headers.update(SECURITY_HEADERS)
                raise
            response.headers.update(SECURITY_HEADERS)
            return response

        app.middlewares.append(guard)
        app.router.add_get("/sign-in", self.sign_in_form)
        app.router.add_post("/sign-in", self.sign_in)
        app.router.add_get("/sign-in.css", self.sign_in_css)
        app.router.add_post("/sign-out", self.sign_out)

    async def _check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        session = self.signer.read(request.cookies.get(SESSION_COOKIE), self.users)
        if session is None:
            if request.method == "GET" and not request.path.startswith(HOME + "api/"):
                raise web.HTTPSeeOther(f"/sign-in?next={quote(request.path_qs)}")
            return web.json_response({"error": "sign in first"}, status=401)
        if request.method not in ("GET", "HEAD") and not session.csrf_matches(request.headers.get(CSRF_HEADER)):
            return web.json_response({"error": f"missing or wrong {CSRF_HEADER} header"}, status=403)
        request[SESSION_KEY] = session
        return await handler(request)

    def _form_page(self, target: str, error: str = "", status: int = 200) -> web.Response:
        page = (self._form.replace("{{next}}", html.escape(target, quote=True))
                .replace("{{error}}", html.escape(error)))
        return web.Response(text=page, content_type="text/html", status=status)

    async def sign_in_form(self, request: web.Request) -> web.Response:
        """The sign-in form."""
        return self._form_page(_local_target(request.query.get("next")))

    async def sign_in_css(self, request: web.Request) -> web.Response:
        """The sign-in form's style sheet (open: the form shows before anyone signs in)."""
        return web.Response(text=self._css, content_type="text/css")

    async def sign_in(self, request: web.Request) -> web.Response:
        """Check the name and password; on success set the session cookie and go to the page asked for."""
        origin = request.headers.get("Origin")
        if origin is not None and origin != "null" and urlsplit(origin).netloc != request.host:
            return web.json_response({"error": "sign-in from another site"}, status=403)
        form = await request.post()
        username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
        target = _local_target(str(form.get("next", "")))
        address = request.remote or "unknown"
        wait_s = self.limiter.retry_after_s(username, address)
        if wait_s > 0:
            log.warning("sign-in of %r from %s refused: too many wrong passwords", username, address)
            page = self._form_page(target, f"Too many wrong passwords: try again in {wait_s:.0f} s.", status=429)
            page.headers["Retry-After"] = str(int(wait_s) + 1)
            return page
        user = self.users.check_password(username, password)
        if user is None:
            self.limiter.failed(username, address)
            log.info("wrong user name or password for %r from %s", username, address)
            return self._form_page(target, "Wrong user name or password.", status=401)
        self.limiter.succeeded(username)
        cookie, _session = self.signer.issue(user)
        response = web.Response(status=303, headers={"Location": target})
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(self.settings.session_ttl_s), path="/",
                            httponly=True, samesite="Strict", secure=self.settings.session_cookie_secure)
        log.info("%s signed in from %s", user.username, address)
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        """End the session in this browser."""
        response = web.json_response({"signed_out": session_of(request).user.username})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response
