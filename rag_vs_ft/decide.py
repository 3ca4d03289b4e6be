"""The article's "how to decide", as a function of the situation and the measurements at hand.

Each factor adds points to RAG or to fine-tuning, with a reason that quotes the measurement behind
it where there is one. Both scoring high means both: fine-tune for format, retrieve for knowledge.

Both methods are also priced: what a month of reports and of knowledge updates costs in machine
time, from the last evaluation (seconds per report), the last `bench` (memory, ingest speed, training
memory) and the adapter's manifest (a training run): this install's own runs where it has them, else
the shipped runs, and each factor says whose. A factor never measured says so and names the command
that measures it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .config import REPO

DAYS = 30                                           # a month, for the cost model
SHIPPED_BENCH = REPO / "docs" / "runs" / "bench.json"  # a shipped `bench --json`, used until this install runs its own
EVAL_HOW = "python -m rag_vs_ft eval"               # or "Run evaluation" on the Evaluate page
BENCH_HOW = "python -m rag_vs_ft bench"             # `bench --quick` measures the same figures in minutes
TRAIN_HOW = "python -m rag_vs_ft finetune"


@dataclass
class Situation:
    needs_current_knowledge: bool = True   # answers depend on facts newer than the model or external docs
    style_matters_most: bool = False       # the goal is a format, tone or structure, not new facts
    labelled_examples: int = 160           # size of the task's training set (the shipped one's, as the page)
    gpu_available: bool = False            # compute for (re)training
    changes_every_days: float = 30         # how often the knowledge changes, in days; 0 = never
    needs_citations: bool = True           # users must see where a statement comes from
    reports_per_day: float = 50            # reports written a day, for the cost model
    documents_per_change: int = 5          # documents RAG ingests at each change of knowledge


def _metric(result: dict | None, mode: str, name: str):
    try:
        m = result["modes"][mode][name]
        return m if m["mean"] is not None else None
    except (KeyError, TypeError):
        return None


def _fmt(m: dict) -> str:
    return f"{m['mean']:.2f} (95% CI {m['ci95'][0]:.2f}–{m['ci95'][1]:.2f})"


def _injected(injection: dict | None) -> str | None:
    """The knowledge-injection experiment in one line: recall before -> after new documents, per arm."""
    try:
        arms = injection["arms"]
        parts = [f"{name} {arms[arm]['before']['mean']:.2f} → {arms[arm]['after']['mean']:.2f}"
                 for arm, name in (("rag", "RAG"), ("finetuned+continued", "fine-tuning with continued training"))]
    except (KeyError, TypeError):
        return None
    return (f"key-fact recall on {injection['cases']} cases before → after {len(injection['documents'])} "
            f"new documents arrived: " + "; ".join(parts))


def _every(days: float) -> str:
    return f"every {days:g} day" + ("" if days == 1 else "s")


def recommend(s: Situation, result: dict | None = None, injection: dict | None = None,
              costs: dict | None = None) -> dict:
    """{"recommendation": "RAG" | "fine-tuning" | "both", "rag": points, "finetune": points, "reasons": [...]}
    `result` is the last evaluation, `injection` the last knowledge-injection experiment, `costs` the
    monthly cost model (`cost_model`) at the situation's volume and rate of change (all optional)."""
    reasons, rag, ft = [], 0, 0

    def why(side: str, points: int, text: str, evidence: str | None = None):
        nonlocal rag, ft
        rag, ft = (rag + points, ft) if side == "RAG" else (rag, ft + points)
        reasons.append({"favours": side, "points": points, "reason": text, "evidence": evidence})

    recall_rag, recall_ft = _metric(result, "rag", "key_fact_recall"), _metric(result, "finetuned", "key_fact_recall")
    diff = ((result or {}).get("paired") or {}).get("rag - finetuned", {}).get("key_fact_recall")
    evidence = (f"key-fact recall on held-out cases: RAG {_fmt(recall_rag)} vs fine-tuned {_fmt(recall_ft)}"
                if recall_rag and recall_ft else None)
    if evidence and diff and diff["mean"] is not None:
        evidence += f"; paired difference over {diff['cases']} cases {diff['mean']:+.2f} (95% CI " \
                    f"{diff['ci95'][0]:+.2f} to {diff['ci95'][1]:+.2f})"
    if s.needs_current_knowledge:
        why("RAG", 3, "Answers depend on knowledge the model does not have or that is newer than its training data; "
            "retrieval brings it in without retraining.", evidence)
    if diff and diff.get("excludes_zero") and diff["mean"] > 0:
        why("RAG", 2, "In this lab's measurement RAG found more of the expected facts on the same cases, and the "
            "paired interval excludes no difference.", evidence)
    elif diff and diff.get("excludes_zero") and diff["mean"] < 0:
        why("fine-tuning", 2, "In this lab's measurement the fine-tuned model found more of the expected facts on "
            "the same cases.", evidence)
    if s.style_matters_most:
        why("fine-tuning", 3, "The goal is a consistent format or style, which fine-tuning teaches well from examples.")
    if s.labelled_examples < 500:
        mem = _metric(result, "finetuned", "memorization")
        why("RAG", 1, f"Only {s.labelled_examples} labelled examples: a small set overfits; the fine-tuned model "
            "learns the form of its training reports more than what should go in them.",
            f"fine-tuned memorization (share of 8-grams copied from training reports): {_fmt(mem)}" if mem else None)
    else:
        why("fine-tuning", 1, f"{s.labelled_examples} labelled examples are enough to fine-tune without "
            "memorizing them.")
    if not s.gpu_available:
        why("RAG", 1, "No GPU: indexing a document takes seconds on a CPU, retraining takes many minutes.")
    days = s.changes_every_days
    if days and days <= 31:  # weekly or faster counts double, as "weekly" did before days replaced words
        why("RAG", 2 if days <= 7 else 1, f"Knowledge changes {_every(days)}: a fine-tuned model is stale from "
            "the day it is trained; a re-upload updates RAG at once.", _injected(injection))
    elif not days:
        why("fine-tuning", 1, "Knowledge never changes, so a trained model does not go stale.")
    if s.needs_citations:
        prec = _metric(result, "rag", "citation_precision")
        why("RAG", 2, "Citations are required: only RAG can point to the passage a statement comes from.",
            f"RAG citation precision: {_fmt(prec)}" if prec else None)
    if costs and costs.get("monthly"):
        row = {r["key"]: r for r in costs["monthly"]}
        total, per, update = row["total_h"], row["report_s"], row["update_s"]
        if total["RAG"] != total["fine-tuning"]:
            side = "RAG" if total["RAG"] < total["fine-tuning"] else "fine-tuning"
            why(side, 1, f"At {s.reports_per_day:g} reports a day and knowledge changing {_every(days) if days else 'never'}, "
                f"{side} costs less machine time a month at the measured figures (each factor names its run).",
                f"RAG {num(total['RAG'])} vs fine-tuning {num(total['fine-tuning'])} machine-hours a month: "
                f"{num(per['RAG'])} vs {num(per['fine-tuning'])} s per report; an update is "
                f"{num(update['RAG'])} s of ingest vs {num(update['fine-tuning'] / 60)} min of retraining. "
                + costs["summary"])
    if rag >= 3 and ft >= 3:
        choice = "both"
    else:
        choice = "RAG" if rag >= ft else "fine-tuning"
    return {"recommendation": choice, "rag": rag, "finetune": ft, "reasons": reasons}


# ---------------------------------------------------------------- the cost model

def cost_model(reports_per_day: float, changes_every_days: float, rag_report_s: float, ft_report_s: float,
               rag_update_s: float, ft_update_s: float) -> dict:
    """Machine time a month (30 days) for each method: reports × seconds per report, plus updates ×
    seconds per update (RAG: ingest the changed documents; fine-tuning: a retraining). Hours of this
    machine busy, since the seconds are wall-clock on all its cores; no currency, as prices differ.

    Both costs are straight lines in reports a day; the crossover is where they meet at a positive
    volume (None when they never do): below it the method that is cheaper to update costs less,
    above it the one that is faster per report."""
    updates = DAYS / changes_every_days if changes_every_days else 0.0
    line = lambda n, per, upd: (n * DAYS * per + updates * upd) / 3600
    rag_h = lambda n: line(n, rag_report_s, rag_update_s)
    ft_h = lambda n: line(n, ft_report_s, ft_update_s)
    slope = DAYS * (rag_report_s - ft_report_s)        # RAG minus fine-tuning, seconds a month per report a day
    fixed = updates * (ft_update_s - rag_update_s)     # fine-tuning minus RAG, seconds a month of updates
    cross = fixed / slope if slope else None
    cross = cross if cross is not None and cross > 0 else None
    if cross is not None:
        low, high = ("RAG", "fine-tuning") if fixed > 0 else ("fine-tuning", "RAG")
        summary = (f"They cross at {cross:,.1f} reports a day: below it {low} costs less a month (cheaper to "
                   f"update), above it {high} does (faster per report).")
    else:
        probe = max(reports_per_day, 1)
        a, b = rag_h(probe), ft_h(probe)
        summary = ("They cost the same at every volume." if a == b else
                   f"They never cross: {'RAG' if a < b else 'fine-tuning'} costs less a month at every volume.")
    n = reports_per_day
    rows = [("report_s", "seconds per report", rag_report_s, ft_report_s),
            ("reports_h", f"reports: {n:g} a day × {DAYS} days, machine-hours a month",
             n * DAYS * rag_report_s / 3600, n * DAYS * ft_report_s / 3600),
            ("update_s", "one update, seconds (RAG: ingest the changed documents; fine-tuning: retrain)",
             rag_update_s, ft_update_s),
            ("updates", f"updates a month (knowledge changes {_every(changes_every_days) if changes_every_days else 'never'})",
             updates, updates),
            ("updates_h", "updates, machine-hours a month", updates * rag_update_s / 3600, updates * ft_update_s / 3600),
            ("total_h", "total, machine-hours a month", rag_h(n), ft_h(n))]
    top = max(2 * n, 1.5 * cross if cross else 0, 10)
    series = [{"reports per day": x, "method": m, "machine-hours a month": f(x)}
              for x in sorted({0, n, top} | ({cross} if cross else set())) for m, f in (("RAG", rag_h), ("fine-tuning", ft_h))]
    return {"monthly": [{"key": k, "item": item, "RAG": r, "fine-tuning": f} for k, item, r, f in rows],
            "crossover_reports_per_day": cross, "summary": summary, "series": series}


# ---------------------------------------------------------------- measured factors

def load_bench(cfg) -> dict | None:
    """This install's last `bench` (full or --quick), else a shipped one (marked `shipped`), else None."""
    from . import bench
    own = bench.path(cfg)
    if own.is_file():
        return json.loads(own.read_text())
    return json.loads(SHIPPED_BENCH.read_text()) | {"shipped": True} if SHIPPED_BENCH.is_file() else None


def _factor(key: str, factor: str, value, unit: str, source: str | None, how: str) -> dict:
    """One row of evidence: the value with its unit and where it came from, or None and the command
    that would measure it."""
    return {"key": key, "factor": factor, "value": value, "unit": unit,
            "source": source if value is not None else None, "how": None if value is not None else how}


def _eval_source(result: dict) -> str:
    from . import runs
    by = result.get("produced_by") or {}
    who = "the shipped reference evaluation" if result.get("shipped") else "this install's evaluation"
    return f"{who} ({result.get('cases', '?')} cases, {by.get('date', '?')}, {runs.served(by)})"


def _bench_source(b: dict) -> str:
    from . import runs
    by = b.get("produced_by") or {}
    who = "a shipped bench run" if b.get("shipped") else "this install's bench"
    return f"{who} (`{by.get('command', 'python -m rag_vs_ft bench')}`, {by.get('date', '?')}, {runs.served(by)})"


def chunks_per_document(cfg) -> tuple[float | None, str]:
    """Mean chunks per document: the store's catalog if it holds any, else the shipped corpus as
    ingest would cut it (research and incoming)."""
    from . import index
    docs = index.documents(cfg)
    if docs:
        return sum(d["chunks"] for d in docs) / len(docs), f"the store's catalog ({len(docs)} documents)"
    from . import corpus
    counts = [len(corpus.chunk(corpus.read(name, path.read_bytes(), cfg), cfg)) for name, path in
              index.iter_files([cfg.corpus_dir / "research", cfg.corpus_dir / "incoming"])]
    return (sum(counts) / len(counts) if counts else None), f"the shipped corpus ({len(counts)} documents)"


def factors(cfg, result: dict | None, bench: dict | None, adapter: str = "finetuned") -> list[dict]:
    """Every figure the cost model and the page quote, from the evaluation `result`, the `bench`
    result and `adapter`'s manifest."""
    from . import finetune
    out = []
    modes = list((result or {}).get("modes") or {}) or ["finetuned", "rag"]
    for mode in sorted(modes, key=lambda m: (m not in ("finetuned", "rag"), m != "rag")):
        lat = _metric(result, mode, "latency_s")
        out.append(_factor(f"report_s:{mode}", f"seconds per report, {mode}", lat and lat["mean"], "s",
                           result and _eval_source(result), EVAL_HOW))
    b = bench or {}
    src = _bench_source(b) if bench else None
    out.append(_factor("serving_rss_mb", "memory while serving reports (peak RSS of the one process that "
                       "serves every mode)", b.get("rss_mb"), "MB", src, BENCH_HOW))
    speed = b.get("ingest_chunks_s")
    out.append(_factor("ingest_chunks_s", "ingest speed (read → chunk → embed → index)", speed, "chunks/s", src,
                       BENCH_HOW))
    per_doc, where = chunks_per_document(cfg)
    out.append(_factor("chunks_per_document", "chunks per document", per_doc, "chunks", where,
                       "python -m rag_vs_ft ingest PATH"))
    out.append(_factor("ingest_s_per_document", "seconds per ingested document", per_doc / speed if per_doc and
                       speed else None, "s", f"{per_doc:.1f} chunks per document ({where}) ÷ {speed} chunks/s "
                       f"({src})" if per_doc and speed else None, BENCH_HOW))
    folder = finetune.adapter_dir(cfg, adapter)
    m = finetune.read_manifest(folder)
    named = f"adapter '{adapter}' manifest ({m.get('created', '?')}, {m.get('device', '?')})"
    examples = m.get("train_examples", 0) + m.get("val_examples", 0) if m else None
    out.append(_factor("training_examples", "examples in a training run (train + validation)", examples, "examples",
                       f"{named}: {m.get('train_examples')} + {m.get('val_examples')}" if m else None, TRAIN_HOW))
    if m.get("wall_s") is not None:
        minutes, whence = m["wall_s"] / 60, f"{named}: {m.get('steps')} steps in {m['wall_s']} s"
    elif m.get("steps") and b.get("finetune_s_per_step"):
        minutes = m["steps"] * b["finetune_s_per_step"] / 60
        whence = f"estimate: {m['steps']} steps ({named}) × {b['finetune_s_per_step']} s per step ({src})"
    else:
        minutes, whence = None, None
    out.append(_factor("training_minutes", "minutes for a training run", minutes, "min", whence, TRAIN_HOW))
    if m.get("peak_rss_mb") is not None:
        peak, whence = m["peak_rss_mb"], named
    elif b.get("finetune_peak_rss_mb") is not None:
        peak, whence = b["finetune_peak_rss_mb"], f"{src}, training on a 12-example slice in a fresh process"
    else:
        peak, whence = None, None
    out.append(_factor("training_peak_rss_mb", "peak memory of a training run (RSS)", peak, "MB", whence, BENCH_HOW))
    return out


def costs(fs: list[dict], s: Situation) -> dict:
    """The cost model on the measured factors at the situation's volume and rate of change; without
    every factor it needs, the ones missing (each with the command that measures it) and no figures."""
    v = {f["key"]: f for f in fs}
    need = ["report_s:rag", "report_s:finetuned", "ingest_s_per_document", "training_minutes"]
    missing = [v.get(k) or _factor(k, k, None, "", None, EVAL_HOW) for k in need]
    missing = [f for f in missing if f["value"] is None]
    base = {"inputs": {"reports_per_day": s.reports_per_day, "changes_every_days": s.changes_every_days,
                       "documents_per_change": s.documents_per_change}, "missing": missing}
    if missing:
        return base | {"monthly": [], "crossover_reports_per_day": None, "series": [],
                       "summary": "Not priced yet: " + "; ".join(f"{f['factor']} (run `{f['how']}`)" for f in missing)}
    return base | cost_model(s.reports_per_day, s.changes_every_days, v["report_s:rag"]["value"],
                             v["report_s:finetuned"]["value"],
                             s.documents_per_change * v["ingest_s_per_document"]["value"],
                             v["training_minutes"]["value"] * 60)


def decision(cfg, s: Situation, adapter: str = "finetuned") -> dict:
    """What the page and `decide --json` show: the recommendation, its reasons and the priced costs,
    from this install's results (or the shipped ones until it has its own)."""
    from . import evaluate
    result, injection = evaluate.load(cfg), evaluate.load(cfg, "injection")
    fs = factors(cfg, result, load_bench(cfg), adapter)
    c = costs(fs, s)
    r = recommend(s, result, injection, c)
    return r | {"costs": {"factors": fs} | c, "measurements": evaluate.source(result) if result else None}


def num(x: float) -> str:
    """Three significant figures, whole numbers from 1,000 up."""
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def value_text(f: dict) -> str:
    """A factor as the page and the CLI print it."""
    return f"not measured yet — run `{f['how']}`" if f["value"] is None else f"{num(f['value'])} {f['unit']}"


def text(d: dict) -> str:
    """`decide` without --json: the recommendation, its reasons, the factors and the cost table."""
    lines = [f"recommendation: {d['recommendation']} (points: RAG {d['rag']}, fine-tuning {d['finetune']})", ""]
    for r in d["reasons"]:
        lines.append(f"- {r['favours']} +{r['points']}: {r['reason']}")
        if r["evidence"]:
            lines.append(f"    measured: {r['evidence']}")
    c = d["costs"]
    lines += ["", "measured factors:"]
    lines += [f"  {f['factor']}: {value_text(f)}" + (f" [{f['source']}]" if f["source"] else "") for f in c["factors"]]
    lines += ["", f"monthly cost at {c['inputs']['reports_per_day']:g} reports a day:"]
    lines += [f"  {r['item']}: RAG {num(r['RAG'])}, fine-tuning {num(r['fine-tuning'])}" for r in c["monthly"]]
    return "\n".join(lines + [f"  {c['summary']}"])
