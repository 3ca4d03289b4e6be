"""The shipped reference run (docs/reference/) is what a fresh install shows on the Evaluate and
Decide pages. It must match the shipped adapters, corpus and cases by hash, or it has gone stale:
re-run the README's evaluation commands and copy the results there."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from rag_vs_ft import config, evaluate


@pytest.mark.parametrize("name", ["last", "injection"])
def test_shipped_results_match_the_shipped_adapters_corpus_and_cases(name):
    shipped = json.loads((evaluate.REFERENCE / f"{name}.json").read_text())
    by = shipped["produced_by"]
    now = evaluate.provenance(config.load(), shipped.get("case_set", "heldout"))
    assert by["command"].startswith("python -m rag_vs_ft eval") and by["backend"] and by["date"]
    assert by["adapters"] == now["adapters"], "the adapters changed since the reference run"
    assert by["corpus_sha256"] == now["corpus_sha256"], "the corpus changed since the reference run"
    assert by["cases_sha256"] == now["cases_sha256"], "the cases changed since the reference run"


def test_a_fresh_install_shows_the_shipped_numbers_until_it_runs_its_own(seeded, cfg):
    at = AppTest.from_file("../app.py", default_timeout=300).run()
    at = at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    assert not [i.value for i in at.info if "No evaluation yet" in i.value]
    assert sum(c.value.startswith("Shipped reference run") for c in at.caption) == 2  # evaluation, injection
    assert at.dataframe, "the per-mode table is drawn"
    at = at.switch_page("pages/decide.py").run()
    assert not [i.value for i in at.info if "No evaluation yet" in i.value]
    assert any(c.value.startswith("Measurements: Shipped reference run") for c in at.caption)
    local = evaluate.load(cfg) | {"shipped": False}
    evaluate.save(cfg, {k: v for k, v in local.items() if k != "shipped"})
    assert "shipped" not in evaluate.load(cfg) and evaluate.source(evaluate.load(cfg)).startswith("This install")
