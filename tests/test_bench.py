"""`bench --quick --json` prints every figure the benchmark promises, with the issue's keys."""
import json
import subprocess
import sys

import pytest

from rag_vs_ft import bench


@pytest.mark.slow
def test_quick_bench_prints_every_figure(seeded):
    out = subprocess.run([sys.executable, "-m", "rag_vs_ft", "bench", "--quick", "--json"], check=True,
                         capture_output=True, text=True).stdout
    r = json.loads(out)
    assert set(r["generation_tok_s"]) == {"finetuned", "rag", "base", "hybrid"}
    assert all(v > 0 for m, v in r["generation_tok_s"].items() if m != "rag") and r["report_s"]["rag"] > 0
    assert "llamacpp_tok_s" in r and r["embed_chunks_s"] > 0 and r["finetune_s_per_step"] > 0
    assert set(r["retrieval_ms"]) == {"1000", "5000"}
    assert all(0 < v["p50"] <= v["p95"] for v in r["retrieval_ms"].values())
    assert set(r["hybrid_retrieval_ms"]) == {"1000", "5000"} and r["lexical_ms"]["chunks"] == 5000
    assert set(r["ttft_s"]) == set(r["app_tok_s"]) == set(r["generation_tok_s"]) and r["app_compare_s"] > 0
    assert all(v > 0 for m, v in r["app_tok_s"].items() if m != "rag") and r["ingest_chunks_s"] > 0
    assert set(r["embedders"]["chunks_s"]) == {"ours", "chroma_default", "onnx"}
    assert r["embedders"]["min_cosine_onnx_vs_ours"] >= 0.999
    assert r["first_report_s"] > 0 and r["rss_mb"] > 0 and r["finetune_peak_rss_mb"] > 0
    for v in [*r["retrieval_ms"].values(), *r["hybrid_retrieval_ms"].values()]:  # percentiles of their own samples
        assert {k: v[k] for k in bench.percentiles(v["samples_ms"])} == bench.percentiles(v["samples_ms"])
    assert r["first_report_s"] > r["engine_ttft_s"]["finetuned"], "a fresh process loads the model first"
    soak = r["soak"]
    assert soak["consistent"] and not soak["errors"] and soak["reports"] == soak["expected"]
    u = r["under_load"]  # a report beside a training: every figure from this run's own samples
    assert bench.load_figures(u) == {k: {x: u[k][x] for x in bench.load_figures(u)[k]} for k in bench.load_figures(u)}
    assert len(u["report_tok_s"]["samples"]["training"]) == 1 and len(u["train_s_per_step"]["boundaries"]["reports"]) > 2
    assert u["report_tok_s"]["ratio"] >= bench.UNDER_LOAD_TARGETS["report_tok_s"], u
