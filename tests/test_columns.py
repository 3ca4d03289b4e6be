"""The columns of a comparison, in the order the Compare page shows them (`columns.write`)."""
import pytest

import fakes
from rag_vs_ft import columns

CASE = "61-year-old man with heart failure, LVEF 30%, NT-proBNP 2100, on ramipril and bisoprolol."


@pytest.fixture
def reporter(seeded, cfg):
    return fakes.Reporter(cfg)


def test_every_column_shows_before_the_first_finishes_and_each_ends_whole(reporter):
    events = list(columns.write(reporter, CASE, ["finetuned", "rag"], every=0))
    order = [(e.mode, "column" if e.column else "text") for e in events]
    first_done = order.index(("finetuned", "column"))
    assert ("rag", "text") in order[:first_done], "the RAG column's restated case shows while the first writes"
    assert order[-1] == ("rag", "column") and order.count(("finetuned", "column")) == 1
    for mode in ("finetuned", "rag"):
        pieces = "".join(e.piece for e in events if e.mode == mode and not e.column)
        col = next(e.column for e in events if e.mode == mode and e.column)
        assert pieces.strip() == col["report"]["report"], "the pieces add up to the report kept"
        texts = [e.text for e in events if e.mode == mode and not e.column]
        assert texts[-1].strip() == col["report"]["report"] and all(b.startswith(a) for a, b in zip(texts, texts[1:]))
    rag = next(e.column for e in events if e.mode == "rag" and e.column)
    assert rag["report"]["citations"] and rag["cited"] == [1 + rag["passages"].index(next(
        p for p in rag["passages"] if p["doc_id"] == rag["report"]["citations"][0]["doc_id"]))]
    assert "the Plan copies the chosen passage" in rag["how"]


def test_a_terminal_gets_one_column_after_another(reporter):
    order = [e.mode for e in columns.write(reporter, CASE, ["finetuned", "rag"], every=0, early=False)]
    assert order == sorted(order, key=["finetuned", "rag"].index)


def test_a_failing_column_says_why_and_the_others_go_on(reporter, monkeypatch):
    monkeypatch.setattr(fakes.Reporter, "fail", {"finetuned"})
    done = {e.mode: e.column for e in columns.write(reporter, CASE, ["finetuned", "rag", "base"]) if e.column}
    assert done["finetuned"] == {"error": "the finetuned model stopped answering"}
    assert done["rag"]["report"]["report"] and done["base"]["report"]["report"]


def test_text_events_come_at_most_every_half_second(reporter):
    texts = [e for e in columns.write(reporter, CASE, ["finetuned"], every=60) if not e.column]
    assert len(texts) == 2, "the first text at once, then the rest when the column ends"
    assert sum(len(e.piece) for e in texts) == len(texts[-1].text)


def test_key_facts_are_checked_in_the_finished_column(reporter):
    facts = [{"fact": "an SGLT2 inhibitor", "any_of": ["dapagliflozin", "empagliflozin"]},
             {"fact": "never said", "any_of": ["zebra-mab"]}]
    col = next(e.column for e in columns.write(reporter, CASE, ["rag"], key_facts=facts) if e.column)
    text = col["report"]["report"].lower()
    assert col["facts"] == {"an SGLT2 inhibitor": "dapagliflozin" in text or "empagliflozin" in text,
                            "never said": False}
