"""A headless Chromium driven over the DevTools protocol: the one browser of the tests.

Used by the report's browser test (tests/test_reports.py) and the docs'
search-from-disk test (tests/test_docs.py). Debian's ``chromium`` package
(installed by ``.ci/run``); the protocol over one websocket
(``websocket-client``). Console messages, exceptions and log entries of the
page are collected from the moment it starts loading.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)),
    None,
)

# A test that needs the browser skips where Chromium is missing, except
# under .ci/run, which installs it and sets DISTSEARCH_BROWSER_REQUIRED.
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("DISTSEARCH_BROWSER_REQUIRED"),
    reason="chromium is not installed here (.ci/run installs Debian's package and requires it)",
)


class Browser:
    def __init__(self, profile):
        import websocket

        self.process = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                "--window-size=1280,900", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = None
        for line in self.process.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/..."
            if "DevTools listening on" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                break
        if port is None:
            raise RuntimeError(f"chromium did not start (exit {self.process.wait(10)})")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event):
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.socket.recv()))

    def open(self, url):
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def poll(self, expression, timeout=30.0):
        """``expression``'s value once it is truthy (its last value after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return value

    def problems(self):
        """Console errors and warnings, uncaught exceptions, error log entries."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
                found.append(("console", params["type"], [a.get("value") for a in params["args"]]))
            elif method == "Runtime.exceptionThrown":
                found.append(("exception", params["exceptionDetails"].get("text")))
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(("log", params["entry"]["level"], params["entry"]["text"]))
        return found

    def screenshot(self, width=1280, height=900):
        import base64

        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self):
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
