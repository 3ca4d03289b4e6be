"""The live demo through Streamlit's AppTest, over a real index with a reporter that has no model
(`fakes.Reporter`: real retrieval and choice of passage, deterministic text), so it runs in seconds:
the story replayed in three clicks (and undone), a blind vote stored and tallied, a comparison reopened
from the session's history without regenerating and downloaded as Markdown and JSON. The real model
writes the Compare page's columns in `test_app.py` and in the real browser (`test_browser.py`)."""
import csv
import io
import json
import re

import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from rag_vs_ft import comparison, generate, story, votes

TIMEOUT = 120
AF = "64-year-old man with atrial fibrillation, CHA2DS2-VASc 3, on no anticoagulant."


@pytest.fixture
def app(seeded, monkeypatch):
    import streamlit as st
    import fakes
    monkeypatch.setattr(generate, "Reporter", fakes.Reporter)
    st.cache_resource.clear()  # the app's reporter is made again, as the fake
    yield AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    st.cache_resource.clear()


def rag_citations(at) -> list[str]:
    return [c["doc_id"] for c in at.session_state["history"][-1]["modes"]["rag"]["report"]["citations"]]


def served(at, label: str) -> str:
    """The file id behind a download button: a hash of the exact bytes it serves."""
    button = next(e for e in at.get("download_button") if e.proto.label == label)
    return button.proto.url.rsplit("/", 1)[-1].split(".")[0]


def test_replay_the_story_before_add_after_and_back(app, cfg):
    at = app
    assert story.INTRO in [m.value for m in at.markdown], "the story is told on arrival"
    new = sorted(f.stem for f in (cfg.corpus_dir / "incoming").glob("*.md"))
    assert story.added(cfg) == [] and at.button(key="story-3").disabled, "a fresh install starts before the news"

    at.button(key="story-1").click().run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader][:2] == ["Fine-tuned (closed book)", "RAG (open book)"]
    assert any("Reads the research corpus as of 2018-12-31" in i.value for i in at.info)
    before = rag_citations(at)
    assert before and not set(before) & set(new), "as of the cutoff, the new research cannot be cited"

    at.button(key="story-2").click().run()
    assert not at.exception, at.exception
    assert story.added(cfg) == new
    assert any("Added 4 documents" in s.value for s in at.success)
    assert at.button(key="story-2").disabled and not at.button(key="story-3").disabled

    at.button(key="story-3").click().run()
    assert not at.exception, at.exception
    after = rag_citations(at)
    assert "surmount-osa-2024" in after and "surmount-osa-2024" not in before
    highlight = [s.value for s in at.success if "New citation" in s.value]
    assert highlight and "SURMOUNT" in highlight[0] and "not cited in step 1" in highlight[0]
    assert any("· cited" in e.label.replace("\\", "") and "🆕 new research" in e.label for e in at.expander)
    facts = at.session_state["history"][-1]["modes"]
    assert sum(facts["rag"]["facts"].values()) > sum(at.session_state["history"][0]["modes"]["rag"]["facts"].values())

    at.button(key="story-undo").click().run()
    assert not at.exception, at.exception
    assert story.added(cfg) == [] and not at.button(key="story-2").disabled, "the next audience starts again"


def test_a_blind_vote_is_stored_tallied_and_exported(app, cfg):
    at = app
    at.sidebar.toggle[0].set_value(True).run()
    at.text_area[0].input(AF).run()
    at.button(key="write").click().run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader][:2] == ["A", "B"], "method names are hidden before the vote"
    assert not at.get("download_button"), "a download would name the methods"
    rec = at.session_state["history"][-1]
    a, b = rec["blind"]["A"], rec["blind"]["B"]
    assert a != b and {a, b} <= set(generate.MODES)

    at.button(key="vote-B").click().run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader][:2] == [f"A · {generate.LABELS[a]}", f"B · {generate.LABELS[b]}"]
    (row,) = votes.rows(cfg)
    assert (row["mode_a"], row["mode_b"], row["vote"]) == (a, b, "B")
    assert row["case_text"] == AF and row["report_b"] == rec["modes"][b]["report"]["report"] != ""
    t = votes.tally(votes.rows(cfg))
    assert t["methods"][b]["wins"] == 1 and t["methods"][a]["losses"] == 1
    exported = list(csv.DictReader(io.StringIO(votes.to_csv(votes.rows(cfg)))))
    assert [(r["mode_a"], r["mode_b"], r["vote"]) for r in exported] == [(a, b, "B")]

    at = at.switch_page("pages/votes.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert dict(zip(table["method"], table["won"])) == {generate.LABELS[a]: 0, generate.LABELS[b]: 1}
    assert served(at, "Download every vote (CSV)") == _calculate_file_id(
        votes.to_csv(votes.rows(cfg)).encode(), "text/csv", "votes.csv")


def test_history_reopens_without_regenerating_and_downloads_markdown_and_json(app, monkeypatch):
    at = app
    first = at.selectbox[0].options[1]
    at.selectbox[0].select(first).run()
    at.button(key="write").click().run()
    at.text_area[0].input(AF).run()
    at.button(key="write").click().run()
    assert not at.exception, at.exception
    old, new = at.session_state["history"]
    assert old["case_id"] == first.split(" · ")[0] and new["case"] == AF

    monkeypatch.setattr(generate.Reporter, "stream", lambda *a, **k: pytest.fail("reopening regenerated a report"))
    at.sidebar.button(key=f"open-{old['id']}").click().run()
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.markdown).replace("\\", "")
    for mode in ("finetuned", "rag"):
        assert old["modes"][mode]["report"]["report"].split("\n")[0].replace("  ", "") in shown
    assert len(at.session_state["history"]) == 2, "reopening adds nothing"

    md, js = comparison.markdown(old), comparison.dumps(old)
    assert generate.NOTICE in md and comparison.escape(old["case"]) in md
    cited = old["modes"]["rag"]["report"]["citations"][0]
    assert comparison.escape(f"[{old['modes']['rag']['cited'][0]}] {cited['title']}") in md
    data = json.loads(js)
    assert set(data) == {"case", "identifiers_removed", "modes"}, "the `report --json` shape"
    assert all(set(m) == {"report", "model", "citations", "seconds", "tokens"} for m in data["modes"].values())
    assert served(at, "Download Markdown") == _calculate_file_id(md.encode(), "text/markdown",
                                                                 f"comparison-{old['id']}.md")
    assert served(at, "Download JSON") == _calculate_file_id(js.encode(), "application/json",
                                                             f"comparison-{old['id']}.json")


def test_the_markdown_download_keeps_case_and_report_text_inert():
    """Typed or uploaded text must not become a link, an image or HTML where the download is rendered."""
    r = generate.Report("finetuned", "a model", text="Plan: see [here](http://x.example) <img src=x onerror=alert(1)>")
    rec = comparison.build("# Heading\n<script>alert(1)</script> ![i](http://x.example/i.png)", 0,
                           {"adapter": "finetuned", "as_of": None, "modes": ["finetuned"]},
                           {"finetuned": comparison.column(r)})
    md = comparison.markdown(rec)
    assert not re.search(r"(?<!\\)<", md), "no unescaped HTML"
    assert not re.search(r"(?<!\\)\]\(", md), "no link or image"
    assert "\n# Heading" not in md
    assert "\\<script\\>" in md and "\\[here\\]\\(http" in md
