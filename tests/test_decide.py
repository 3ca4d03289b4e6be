"""Decide: the recommendation's reasons, the cost model's arithmetic, the measured factors read from
the files `eval`, `bench` and `finetune` write, `decide --json`, and the page."""
import json

import pytest

from rag_vs_ft import bench, cli, decide, evaluate, finetune

# The keys `bench.run` returns that Decide reads, with the others it saves beside them.
BENCH = {"backend": "llamacpp", "report_s": {"finetuned": 2.1, "rag": 1.1, "base": 2.0, "hybrid": 4.9},
         "generation_tok_s": {"finetuned": 60.0, "rag": 0.0, "base": 61.0, "hybrid": 40.0}, "rss_mb": 1432.7,
         "ingest_chunks_s": 48.0, "finetune_s_per_step": 7.5, "finetune_s_per_epoch": 262.5,
         "finetune_steps_per_epoch": 35, "finetune_peak_rss_mb": 6512.3,
         "produced_by": {"command": "python -m rag_vs_ft bench --quick", "date": "2026-12-08", "quick": True}}


@pytest.fixture(autouse=True)
def no_shipped_bench(tmp_path, monkeypatch):
    """Only what a test saves counts, whether or not a bench run is shipped in docs/runs/."""
    monkeypatch.setattr(decide, "SHIPPED_BENCH", tmp_path / "no-shipped-bench.json")


def saved_eval(cfg, rag_s: float = 1.7, ft_s: float = 3.1) -> dict:
    """The shipped reference run with this test's latencies, saved the way `eval` saves it."""
    result = json.loads((evaluate.REFERENCE / "last.json").read_text())
    result["modes"]["rag"]["latency_s"]["mean"], result["modes"]["finetuned"]["latency_s"]["mean"] = rag_s, ft_s
    evaluate.save(cfg, result)
    return result


def write_catalog(cfg, chunks: list[int]) -> None:
    """A store catalog of documents with these chunk counts, as `index` writes it."""
    docs = {f"doc-{i}": {"id": f"doc-{i}", "published": "2020-01-01", "chunks": n} for i, n in enumerate(chunks)}
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    (cfg.data_dir / "catalog.json").write_text(json.dumps({"documents": docs, "log": []}))


def by_key(rows: list[dict]) -> dict:
    return {r["key"]: r for r in rows}


# ---------------------------------------------------------------- the recommendation

def test_recommendation_quotes_the_measurements():
    result = {"modes": {"rag": {"key_fact_recall": {"mean": 0.8, "ci95": [0.7, 0.9]},
                                "citation_precision": {"mean": 0.6, "ci95": [0.5, 0.7]}},
                        "finetuned": {"key_fact_recall": {"mean": 0.3, "ci95": [0.2, 0.4]},
                                      "memorization": {"mean": 0.4, "ci95": [0.3, 0.5]}}}}
    r = decide.recommend(decide.Situation(), result)
    assert r["recommendation"] == "RAG"
    evidence = " ".join(x["evidence"] or "" for x in r["reasons"])
    assert "RAG 0.80 (95% CI 0.70–0.90) vs fine-tuned 0.30" in evidence and "0.60" in evidence
    assert not any("paired" in x["reason"] for x in r["reasons"]), "no paired result, no claim of a difference"
    result["paired"] = {"rag - finetuned": {"key_fact_recall": {"mean": 0.5, "ci95": [0.3, 0.7], "cases": 36,
                                                                "excludes_zero": True}}}
    paired = decide.recommend(decide.Situation(), result)
    reason = next(x for x in paired["reasons"] if "paired interval" in x["reason"])
    assert reason["points"] == 2 and "paired difference over 36 cases +0.50 (95% CI +0.30 to +0.70)" in reason["evidence"]
    style = decide.recommend(decide.Situation(needs_current_knowledge=False, style_matters_most=True,
                                              labelled_examples=5000, gpu_available=True,
                                              changes_every_days=0, needs_citations=False))
    assert style["recommendation"] == "fine-tuning" and style["rag"] == 0
    both = decide.recommend(decide.Situation(style_matters_most=True, labelled_examples=5000, gpu_available=True))
    assert both["recommendation"] == "both"


def test_recommendation_quotes_the_knowledge_injection_experiment():
    arm = lambda before, after: {"before": {"mean": before, "ci95": [0, 1]}, "after": {"mean": after, "ci95": [0, 1]}}
    injection = {"cases": 8, "documents": ["a", "b", "c", "d"], "arms": {
        "finetuned": arm(0.31, 0.31), "rag": arm(0.125, 0.625), "finetuned+continued": arm(0.31, 0.125)}}
    r = decide.recommend(decide.Situation(changes_every_days=7), None, injection)
    changes = next(x for x in r["reasons"] if "Knowledge changes every 7 days" in x["reason"])
    assert changes["evidence"] == ("key-fact recall on 8 cases before → after 4 new documents arrived: "
                                   "RAG 0.12 → 0.62; fine-tuning with continued training 0.31 → 0.12")
    assert decide.recommend(decide.Situation(changes_every_days=7), None, {"broken": 1})["reasons"]


@pytest.mark.parametrize("days, side, points", [(0, "fine-tuning", 1), (3, "RAG", 2), (7, "RAG", 2),
                                                (30, "RAG", 1), (45, None, 0), (365, None, 0)])
def test_how_often_knowledge_changes_weighs_as_the_old_words_did(days, side, points):
    """never -> fine-tuning +1; weekly (or faster) -> RAG +2; monthly -> RAG +1; yearly -> nothing."""
    reasons = decide.recommend(decide.Situation(changes_every_days=days))["reasons"]
    found = [(x["favours"], x["points"]) for x in reasons if "Knowledge" in x["reason"]]
    assert found == ([(side, points)] if side else [])


# ---------------------------------------------------------------- the cost model

def test_monthly_cost_is_reports_times_seconds_plus_updates_times_their_cost():
    n, m, rag_s, ft_s, ingest, train = 40, 10, 1.5, 2.0, 30.0, 1200.0
    c = decide.cost_model(n, m, rag_s, ft_s, ingest, train)
    rows = by_key(c["monthly"])
    reports, updates = n * 30, 30 / m
    assert rows["report_s"]["RAG"] == rag_s and rows["report_s"]["fine-tuning"] == ft_s
    assert rows["reports_h"]["RAG"] == pytest.approx(1200 * 1.5 / 3600)
    assert rows["updates"]["RAG"] == rows["updates"]["fine-tuning"] == pytest.approx(3)
    assert rows["updates_h"]["fine-tuning"] == pytest.approx(3 * 1200 / 3600)
    assert rows["total_h"]["RAG"] == pytest.approx((reports * rag_s + updates * ingest) / 3600) == pytest.approx(0.525)
    assert rows["total_h"]["fine-tuning"] == pytest.approx((2400 + 3600) / 3600)
    # RAG is faster per report and cheaper to update: the lines never meet at a positive volume
    assert c["crossover_reports_per_day"] is None and "RAG costs less a month at every volume" in c["summary"]
    assert decide.cost_model(n, 0, rag_s, ft_s, ingest, train)["monthly"][-1]["RAG"] == pytest.approx(1800 / 3600), \
        "knowledge that never changes costs no updates"


def test_the_crossover_is_where_both_lines_meet():
    # RAG slower per report (3 s vs 1 s) but cheaper to update (60 s vs 1860 s), 3 updates a month:
    # 90·30·3 + 3·60 = 8280 = 90·30·1 + 3·1860
    c = decide.cost_model(50, 10, 3.0, 1.0, 60.0, 1860.0)
    assert c["crossover_reports_per_day"] == pytest.approx(90)
    assert "below it RAG costs less" in c["summary"] and "above it fine-tuning does" in c["summary"]
    series = {(p["reports per day"], p["method"]): p["machine-hours a month"] for p in c["series"]}
    assert series[(c["crossover_reports_per_day"], "RAG")] == pytest.approx(8280 / 3600)
    assert series[(c["crossover_reports_per_day"], "fine-tuning")] == pytest.approx(8280 / 3600)
    assert series[(0, "RAG")] == pytest.approx(180 / 3600) and series[(0, "fine-tuning")] == pytest.approx(5580 / 3600)
    assert max(x for x, _ in series) > 90, "the chart reaches past the crossover"
    # the other way round: RAG faster per report, but each change means many documents to ingest
    c = decide.cost_model(50, 30, 1.0, 2.0, 600.0, 60.0)
    assert c["crossover_reports_per_day"] == pytest.approx((600 - 60) / 30)  # 1 update a month
    assert "below it fine-tuning costs less" in c["summary"] and "above it RAG does" in c["summary"]
    assert decide.cost_model(50, 30, 2.0, 2.0, 60.0, 600.0)["crossover_reports_per_day"] is None, "parallel lines"


# ---------------------------------------------------------------- measured factors

def test_factors_come_from_the_saved_evaluation_bench_and_manifest(cfg):
    saved_eval(cfg, rag_s=1.7, ft_s=3.1)
    bench.save(cfg, BENCH)
    write_catalog(cfg, [4, 8, 9])
    f = by_key(decide.factors(cfg, evaluate.load(cfg), decide.load_bench(cfg)))
    assert f["report_s:rag"]["value"] == 1.7 and f["report_s:finetuned"]["value"] == 3.1
    assert "this install's evaluation" in f["report_s:rag"]["source"]
    assert f["serving_rss_mb"]["value"] == 1432.7 and "bench --quick" in f["serving_rss_mb"]["source"]
    assert f["chunks_per_document"]["value"] == pytest.approx(7) and "catalog (3 documents)" in f["chunks_per_document"]["source"]
    assert f["ingest_s_per_document"]["value"] == pytest.approx(7 / 48)
    manifest = json.loads((finetune.SHIPPED / "finetuned" / "manifest.json").read_text())
    assert f["training_examples"]["value"] == manifest["train_examples"] + manifest["val_examples"]
    assert f["training_minutes"]["value"] == pytest.approx(manifest["wall_s"] / 60)
    assert f["training_peak_rss_mb"]["value"] == 6512.3 and "12-example" in f["training_peak_rss_mb"]["source"]
    assert all(x["value"] is not None and x["how"] is None for x in f.values())
    # priced on exactly those figures, 5 documents a change by default
    s = decide.Situation(reports_per_day=20, changes_every_days=15)
    total = by_key(decide.costs(list(f.values()), s)["monthly"])["total_h"]
    assert total["RAG"] == pytest.approx((20 * 30 * 1.7 + 2 * 5 * 7 / 48) / 3600)
    assert total["fine-tuning"] == pytest.approx((20 * 30 * 3.1 + 2 * manifest["wall_s"]) / 3600)


def test_a_new_manifest_s_memory_wins_and_missing_time_is_an_estimate(cfg):
    bench.save(cfg, BENCH)
    folder = cfg.adapters_dir / "mine"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"train_examples": 8, "val_examples": 2, "steps": 10,
                                                      "peak_rss_mb": 5000.0, "created": "2026-12-08T10:00:00"}))
    f = by_key(decide.factors(cfg, None, decide.load_bench(cfg), adapter="mine"))
    assert f["training_examples"]["value"] == 10
    assert f["training_minutes"]["value"] == pytest.approx(10 * 7.5 / 60)
    assert f["training_minutes"]["source"].startswith("estimate: 10 steps")
    assert f["training_peak_rss_mb"]["value"] == 5000.0 and "adapter 'mine'" in f["training_peak_rss_mb"]["source"]


def test_what_was_never_measured_says_so_and_how_to_measure_it(cfg):
    assert decide.load_bench(cfg) is None
    fs = decide.factors(cfg, None, None, adapter="never-trained")
    f = by_key(fs)
    for key in ("report_s:rag", "report_s:finetuned", "serving_rss_mb", "ingest_chunks_s", "ingest_s_per_document",
                "training_examples", "training_minutes", "training_peak_rss_mb"):
        assert f[key]["value"] is None and f[key]["source"] is None and f[key]["how"].startswith("python -m rag_vs_ft ")
        assert decide.value_text(f[key]) == f"not measured yet — run `{f[key]['how']}`"
    assert f["serving_rss_mb"]["how"] == "python -m rag_vs_ft bench"
    assert f["report_s:rag"]["how"] == "python -m rag_vs_ft eval"
    assert f["chunks_per_document"]["value"] > 0 and "shipped corpus" in f["chunks_per_document"]["source"]
    c = decide.costs(fs, decide.Situation())
    assert c["monthly"] == [] and c["crossover_reports_per_day"] is None
    assert {x["key"] for x in c["missing"]} == {"report_s:rag", "report_s:finetuned", "ingest_s_per_document",
                                                "training_minutes"}
    assert c["summary"].startswith("Not priced yet") and "`python -m rag_vs_ft bench`" in c["summary"]
    assert not any(r["reason"].startswith("At ") for r in decide.recommend(decide.Situation(), None, None, c)["reasons"])


def test_bench_keeps_its_figures_for_decide(cfg, monkeypatch, capsys):
    """`bench` (full or --quick) saves what it prints; Decide reads it back."""
    monkeypatch.setattr(bench, "run", lambda cfg, quick, progress: dict(BENCH, produced_by={"code": "x"}))
    monkeypatch.setattr(bench, "table", lambda r: "table")
    assert cli.main(["bench", "--quick", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((cfg.eval_dir / "bench.json").read_text())
    assert saved == printed and saved["rss_mb"] == BENCH["rss_mb"] and saved["produced_by"]["quick"] is True
    assert decide.load_bench(cfg)["ingest_chunks_s"] == BENCH["ingest_chunks_s"]


# ---------------------------------------------------------------- the CLI and the page

def test_decide_json_gives_the_same_recommendation_reasons_and_costs(cfg, capsys):
    saved_eval(cfg, rag_s=4.0, ft_s=1.0)  # RAG slower per report: a crossover exists
    bench.save(cfg, BENCH)
    write_catalog(cfg, [6, 6])
    args = ["decide", "--json", "--reports-per-day", "120", "--changes-every-days", "7", "--documents-per-change", "3",
            "--labelled-examples", "900", "--gpu", "--style", "--no-citations"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    s = decide.Situation(needs_current_knowledge=True, style_matters_most=True, labelled_examples=900,
                         gpu_available=True, changes_every_days=7, needs_citations=False, reports_per_day=120,
                         documents_per_change=3)
    fs = decide.factors(cfg, evaluate.load(cfg), decide.load_bench(cfg))
    c = decide.costs(fs, s)
    r = decide.recommend(s, evaluate.load(cfg), evaluate.load(cfg, "injection"), c)
    assert (out["recommendation"], out["rag"], out["finetune"], out["reasons"]) == (
        r["recommendation"], r["rag"], r["finetune"], r["reasons"])
    assert out["costs"]["factors"] == fs and out["costs"]["monthly"] == c["monthly"]
    train_s = json.loads((finetune.SHIPPED / "finetuned" / "manifest.json").read_text())["wall_s"]
    total = by_key(out["costs"]["monthly"])["total_h"]
    assert total["RAG"] == pytest.approx((120 * 30 * 4.0 + 30 / 7 * 3 * 6 / 48) / 3600)
    assert total["fine-tuning"] == pytest.approx((120 * 30 * 1.0 + 30 / 7 * train_s) / 3600)
    assert out["costs"]["crossover_reports_per_day"] == pytest.approx((train_s - 3 * 6 / 48) / (7 * (4.0 - 1.0)))
    cost = [x for x in out["reasons"] if x["reason"].startswith("At 120 reports a day")]
    assert len(cost) == 1 and cost[0]["favours"] == "fine-tuning", "at 120 a day, above the crossover"
    assert cli.main(["decide", "--reports-per-day", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("recommendation: ") and "total, machine-hours a month" in text and "They cross at" in text
    assert cli.main(["decide", "--changes-every-days", "-1"]) == 2


def _rows(arrow) -> list[dict]:
    import pyarrow as pa
    return pa.ipc.open_stream(arrow.data).read_all().to_pylist() if arrow.data else []


def test_the_page_shows_the_factors_the_costs_and_the_crossover(seeded, cfg):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("../app.py", default_timeout=300).run()
    at = at.switch_page("pages/decide.py").run()
    assert not at.exception, at.exception
    factors = at.dataframe[0].value
    assert (factors.loc[factors.factor == "seconds per ingested document", "value"].item()
            == "not measured yet — run `python -m rag_vs_ft bench`")
    assert any(i.value.startswith("Not priced yet") for i in at.info) and not at.get("vega_lite_chart")

    saved_eval(cfg, rag_s=4.0, ft_s=1.0)
    bench.save(cfg, BENCH)
    next(n for n in at.number_input if n.label.startswith("Reports a day")).set_value(30.0)
    at = at.run()
    assert not at.exception, at.exception
    factors = at.dataframe[0].value
    assert not factors.value.str.startswith("not measured").any(), factors
    monthly = at.dataframe[1].value
    assert list(monthly.columns) == ["item", "RAG", "fine-tuning"] and monthly.item.iloc[-1].startswith("total")
    assert any(h.value == "Machine time a month at 30 reports a day" for h in at.subheader)
    proto = at.get("vega_lite_chart")[0].proto
    drawn = [row for arrow in [d.data for d in proto.datasets] + [proto.data] for row in _rows(arrow)]
    d = decide.decision(cfg, decide.Situation(reports_per_day=30))
    assert {row["method"] for row in drawn if "method" in row} == {"RAG", "fine-tuning"}
    marks = {row["what"]: row["at"] for row in drawn if "what" in row}
    assert marks.keys() == {"your volume", "crossover"} and marks["your volume"] == 30
    assert marks["crossover"] == pytest.approx(d["costs"]["crossover_reports_per_day"])
