"""What the user waits for, measured through the page: the app served as `make run` serves it, driven by
a real browser (Debian's chromium through Playwright, as the browser test does), one case written in
every mode. The page itself stamps each change of each column's report text (a MutationObserver), so
the figures are those on screen: click to first text, click to last, and decode tokens/s between them.

Needs playwright and chromium (`make test` installs both); without them `measure` returns None.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .config import REPO, Config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
OPTIONS = {"base": "Base (no tuning, no retrieval)", "hybrid": "Fine-tuned + RAG"}
# In the page: a MutationObserver stamps when each column's text grows and when its caption appears,
# relative to the click. Polling from outside every 50 ms (a round trip through Playwright and the
# browser's protocol each time) took enough of the 2 cores to slow the page it measured by ~20%.
_OBSERVE = """modes => {
    const t = window.__bench = {click: null, first: {}, last: {}, len: {}, done: {}, caption: {}};
    document.addEventListener('click', () => { if (t.click === null) t.click = performance.now(); }, true);
    new MutationObserver(() => {
        const now = performance.now();
        if (t.click === null) return;
        for (const m of modes) {
            const el = document.querySelector('.st-key-report-' + m);
            const n = el ? el.textContent.length : 0;
            if (n > (t.len[m] || 0)) { if (!(m in t.first)) t.first[m] = now; t.last[m] = now; t.len[m] = n; }
            const done = document.querySelector('.st-key-done-' + m);
            if (done && done.textContent && !(m in t.done)) { t.done[m] = now; t.caption[m] = done.textContent; }
        }
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def serve(cfg: Config, port: int) -> subprocess.Popen:
    """The app as `make run` serves it, on `port`, once it answers its health check (the browser test's too)."""
    env = dict(os.environ, RAG_VS_FT_HOME=str(cfg.data_dir), RAG_VS_FT_MODELS=str(cfg.models_dir),
               RAG_VS_FT_MAX_NEW_TOKENS=str(cfg.max_new_tokens))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("the app did not start within two minutes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(page, modes: list[str]) -> dict:
    """Click "Write reports" and follow every column until all are done: seconds from the click."""
    page.evaluate(_OBSERVE, modes)
    page.get_by_role("button", name="Write reports").click()
    page.wait_for_function(f"() => Object.keys(window.__bench.done).length >= {len(modes)}", polling=500,
                           timeout=240_000)
    t = page.evaluate("() => window.__bench")
    at = lambda key, m: (t[key][m] - t["click"]) / 1000 if m in t[key] else None
    return {m: {"first_s": at("first", m), "last_s": at("last", m), "done_s": at("done", m),
                "caption": t["caption"].get(m, "")} for m in modes}


def measure(cfg: Config, case: str, modes: list[str]) -> dict | None:
    """Per mode: seconds from the click to its first text and to its last, and tokens/s as shown;
    seconds from the click until every column is done. The first click warms the app (loading the
    model); the second is measured."""
    if not available():
        return None
    import re
    from playwright.sync_api import sync_playwright
    port = free_port()
    proc = serve(cfg, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(f"http://127.0.0.1:{port}")
            box = page.get_by_label("Case", exact=True)
            for warm in (True, False):  # the first click loads the model; a fresh session is measured
                if not warm:
                    page.reload()
                box.wait_for(timeout=240_000)
                for m in modes:
                    if m in OPTIONS:
                        field = page.locator('[data-testid="stMultiSelect"] input').first
                        field.fill(OPTIONS[m])
                        field.press("Enter")
                        page.keyboard.press("Escape")
                box.fill(case)
                box.press("Control+Enter")
                page.wait_for_timeout(500)
                runs = _write(page, modes)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = {"modes": {}, "compare_s": None}
    for m, r in runs.items():
        tokens = re.search(r"(\d+) tokens", r["caption"])
        span = (r["last_s"] or 0) - (r["first_s"] or 0)
        out["modes"][m] = {"ttft_s": _r(r["first_s"]), "last_s": _r(r["last_s"]), "done_s": _r(r["done_s"]),
                           "tokens": int(tokens.group(1)) if tokens else None,
                           "tok_s": round((int(tokens.group(1)) - 1) / span, 1) if tokens and span > 0 and m != "rag"
                           else None}
    if all(r["done_s"] is not None for r in runs.values()):
        out["compare_s"] = _r(max(r["done_s"] for r in runs.values()))
    return out


def _r(x):
    return None if x is None else round(x, 3)
