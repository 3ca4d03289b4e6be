"""A real browser (Debian's chromium through Playwright) against the running app: type a case,
write reports, see both columns and a citation."""
import os
import shutil
from pathlib import Path

import pytest

from rag_vs_ft.pagebench import BROWSER_ARGS, CHROMIUM, free_port, serve

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (make test installs it)")


@pytest.fixture
def app_url(seeded, cfg):
    port = free_port()
    proc = serve(cfg, port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_replay_the_story_type_a_case_and_vote_blind(app_url, tmp_path):
    """What a newcomer does: replay the story, write reports for a case of their own, judge two
    anonymous reports and download the comparison. Screenshots go to RAG_VS_FT_SCREENSHOTS (a folder)."""
    import json
    from playwright.sync_api import expect, sync_playwright

    def shot(name: str, height: int = 1300) -> None:
        page.set_viewport_size({"width": 1500, "height": height})  # the page scrolls inside: show more of it
        page.wait_for_timeout(2000)  # let tables' canvases paint before the screenshot
        page.screenshot(path=str(tmp_path / name), full_page=True)
        page.set_viewport_size({"width": 1500, "height": 1300})
        if os.environ.get("RAG_VS_FT_SCREENSHOTS"):
            shutil.copy(tmp_path / name, Path(os.environ["RAG_VS_FT_SCREENSHOTS"]) / name)

    def click(name: str) -> None:
        """Click a button and wait for the script run to end, so no stale element of the last run is left."""
        page.get_by_role("button", name=name).click()
        page.wait_for_timeout(500)
        expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning",
                                                                       timeout=480_000)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(app_url)
        box = page.get_by_label("Case", exact=True)
        expect(box).to_be_visible(timeout=240_000)  # first start prepares the model and the index
        expect(page.get_by_text("Replay it below in three clicks")).to_be_visible()

        click("1 · Compare as of the training cutoff")
        expect(page.get_by_text("Step 1: Both columns know only research")).to_be_visible()
        expect(page.get_by_text("the model wrote the Assessment")).to_be_visible()
        click("2 · Add the new research")
        expect(page.get_by_text("Added 4 documents")).to_be_visible()
        click("3 · Compare again")
        expect(page.get_by_text("New citation: SURMOUNT-OSA")).to_be_visible()
        expect(page.get_by_text("🆕 new research").first).to_be_visible()
        shot("replay.png", 2300)

        box.fill("68-year-old woman with type 2 diabetes and chronic kidney disease, eGFR 38, "
                 "urine albumin-creatinine ratio 600 mg/g, on metformin and lisinopril.")
        box.press("Control+Enter")
        click("Write reports")
        expect(page.get_by_text("Step 3:")).to_have_count(0)  # the new comparison replaced the story's
        expect(page.get_by_text("Fine-tuned (closed book)")).to_be_visible()
        expect(page.get_by_text("RAG (open book)")).to_be_visible()
        expect(page.get_by_text("tokens/s")).to_be_visible()
        expect(page.get_by_text("the model wrote the Assessment")).to_be_visible()
        expect(page.get_by_text("Plan:").first).to_be_visible()
        expect(page.get_by_text(" · cited").first).to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
        page.get_by_text("Replay the story in three clicks").click()  # fold it for the picture
        shot("screenshot.png")

        page.get_by_text("Blind mode").click()
        page.wait_for_timeout(500)
        expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning")
        click("Write reports")
        expect(page.get_by_role("heading", name="A", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="B", exact=True)).to_be_visible()
        expect(page.get_by_text("RAG (open book)")).to_have_count(0)
        shot("blind.png")
        click("B is better")
        expect(page.get_by_text("You voted: B is better. A was")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download JSON").click()
        data = json.loads(Path(download.value.path()).read_text())
        assert set(data) == {"case", "identifiers_removed", "modes"} and len(data["modes"]) == 2

        page.get_by_role("link", name="Blind votes").click()
        expect(page.get_by_text("1 votes")).to_be_visible(timeout=60_000)
        browser.close()
