"""A real Chromium for the control-room tests: Debian's, driven by Playwright for Python."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
# As root Chromium cannot have its sandbox; the other flags keep it off the closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module; each test opens its own contexts (own cookies).

    Per module, not per session: Playwright's sync API keeps an event loop running in
    this thread while it is open, and later tests call ``asyncio.run``.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages of fresh browser contexts (own cookies), closed after the test."""
    contexts: list[Any] = []

    def make() -> Any:
        contexts.append(browser.new_context(viewport={"width": 1400, "height": 800}))
        return contexts[-1].new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def signed_in_page(new_page: Callable[[], Any]) -> Callable[[str, str, str], Any]:
    """A page signed in through the form, on the control room: ``signed_in_page(base_url, user, password)``."""

    def sign_in(base_url: str, username: str, password: str) -> Any:
        page = new_page()
        page.goto(base_url + "/control-room/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/control-room/")
        return page

    return sign_in
