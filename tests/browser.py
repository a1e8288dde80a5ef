"""A headless Chromium for browser tests, driven by Playwright: open a page, collect console
errors and every request it made, list its links (HTML and inline SVG), take a screenshot.

Playwright drives the system's `chromium` (Debian's package): no browser download. Name
resolution is switched off for every host but the loopback, so a page that tries the
network fails to load it, and the request is still recorded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlparse

from playwright.sync_api import ConsoleMessage, Request, sync_playwright
from playwright.sync_api import Error as PlaywrightError

FLAGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"file", "data", "about", "blob", "chrome", "devtools"}
#: The links of a page (HTML and SVG anchors) as absolute URLs, its title, its broken images.
PAGE_FACTS = """() => ({
    title: document.title,
    links: Array.from(document.querySelectorAll('a'))
        .map(a => a.getAttribute('href')
            || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))
        .filter(h => h).map(h => new URL(h, document.baseURI).href),
    broken: Array.from(document.images)
        .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)
})"""


def find_chromium() -> str | None:
    """The system Chromium, if installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def is_local(url: str) -> bool:
    """True for URLs that never leave the machine (files, data, the loopback)."""
    parsed = urlparse(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return True
    return parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname in LOCAL_HOSTS


@dataclass
class Visit:
    """What one page load showed: console errors, requests, links, broken images."""

    url: str
    error: str | None = None
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def remote_requests(self) -> list[str]:
        return [u for u in self.requests if not is_local(u)]

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self.console_errors.append(f"console.{message.type}: {message.text}")

    def on_failed(self, request: Request) -> None:
        self.failed.append(f"{request.failure} ({request.url})")


class Chromium:
    """One headless browser with one tab; use as a context manager."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=executable, args=FLAGS)
        except BaseException:
            self._playwright.stop()
            raise
        self.page = self._browser.new_page(viewport={"width": width, "height": height})

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()

    def visit(self, url: str, timeout: float = 90.0) -> Visit:
        """Load a page and report what happened while it loaded and settled (no request
        for half a second)."""
        visit = Visit(url)
        listeners = {
            "console": visit.on_console,
            "pageerror": lambda error: visit.console_errors.append(
                f"exception: {error.name}: {error.message}"
            ),
            "request": lambda request: visit.requests.append(request.url),
            "requestfailed": visit.on_failed,
        }
        for event, listener in listeners.items():
            self.page.on(event, listener)
        try:
            answer = self.page.goto(url, wait_until="networkidle", timeout=timeout * 1000)
            if answer is not None and not answer.ok:
                visit.error = f"HTTP {answer.status}"
        except PlaywrightError as err:  # a page that does not load is a finding, not a crash
            visit.error = str(err).splitlines()[0]
        finally:
            for event, listener in listeners.items():
                self.page.remove_listener(event, listener)
        if visit.error is None:
            facts = self.page.evaluate(PAGE_FACTS)
            visit.title, visit.links = facts["title"], facts["links"]
            visit.broken_images = facts["broken"]
        return visit

    def has_element(self, element_id: str) -> bool:
        return self.page.evaluate("id => document.getElementById(id) !== null", element_id)

    def screenshot(self, path: Path, max_height: int = 12000) -> Path:
        """A PNG of the whole page (up to `max_height` CSS pixels tall)."""
        width, height = self.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": max(1, width), "height": max(1, min(height, max_height))}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=path, full_page=True, clip=clip)
        return path


def require_chromium() -> str:
    """The Chromium to test with; skips without one, except under CI where it must exist."""
    import pytest

    found = find_chromium()
    if found is None:
        message = "chromium is not installed (`apt-get install chromium`; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
