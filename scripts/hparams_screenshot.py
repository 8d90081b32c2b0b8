"""Screenshot TensorBoard's HParams parallel-coordinates view of a search, as a person sees it.

Starts ``tune-gae tensorboard SEARCH`` on a free localhost port and a headless Chromium (Debian's
``chromium`` package), opens the HParams tab, clicks "Parallel coordinates view" through the
DevTools protocol and saves a PNG (quantised to stay small for the README). ``--page timeseries``
takes the Time Series page instead.

    python scripts/hparams_screenshot.py results/cora-default-... docs/img/hparams.png
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Finds an element by its text through every shadow root (TensorBoard's dashboards are Polymer).
FIND_BY_TEXT = """
(text) => {
  const seen = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join(' ');
      if (own.trim().toLowerCase() === text.toLowerCase()) seen.push(el);
    }
  };
  walk(document);
  return seen;
}
"""
CLICK = f"""
(text) => {{
  const found = ({FIND_BY_TEXT})(text);
  if (!found.length) return false;
  const target = found[found.length - 1];
  (target.closest('paper-tab') || target).click();
  return true;
}}
"""
PAGES = {"hparams": ("#hparams", "Parallel coordinates view"), "table": ("#hparams", "Table view"),
         "timeseries": ("#timeseries", None)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, ready: Any, timeout_s: float = 60.0) -> Any:
    """GET ``url`` until ``ready(json)`` holds; its JSON."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.loads(response.read())
            if ready(body):
                return body
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s")
        time.sleep(0.5)


async def screenshot(debug_port: int, url: str, click: str | None, width: int, height: int) -> bytes:
    """Open ``url`` in the headless browser, click the ``click`` text if given, return a PNG."""
    import aiohttp

    pages = wait_for(f"http://127.0.0.1:{debug_port}/json/list", lambda b: any(t["type"] == "page" for t in b))
    ws_url = next(t["webSocketDebuggerUrl"] for t in pages if t["type"] == "page")
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
        counter = 0

        async def call(method: str, **params: Any) -> dict[str, Any]:
            nonlocal counter
            counter += 1
            await ws.send_json({"id": counter, "method": method, "params": params})
            while True:
                message = await ws.receive_json()
                if message.get("id") == counter:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message.get("result", {})

        async def evaluate(function: str, argument: str) -> Any:
            result = await call("Runtime.evaluate", expression=f"({function})({json.dumps(argument)})",
                                returnByValue=True)
            return result.get("result", {}).get("value")

        await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                   mobile=False)
        await call("Page.enable")
        await call("Page.navigate", url=url)
        await asyncio.sleep(6)  # the dashboard loads its data after the page
        if click is not None:
            for _ in range(20):
                if await evaluate(CLICK, click):
                    break
                await asyncio.sleep(1)
            else:
                raise RuntimeError(f"no {click!r} on the page")
            await asyncio.sleep(4)
        shot = await call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


def small_png(png: bytes, colors: int = 128) -> bytes:
    """The same picture with a palette of ``colors``: a third of the size for a UI screenshot."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def shoot(command: str, search: Path, size: str, page: Callable[[str], tuple[str, str | None]]) -> bytes:
    """Serve ``search`` with ``tune-gae COMMAND`` on a free port and a headless Chromium beside it;
    ``page(base_url)`` waits for the server's data and names the URL and the text to click; the PNG."""
    width, height = (int(v) for v in size.split("x"))
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on PATH: install Debian's chromium package (apt-get install chromium).")
    port, debug_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "tune_gae.cli", command, str(search), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    profile = tempfile.mkdtemp(prefix=f"{command}-shot-")
    chrome = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--remote-debugging-port={debug_port}", f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url, click = page(f"http://127.0.0.1:{port}")
        return asyncio.run(screenshot(debug_port, url, click, width, height))
    finally:
        for process in (chrome, server):  # each with what it started (its process group)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def save(png: bytes, out: Path, what: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(small_png(png))
    print(f"{out}: {out.stat().st_size // 1024} KB ({what})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", type=Path, help="a search folder (made by `tune-gae search`)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--page", choices=sorted(PAGES), default="hparams")
    parser.add_argument("--size", default="1400x900", help="browser window WIDTHxHEIGHT")
    args = parser.parse_args()

    def page(base: str) -> tuple[str, str | None]:
        wait_for(f"{base}/data/runs", bool)
        fragment, click = PAGES[args.page]
        return f"{base}/{fragment}", click

    save(shoot("tensorboard", args.search, args.size, page), args.out, f"{args.page}, {args.size}")


if __name__ == "__main__":
    main()
