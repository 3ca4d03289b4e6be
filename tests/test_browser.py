"""A real browser (Debian's chromium through Playwright) against the running app: type a case,
write reports, see both columns and a citation."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (make test installs it)")
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(seeded, models_home):
    port = free_port()
    env = dict(os.environ, RAG_VS_FT_HOME=str(seeded), RAG_VS_FT_MODELS=str(models_home))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_type_a_case_and_see_both_reports_with_a_citation(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(app_url)
        box = page.get_by_label("Case", exact=True)
        expect(box).to_be_visible(timeout=240_000)  # first start prepares the model and the index
        box.fill("68-year-old woman with type 2 diabetes and chronic kidney disease, eGFR 38, "
                 "urine albumin-creatinine ratio 600 mg/g, on metformin and lisinopril.")
        box.press("Control+Enter")
        page.get_by_role("button", name="Write reports").click()
        expect(page.get_by_text("Fine-tuned (closed book)")).to_be_visible(timeout=180_000)
        expect(page.get_by_text("RAG (open book)")).to_be_visible(timeout=10_000)
        expect(page.get_by_text("tokens/s").first).to_be_visible(timeout=480_000)
        expect(page.get_by_text("the model wrote the Assessment")).to_be_visible(timeout=240_000)
        expect(page.get_by_text("Plan:").first).to_be_visible()
        expect(page.get_by_text(" · cited").first).to_be_visible(timeout=10_000)
        expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=10_000)
        page.wait_for_timeout(2000)  # let the support table's canvas paint before the screenshot
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        if os.environ.get("RAG_VS_FT_SCREENSHOT"):
            shutil.copy(tmp_path / "compare.png", os.environ["RAG_VS_FT_SCREENSHOT"])
        browser.close()
