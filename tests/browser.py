"""A headless Chromium driven over the DevTools protocol, for browser tests: open a page,
collect console errors and every request it made, list its links (HTML and inline SVG), take a
screenshot.

Only the system's `chromium` (Debian's package) and the `websockets` client are needed: no
browser download. Name resolution is switched off for every host but the loopback, so a
page that tries the network fails to load it, and the request is still recorded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--no-default-browser-check",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"file", "data", "about", "blob", "chrome", "devtools"}


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


class Chromium:
    """One headless browser with one tab; use as a context manager."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="iot-anomaly-chromium-"))
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}",
             "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._next = 0
        self._events: list[dict[str, Any]] = []
        self.ws = self._connect(self._browser_url())
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def _browser_url(self, timeout: float = 30.0) -> str:
        """The browser's DevTools websocket, from the port file Chromium writes."""
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.process.returncode}")
            if port_file.is_file():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    @staticmethod
    def _connect(url: str) -> ClientConnection:
        return connect(url, max_size=None, open_timeout=30)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = False,
        timeout: float = 60.0,
    ) -> dict[str, Any]:  # fmt: skip
        """Send one command and wait for its answer, keeping the events that arrive."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {method}")
            reply = json.loads(self.ws.recv(timeout=left))
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def _drain(self, until: str | None, timeout: float, quiet: float) -> None:
        """Collect events until `until` arrives (or `timeout`), then until none arrived for
        `quiet` seconds."""
        deadline = time.monotonic() + timeout
        seen = until is None
        while time.monotonic() < deadline:
            wait = quiet if seen else deadline - time.monotonic()
            try:
                event = json.loads(self.ws.recv(timeout=max(wait, 0.01)))
            except TimeoutError:
                if seen:
                    return
                continue
            if "method" in event:
                self._events.append(event)
                seen = seen or event["method"] == until
        if not seen:
            raise TimeoutError(f"{until} did not arrive within {timeout} s")

    def visit(self, url: str, timeout: float = 90.0) -> Visit:
        """Load a page and report what happened while it loaded and settled."""
        self._events.clear()
        visit = Visit(url)
        answer = self.call("Page.navigate", {"url": url}, session=True, timeout=timeout)
        if answer.get("errorText"):
            visit.error = answer["errorText"]
            return visit
        self._drain("Page.loadEventFired", timeout, quiet=1.0)
        for event in self._events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                visit.failed.append(f"{params.get('errorText')} ({params.get('requestId')})")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                visit.console_errors.append(f"exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
                )
                visit.console_errors.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                visit.console_errors.append(f"{entry.get('source')}: {entry.get('text')}")
        found = self.evaluate(
            """JSON.stringify({
                title: document.title,
                links: Array.from(document.querySelectorAll('a'))
                    .map(a => a.getAttribute('href')
                        || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))
                    .filter(h => h).map(h => new URL(h, document.baseURI).href),
                broken: Array.from(document.images)
                    .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)
            })"""
        )
        data = json.loads(found)
        visit.title, visit.links, visit.broken_images = data["title"], data["links"], data["broken"]
        return visit

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def has_element(self, element_id: str) -> bool:
        return bool(self.evaluate(f"document.getElementById({json.dumps(element_id)}) !== null"))

    def screenshot(self, path: Path, max_height: int = 12000) -> Path:
        """A PNG of the whole page (up to `max_height` CSS pixels tall)."""
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        height = max(1, min(int(size["height"]), max_height))
        clip = {"x": 0, "y": 0, "scale": 1, "width": max(1, int(size["width"])), "height": height}
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
            session=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
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
