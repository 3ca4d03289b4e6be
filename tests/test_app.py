"""The app through Streamlit's AppTest: it prepares itself on first start, every page renders with
the notice, and the Compare page writes both reports with citations."""
import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 600
PAGES = ["pages/compare.py", "pages/corpus.py", "pages/finetune.py", "pages/evaluate.py", "pages/votes.py",
         "pages/decide.py"]


@pytest.fixture
def app(seeded):
    return AppTest.from_file("../app.py", default_timeout=TIMEOUT)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_notice(app, page):
    at = app.run()
    if page != PAGES[0]:
        at = at.switch_page(page).run()
    assert not at.exception, at.exception
    assert any("not medical advice" in w.value for w in at.warning)
    if page == PAGES[0]:
        from rag_vs_ft import generate
        assert generate.METHOD in [c.value for c in at.caption], "Compare says what each column's method is"


def test_first_start_indexes_the_seed_corpus(data_dir, cfg):
    from rag_vs_ft import index
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert len(index.documents(cfg)) == len(list((cfg.corpus_dir / "research").glob("*.md")))


def test_compare_writes_both_reports_with_citations(app):
    at = app.run()
    first = at.selectbox[0].options[1]
    at.selectbox[0].select(first).run()
    assert at.text_area[0].value.strip(), "picking a held-out case fills the case box"
    at.button(key="write").click().run()
    assert not at.exception, at.exception
    headers = [h.value for h in at.subheader]
    assert headers[:2] == ["Fine-tuned (closed book)", "RAG (open book)"]
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("tokens/s") == 1 and "the model wrote the Assessment" in captions
    assert "LoRA 'finetuned'" in captions and "LoRA 'reader'" in captions
    assert any("2018-12-31" in i.value for i in at.info), "the fine-tuned column states its cutoff"
    labels = [e.label for e in at.expander]
    assert sum(l.startswith("\\[") for l in labels) == 3, "the three retrieved passages are listed, escaped"
    assert sum("· cited" in l.replace("\\", "") for l in labels) == 1
    assert any("Key facts found" in m.value for m in at.markdown)


def test_injection_experiment_runs_and_its_before_after_chart_renders(seeded, cfg):
    """One affected case, half an epoch of continued training: every arm gets a before and an after,
    the result is saved, and the Evaluate page draws it."""
    import json
    from rag_vs_ft import evaluate
    r = evaluate.injection(cfg, limit=1, epochs=0.5)
    evaluate.save(cfg, r, "injection")
    assert r["cases"] == 1 and set(r["arms"]) == {"finetuned", "rag", "finetuned+continued"}
    assert sorted(r["documents"]) == sorted(f.stem for f in (cfg.corpus_dir / "incoming").glob("*.md"))
    for row in r["rows"]:  # one case: each arm's mean is that case's recall, scored on its own
        for phase in ("before", "after"):
            assert r["arms"][row["arm"]][phase]["mean"] == pytest.approx(row[phase], abs=1e-3)
    assert r["arms"]["finetuned"]["before"] == r["arms"]["finetuned"]["after"], "closed book: nothing changes"
    assert json.loads((cfg.eval_dir / "injection.json").read_text())["arms"] == r["arms"]
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    at = at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    charts = at.get("vega_lite_chart")
    assert charts, "the before/after chart is drawn"
    proto = charts[0].proto
    drawn = {(row["method"], row["phase"]): row["recall"]
             for arrow in [d.data for d in proto.datasets] + [proto.data] for row in _rows(arrow)}
    assert drawn == {(arm, phase): v[phase]["mean"] for arm, v in r["arms"].items() for phase in ("before", "after")}


def _rows(arrow) -> list[dict]:
    """The rows a chart draws (Arrow IPC bytes in the message)."""
    import pyarrow as pa
    return pa.ipc.open_stream(arrow.data).read_all().to_pylist() if arrow.data else []


def test_compare_removes_identifiers_before_any_model_sees_them(app, monkeypatch):
    import streamlit as st
    import fakes
    from rag_vs_ft import generate
    monkeypatch.setattr(generate, "Reporter", fakes.Reporter)  # no model needed to see what reaches one
    st.cache_resource.clear()
    seen, stream = [], fakes.Reporter.stream
    monkeypatch.setattr(fakes.Reporter, "stream", lambda self, case, *a, **k: seen.append(case) or stream(self, case, *a, **k))
    at = app.run()
    at.text_area[0].input("Mr. John Smith (MRN 4839201), 64-year-old man with atrial fibrillation, "
                          "CHA2DS2-VASc 3, on no anticoagulant.").run()
    at.button(key="write").click().run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info if "De-identified" in i.value] == [
        "De-identified before any model saw it: 2 identifiers removed ([ID], [NAME])."]
    shown = [t.value for t in at.text] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert "Mr. [NAME] (MRN [ID]), 64-year-old man" in " ".join(shown)
    assert not any("Smith" in v or "4839201" in v for v in shown)
    assert len(seen) == 2 and all("[NAME]" in c and "Smith" not in c and "4839201" not in c for c in seen), seen
    st.cache_resource.clear()


def test_the_finetune_page_says_what_a_running_training_costs_the_other_pages(seeded, cfg):
    """While a training runs, the page quotes the bench's under-load figures (the shipped run here)."""
    import json
    import os
    from rag_vs_ft import bench, decide
    run = cfg.adapters_dir / "busy"
    run.mkdir(parents=True)
    (run / "pid").write_text(str(os.getpid()))  # a live process: the run is not taken for a failed one
    (run / "progress.json").write_text(json.dumps({"status": "training", "step": 3, "max_steps": 35, "epoch": 0.3,
                                                   "eta_s": 200, "history": []}))
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    at.session_state["run"] = "busy"
    at = at.switch_page("pages/finetune.py").run()
    assert not at.exception, at.exception
    said = bench.under_load_text(decide.load_bench(cfg))
    assert "comes first" in said and any(c.value == said for c in at.caption)
