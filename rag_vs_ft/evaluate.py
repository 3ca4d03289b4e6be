"""Score every mode on the held-out cases, the way the fine-tuning-vs-retrieval papers do.

    python -m rag_vs_ft eval --json            # all held-out cases, every mode
    python -m rag_vs_ft eval --limit 3 --mode finetuned,rag

Metrics per report: key-fact recall (expected facts matched with synonyms), citation precision
(cited passages that support the sentence citing them), unsupported claims (drug or test names in
neither the case nor the retrieved passages), memorization (8-gram overlap with training reports),
ROUGE-L F1 against the reference report, latency. Means carry 95% bootstrap intervals. Reports
are cached by a hash of everything that determines them, so an unchanged re-run is instant.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from . import cases, memorize, support

DRUG = re.compile(r"\b[a-z]{3,}(?:flozin|gliflozin|pril|sartan|olol|dipine|statin|glutide|tide|mab|parin|"
                  r"xaban|gatran|mycin|cillin|floxacin|cycline|sone|lone|terol|tropium|nide|semide|thiazide|"
                  r"formin|gliptin|renone|lactone|sacubitril|arin|azole|idine|afil|ivabradine|tiazem|"
                  r"amil|darone|nacin|mibe|coxib)\b", re.I)
TESTS = ["hba1c", "egfr", "uacr", "albumin-to-creatinine", "ldl", "bnp", "nt-probnp", "echocardiogram",
         "spirometry", "chest x-ray", "troponin", "potassium", "creatinine", "ecg", "holter", "ct scan",
         "eosinophil", "procalcitonin", "sputum culture", "blood culture", "lipid panel", "tsh", "inr"]


def key_fact_recall(report: str, key_facts: list[dict]) -> float:
    found = cases.facts_found(report, key_facts)
    return sum(found.values()) / len(found) if found else 0.0


def citation_precision(report: str, passages: list[str]) -> float | None:
    """Of the sentences that cite [n], the share whose cited passage supports them; None if none cite."""
    cited = [(s, int(n)) for s in support.sentences(report) for n in re.findall(r"\[(\d+)\]", s)]
    if not cited:
        return None
    ok = sum(1 <= n <= len(passages) and support.support(s, passages[n - 1]) >= support.THRESHOLD
             for s, n in cited)
    return ok / len(cited)


def names(text: str) -> set[str]:
    low = text.lower()
    return {m.lower() for m in DRUG.findall(text)} | {t for t in TESTS if t in low}


def unsupported_claims(report: str, case: str, passages: list[str]) -> list[str]:
    """Drug and test names the report brings in from nowhere (not in the case, not in a passage)."""
    known = (case + " " + " ".join(passages)).lower()
    return sorted(n for n in names(report) if n not in known)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (longest common subsequence)."""
    a, b = memorize.tokens(candidate), memorize.tokens(reference)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def score(report: str, seconds: float, case: dict, passages: list[str], training_reports: list[str]) -> dict:
    return {"key_fact_recall": key_fact_recall(report, case["key_facts"]),
            "citation_precision": citation_precision(report, passages),
            "unsupported_claims": len(unsupported_claims(report, case["case"], passages)),
            "memorization": memorize.overlap(report, training_reports)["share"],
            "rouge_l": rouge_l(report, case["reference"]) if case.get("reference") else None,
            "latency_s": seconds}


def bootstrap(values: list[float], n: int = 1000, seed: int = 0) -> dict:
    """Mean with a 95% percentile bootstrap interval; None values (not applicable) are left out."""
    xs = [v for v in values if v is not None]
    if not xs:
        return {"mean": None, "ci95": [None, None]}
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(xs, k=len(xs))) / len(xs) for _ in range(n))
    return {"mean": round(sum(xs) / len(xs), 4), "ci95": [round(means[int(0.025 * n)], 4),
                                                          round(means[int(0.975 * n) - 1], 4)]}


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def run(cfg, modes: list[str], limit: int = 0, as_of: str | None = None, adapter: str = "finetuned",
        progress=None, reporter=None) -> dict:
    """Generate (or reuse) every report and score it; returns the JSON the CLI prints."""
    from . import finetune, generate, index
    reporter = reporter or generate.Reporter(cfg, adapter)
    heldout = cases.load_heldout(cfg)[: limit or None]
    training_reports = [c["report"] for c in cases.load_training(cfg)["cases"]]
    manifests = {m: finetune.read_manifest(finetune.adapter_dir(cfg, reporter.adapter_for(m)))
                 .get("created") if reporter.adapter_for(m) else None for m in modes}
    corpus_state = sorted((d["id"], d["sha256"]) for d in index.documents(cfg))
    cache = cfg.eval_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    rows, total = [], len(heldout) * len(modes)
    for i, case in enumerate(heldout):
        for mode in modes:
            key = cache_key(case["case"], mode, manifests[mode], reporter.model_name(mode), as_of,
                            cfg.max_new_tokens, cfg.top_k, corpus_state if mode in generate.OPEN_BOOK else None)
            path = cache / f"{key}.json"
            if path.is_file():
                r = json.loads(path.read_text())
            else:
                rep = reporter.report(case["case"], mode, as_of)
                r = {"text": rep.text, "seconds": rep.seconds, "tokens": rep.tokens,
                     "passages": [p["passage"] for p in rep.passages],
                     "citations": [c["doc_id"] for c in rep.citations]}
                path.write_text(json.dumps(r))
            rows.append({"case": case["id"], "mode": mode, "changed_after_cutoff": case["changed_after_cutoff"],
                         "needs_incoming": case["needs_incoming"], "report": r["text"],
                         **score(r["text"], r["seconds"], case, r["passages"], training_reports)})
            if progress:
                progress(len(rows), total, f"{case['id']} {mode}")
    return summarize(rows, modes) | {"rows": rows, "as_of": as_of}


METRICS = ("key_fact_recall", "citation_precision", "unsupported_claims", "memorization", "rouge_l", "latency_s")


def summarize(rows: list[dict], modes: list[str]) -> dict:
    out = {m: {k: bootstrap([r[k] for r in rows if r["mode"] == m]) for k in METRICS} for m in modes}
    return {"modes": out, "cases": len({r["case"] for r in rows})}


def save(cfg, result: dict, name: str = "last") -> Path:
    cfg.eval_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.eval_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=1))
    return path


def load(cfg, name: str = "last") -> dict | None:
    """A saved result (`last` evaluation or `injection`), or None before the first run."""
    path = cfg.eval_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _num(x: float) -> str:
    """Two decimals, or three for small non-zero values (memorization is often below 0.01)."""
    return f"{x:.3f}" if 0 < abs(x) < 0.01 else f"{x:.2f}"


def _interval(m: dict, shape: str = "{} [{}, {}]") -> str:
    """A mean and its 95% interval, or a dash where the metric does not apply."""
    return "–" if m["mean"] is None else shape.format(_num(m["mean"]), *map(_num, m["ci95"]))


def table(result: dict) -> str:
    """Plain-text table: one row per mode, mean [95% interval] per metric."""
    fmt = _interval
    head = f"{'mode':<10}" + "".join(f"{k:>24}" for k in METRICS)
    rows = [f"{mode:<10}" + "".join(f"{fmt(v[k]):>24}" for k in METRICS) for mode, v in result["modes"].items()]
    return "\n".join([head, *rows, f"{result['cases']} held-out cases"])


def markdown(result: dict) -> str:
    fmt = lambda m: _interval(m, "{} ({}–{})")
    lines = ["# RAG or fine-tuning? Evaluation", "",
             f"{result['cases']} held-out cases; research as of {result.get('as_of') or 'today'}; "
             "mean (95% bootstrap interval).", "",
             "| mode | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    lines += [f"| {mode} | " + " | ".join(fmt(v[k]) for k in METRICS) + " |" for mode, v in result["modes"].items()]
    return "\n".join(lines) + "\n\nA demonstration, not medical advice.\n"


def injection(cfg, adapter: str = "finetuned", progress=None, limit: int = 0, epochs: float = 6) -> dict:
    """The knowledge-injection experiment on the cases whose answer needs the incoming documents:
    recall with the corpus at the training cutoff, then after the new documents arrive, for RAG
    (upload them), fine-tuning (no change), and fine-tuning's fair try (continued training on them)."""
    import tempfile
    from dataclasses import replace
    from . import finetune, generate, index
    affected = [c for c in cases.load_heldout(cfg) if c["needs_incoming"]][: limit or None]
    cutoff = cases.load_training(cfg)["cutoff"]
    incoming = sorted((cfg.corpus_dir / "incoming").glob("*.md"))
    say = progress or (lambda *a: None)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = replace(cfg, data_dir=Path(tmp), models_home=cfg.models_dir, chroma_host="")
        say(0, 4, "indexing the seed corpus in a scratch store")
        index.seed(scratch)
        reporter = generate.Reporter(scratch, adapter)
        recall = lambda mode, as_of=None, who=reporter: [
            key_fact_recall(who.report(c["case"], mode, as_of).text, c["key_facts"]) for c in affected]
        say(1, 4, "before: corpus as of the training cutoff")
        before = {"finetuned": recall("finetuned"), "rag": recall("rag", cutoff)}
        say(2, 4, "after: the incoming documents uploaded")
        index.ingest(scratch, [(f.name, f) for f in incoming])
        after = {"finetuned": recall("finetuned"), "rag": recall("rag")}
        say(3, 4, "fine-tuning's fair try: continued training on the new documents")
        finetune.continue_on_documents(scratch, adapter, incoming, scratch.adapters_dir / "continued", epochs)
        after["finetuned+continued"] = recall("finetuned", who=reporter.use("continued"))
        before["finetuned+continued"] = before["finetuned"]
        say(4, 4, "done")
    arms = {arm: {"before": bootstrap(before[arm]), "after": bootstrap(after[arm])} for arm in after}
    return {"cases": len(affected), "case_ids": [c["id"] for c in affected], "documents": [f.stem for f in incoming],
            "arms": arms}


def injection_table(r: dict) -> str:
    fmt = _interval
    lines = [f"key-fact recall on {r['cases']} cases that need {', '.join(r['documents'])}",
             f"{'method':<22}{'before':>22}{'after':>22}"]
    lines += [f"{arm:<22}{fmt(v['before']):>22}{fmt(v['after']):>22}" for arm, v in r["arms"].items()]
    return "\n".join(lines)
