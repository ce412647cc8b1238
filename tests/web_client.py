"""A control-room client for the API tests: a cookie jar, sign-in through the form, the CSRF header."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# The password of every user the tests add.
PASSWORD = "correct horse battery"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


class ControlRoomClient:
    """Speaks to one worker's web server as a browser would (cookies kept, redirects shown)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects)
        self.csrf_token: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def sign_in(self, username: str, password: str, next_path: str = "/control-room/") -> int:
        """Post the sign-in form; on success, fetch the CSRF token. Returns the form's status."""
        form = urllib.parse.urlencode({"username": username, "password": password, "next": next_path}).encode()
        status, _, _ = self.request("POST", "/sign-in", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 303:
            self.csrf_token = self.get_json("/control-room/api/me")[1]["csrf_token"]
        return status

    def get_json(self, path: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", path)
        return status, json.loads(body) if body else None

    def post_json(self, path: str, document: Any, csrf: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if csrf and self.csrf_token:
            headers["X-CSRF-Token"] = self.csrf_token
        status, _, body = self.request("POST", path, json.dumps(document).encode(), headers)
        return status, json.loads(body) if body else None

    def wait_json(self, path: str, done: Any, timeout_s: float = 30.0) -> Any:
        """GET ``path`` until ``done(document)`` holds; the last document."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, document = self.get_json(path)
            assert status == 200, (status, document)
            if done(document) or time.monotonic() > deadline:
                return document
            time.sleep(0.2)
