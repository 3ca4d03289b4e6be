"""Score every mode on the held-out cases, the way the fine-tuning-vs-retrieval papers do.

    python -m rag_vs_ft eval --json            # all held-out cases, every mode
    python -m rag_vs_ft eval --limit 3 --mode finetuned,rag

Metrics per report: key-fact recall (expected facts matched with synonyms, on word boundaries, counted
only where the report states them in its own Assessment or Plan, and only for facts the case does not
already state: a report earns nothing for repeating the case; `key_fact_recall_whole` keeps the older
whole-report figure), uploads used (the Plan names the uploaded research's treatment and cites that
upload), wrong-population copies (a cited document whose population the case contradicts, as the case
file lists them),
citation precision (cited passages that support the sentence citing them), citation faithfulness
(the cited passage names the drug and dose its sentence recommends), unsupported claims (drug or
test names in neither the case nor the retrieved passages), invented findings (numbers, drug or
test names in Subjective/Objective that the case does not state), confident misses (a report that
cites research yet misses the case's key recommendation: the worst output of a medical demo),
retrieval recall@k and reciprocal rank of the case's supporting documents, memorization (8-gram
overlap with training reports), ROUGE-L F1, latency. Means carry 95% bootstrap intervals; modes
are compared with a paired bootstrap over cases. `rag-oracle` is the RAG reader given the gold
documents instead of retrieval: the reader's ceiling. Reports are cached by a hash of everything
that determines them, so an unchanged re-run is instant.

    python -m rag_vs_ft eval --cases dev       # the development set: choose designs here, never on held-out
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from . import cases, config, cores, memorize, support
from .config import REPO
from .errors import UserError
from .files import write_json

DRUG = re.compile(r"\b[a-z]{3,}(?:flozin|gliflozin|pril|sartan|olol|dipine|statin|glutide|tide|mab|parin|"
                  r"xaban|gatran|mycin|cillin|floxacin|cycline|sone|lone|terol|tropium|nide|semide|thiazide|"
                  r"formin|gliptin|renone|lactone|sacubitril|arin|azole|idine|afil|ivabradine|tiazem|"
                  r"amil|darone|nacin|mibe|coxib)\b", re.I)
TESTS = ["hba1c", "egfr", "uacr", "albumin-to-creatinine", "ldl", "bnp", "nt-probnp", "echocardiogram",
         "spirometry", "chest x-ray", "troponin", "potassium", "creatinine", "ecg", "holter", "ct scan",
         "eosinophil", "procalcitonin", "sputum culture", "blood culture", "lipid panel", "tsh", "inr"]


def key_fact_recall(report: str, key_facts: list[dict]) -> float:
    """The share of expected facts the text states anywhere (the older, whole-report figure)."""
    found = cases.facts_found(report, key_facts)
    return sum(found.values()) / len(found) if found else 0.0


_OWN = re.compile(r"^\W*(?:assessment|plan)\b", re.I | re.M)


def own_part(report: str) -> str:
    """What a report says for itself: from its Assessment (else its Plan) on. Subjective and Objective
    restate the case; a report without those headings is taken whole."""
    m = _OWN.search(report)
    return report[m.start():] if m else report


def new_facts(case: dict, beyond: bool = False) -> list[dict]:
    """The case's key facts that its own text does not already state ("on metformin") and that some
    document states (`beyond=True`: those that none states, which no method can reach from the corpus)."""
    told = cases.facts_found(case["case"], case["key_facts"])
    return [f for f in case["key_facts"] if not told[f["fact"]] and bool(f.get("beyond_corpus")) == beyond]


def added_recall(report: str, case: dict) -> float | None:
    """Key-fact recall of what a report adds: the facts the case does not state, found in the report's
    own Assessment or Plan; None when the case already states every fact."""
    facts = new_facts(case)
    return key_fact_recall(own_part(report), facts) if facts else None


def beyond_recall(report: str, case: dict) -> float | None:
    """The same recall over the key facts no document states (reported apart); None when there are none."""
    facts = new_facts(case, beyond=True)
    return key_fact_recall(own_part(report), facts) if facts else None


def upload_used(report: str, cited: list[str], case: dict) -> float | None:
    """For a case whose answer is in an uploaded document: does the Plan name that document's treatment
    and cite the upload? None for cases without one."""
    if not case.get("treatment") or not case.get("uploads"):
        return None
    named = any(cases.facts_found(own_part(report), [{"fact": "t", "any_of": case["treatment"]}]).values())
    return float(named and bool(set(cited) & set(case["uploads"])))


def wrong_population(cited: list[str], case: dict) -> float | None:
    """A report that cites a document whose population the case contradicts (the case file lists them
    in `not_for`, written with the case): the worst output, a wrong recommendation with a confident
    citation. None for reports that cite nothing."""
    if not cited:
        return None
    return float(bool(set(cited) & set(case.get("not_for", []))))


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


def citation_faithfulness(report: str, passages: list[str]) -> float | None:
    """Of the citing sentences that name a drug, the share whose cited passage contains that drug
    and every dose number the sentence states; None if no such sentence."""
    checks = []
    for s in support.sentences(report):
        cited, drugs = re.findall(r"\[(\d+)\]", s), {d.lower() for d in DRUG.findall(s)}
        if not cited or not drugs:
            continue
        for n in map(int, cited):
            passage = passages[n - 1].lower() if 1 <= n <= len(passages) else ""
            checks.append(all(d in passage for d in drugs) and not support.numbers(s) - support.numbers(passage))
    return sum(checks) / len(checks) if checks else None


def invented_findings(report: str, case: str) -> list[str]:
    """Numbers and drug or test names in the Subjective and Objective lines that the case does not state."""
    so = " ".join(line for line in report.splitlines() if line.lower().startswith(("subjective", "objective")))
    known_numbers = support.numbers(case)
    return sorted({n for n in support.numbers(so) if n not in known_numbers} |
                  {n for n in names(so) if n not in case.lower()})


def confident_miss(report: str, key_facts: list[dict]) -> bool | None:
    """A report that cites research yet lacks the case's key recommendation (its first key fact);
    None for reports that cite nothing."""
    if not re.search(r"\[\d+\]", report):
        return None
    return not all(cases.facts_found(report, key_facts[:1]).values())


def retrieval(doc_ids: list[str], gold: list[str]) -> dict:
    """Hit within the top k (any supporting document retrieved) and reciprocal rank of the first."""
    ranks = [i for i, d in enumerate(doc_ids, 1) if d in gold]
    return {"recall_at_k": float(bool(ranks)), "mrr": 1 / ranks[0] if ranks else 0.0}


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


def score(report: str, seconds: float, case: dict, passages: list[str], training_reports: list[str],
          doc_ids: list[str] | None = None, cited: list[str] | None = None) -> dict:
    miss = confident_miss(report, case["key_facts"])
    out = {"key_fact_recall": added_recall(report, case),
           "key_fact_recall_whole": key_fact_recall(report, case["key_facts"]),
           "beyond_corpus_recall": beyond_recall(report, case),
           "upload_used": upload_used(report, cited or [], case),
           "wrong_population": wrong_population(cited or [], case),
           "citation_precision": citation_precision(report, passages),
           "citation_faithfulness": citation_faithfulness(report, passages),
           "unsupported_claims": len(unsupported_claims(report, case["case"], passages)),
           "invented_findings": len(invented_findings(report, case["case"])),
           "confident_miss": None if miss is None else float(miss),
           "memorization": memorize.overlap(report, training_reports)["share"],
           "rouge_l": rouge_l(report, case["reference"]) if case.get("reference") else None,
           "latency_s": seconds}
    if doc_ids is not None:  # open-book modes: how well retrieval found the supporting documents
        out |= retrieval(doc_ids, case.get("supporting_docs", []))
    return out


def bootstrap(values: list[float], n: int = 2000, seed: int = 0) -> dict:
    """Mean with a 95% percentile bootstrap interval (scipy); None values (not applicable) are left out."""
    import numpy as np
    from scipy.stats import bootstrap as scipy_bootstrap
    xs = np.array([v for v in values if v is not None], dtype=float)
    if not len(xs):
        return {"mean": None, "ci95": [None, None]}
    if len(xs) == 1 or np.all(xs == xs[0]):
        return {"mean": round(float(xs.mean()), 4), "ci95": [round(float(xs[0]), 4)] * 2 if len(set(xs)) == 1
                else [round(float(xs.min()), 4), round(float(xs.max()), 4)]}
    ci = scipy_bootstrap((xs,), np.mean, n_resamples=n, method="percentile", random_state=seed).confidence_interval
    return {"mean": round(float(xs.mean()), 4), "ci95": [round(float(ci.low), 4), round(float(ci.high), 4)]}


def paired(rows: list[dict], a: str, b: str, metric: str) -> dict:
    """Mean difference a − b over the cases both modes answered, with a paired 95% bootstrap
    interval: the cases are resampled, each keeping its two reports together."""
    by = {(r["case"], r["mode"]): r[metric] for r in rows}
    diffs = [by[c, a] - by[c, b] for c in sorted({r["case"] for r in rows})
             if by.get((c, a)) is not None and by.get((c, b)) is not None]
    out = bootstrap(diffs)
    return out | {"cases": len(diffs), "excludes_zero": out["mean"] is not None and
                  (out["ci95"][0] > 0 or out["ci95"][1] < 0)}


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


ORACLE = "rag-oracle"  # the RAG reader given the case's supporting documents instead of retrieval


def _code_hash() -> str:
    """What the code that writes a report looks like: part of the cache key, so a change re-runs."""
    here = Path(__file__).parent
    files = ("generate.py", "concepts.py", "fit.py", "soap.py", "retrieve.py", "prompts.py", "llm.py", "llamacpp.py",
             "corpus.py", "index.py", "embedder.py", "data/drug_classes.json", "data/conditions.json")
    return hashlib.sha256(b"".join((here / f).read_bytes() for f in files)).hexdigest()[:16]


def run(cfg, modes: list[str], limit: int = 0, as_of: str | None = None, adapter: str = "finetuned",
        progress=None, reporter=None, which: str = "heldout") -> dict:
    """Generate (or reuse) every report and score it; returns the JSON the CLI prints."""
    from . import finetune, generate, index, models, runs
    start = started()
    index.seed(cfg)  # the user's store, where a set without uploads is read (first use from the CLI)
    reporter = reporter or generate.Reporter(cfg, adapter)
    heldout = cases.load(cfg, which)[: limit or None]
    marked = cases.record_run(cfg, which, runs.commit()[0])  # an unread held-out set is read from now on, even in part
    store = with_uploads(cfg, which, progress)  # the store retrieval reads: the set's own when it has uploads
    training_reports = [c["report"] for c in cases.load_training(cfg)["cases"]]
    adapter_of = lambda m: reporter.adapter_for("rag" if m == ORACLE else m, adapter)
    weights = {m: models.file_sha256(finetune.adapter_dir(cfg, adapter_of(m)) / "adapter_model.safetensors")
               if adapter_of(m) else None for m in modes}
    corpus_state = sorted((d["id"], d["sha256"]) for d in index.documents(store))
    settings = (cfg.max_new_tokens, cfg.top_k, cfg.chunk_size, cfg.chunk_overlap, reporter.backend, _code_hash())
    with cores.background(cfg, "eval"):  # visitors' reports go first; the cores are shared with other jobs
        rows = _rows(cfg, reporter, heldout, modes, adapter, as_of, store, weights, corpus_state, settings,
                     training_reports, progress)
    return summarize(rows, modes) | {"rows": rows, "as_of": as_of, "case_set": which, "marked_read": bool(marked),
                                     "produced_by": provenance(cfg, which, adapter, start, store) |
                                     reporter.serving}


def _rows(cfg, reporter, heldout, modes, adapter, as_of, store, weights, corpus_state, settings, training_reports,
          progress) -> list[dict]:
    """Each case in each mode: the cached report or a new one, scored."""
    from . import generate, retrieve
    cache = cfg.eval_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    rows, total = [], len(heldout) * len(modes)
    for case in heldout:
        for mode in modes:
            base = "rag" if mode == ORACLE else mode
            key = cache_key(case["case"], mode, weights[mode], reporter.model_name(base, adapter), as_of, settings,
                            corpus_state if base in generate.OPEN_BOOK else None,
                            case.get("supporting_docs") if mode == ORACLE else None)
            path = cache / f"{key}.json"
            if path.is_file():
                r = json.loads(path.read_text())
            else:
                shown = (retrieve.documents(store, case["supporting_docs"], case["case"]) if mode == ORACLE else
                         retrieve.passages(store, case["case"], as_of) if base in generate.OPEN_BOOK else None)
                rep = reporter.report(case["case"], base, as_of, passages=shown, adapter=adapter)
                r = {"text": rep.text, "seconds": rep.seconds, "tokens": rep.tokens,
                     "passages": [p["passage"] for p in rep.passages], "doc_ids": [p["doc_id"] for p in rep.passages],
                     "citations": [c["doc_id"] for c in rep.citations]}
                write_json(path, r)
            open_book = base in generate.OPEN_BOOK and mode != ORACLE
            rows.append({"case": case["id"], "mode": mode, "changed_after_cutoff": case["changed_after_cutoff"],
                         "needs_incoming": case["needs_incoming"], "report": r["text"], "citations": r["citations"],
                         **score(r["text"], r["seconds"], case, r["passages"], training_reports,
                                 r.get("doc_ids") if open_book else None, r["citations"])})
            if progress:
                progress(len(rows), total, f"{case['id']} {mode}")
    return rows


def plan_only(cfg, which: str = "dev", progress=None) -> dict:
    """The design loop: retrieval, the population check and the choice of passage for every case,
    without generating (a second a set instead of minutes). Scores the Plan a RAG report would copy:
    recall of what it adds, the upload used, wrong-population copies, nothing copied."""
    from . import retrieve, runs
    start = started()
    cases.record_run(cfg, which, runs.commit()[0])  # seeing an unread held-out set's Plans reads it too
    store = with_uploads(cfg, which, progress)
    if store is cfg:
        from . import index
        index.seed(store)
    rows = []
    for case in cases.load(cfg, which):
        shown = retrieve.passages(store, case["case"])
        n = retrieve.choose(shown)
        plan = f"Plan: {shown[n]['passage']} [{n + 1}]" if n is not None else "Plan: nothing copied"
        cited = [shown[n]["doc_id"]] if n is not None else []
        rows.append({"case": case["id"], "cited": cited, "key_fact_recall": added_recall(plan, case),
                     "upload_used": upload_used(plan, cited, case), "wrong_population": wrong_population(cited, case),
                     "nothing_copied": float(n is None), "shown": [(p["doc_id"], p["verdict"]) for p in shown]})
    return {"case_set": which, "cases": len(rows), "rows": rows, "produced_by": provenance(cfg, which, None, start, store),
            **{k: bootstrap([r[k] for r in rows]) for k in PLAN_METRICS}}


PLAN_METRICS = ("key_fact_recall", "upload_used", "wrong_population", "nothing_copied")


def sweep(cfg, which: list[str], setting: str, values: list[int], progress=None) -> dict:
    """A design constant measured: the plan-only loop on development sets for each value of one of the
    reader's constants (`concepts.CUE_WORDS`), and which cases' Plans differ from the value the code
    ships. Held-out sets are refused: a constant chosen on them would be tuned to them."""
    import importlib
    ledger = cases.ledger(cfg)
    if bad := [w for w in which if ledger.get(w, {}).get("role") != "dev"]:
        raise UserError(f"{', '.join(bad)}: a sweep chooses a design, so it runs on development sets only")
    module, _, name = setting.partition(".")
    mod = importlib.import_module(f"{__package__}.{module}") if module in SWEEPABLE else None
    if mod is None or not isinstance(getattr(mod, name, None), int):
        raise UserError(f"{setting}: not a constant of {', '.join(SWEEPABLE)} that a sweep can vary")
    shipped, start, rows = getattr(mod, name), started(), []
    values = sorted(set(values) | {shipped})
    try:
        for value in values:
            setattr(mod, name, value)
            _clear_caches()
            for w in which:
                rows += [{"value": value, "case_set": w, **{k: r[k] for k in ("case", "cited", *PLAN_METRICS)}}
                         for r in plan_only(cfg, w, progress)["rows"]]
    finally:
        setattr(mod, name, shipped)
        _clear_caches()
    by = {**provenance(cfg, which[0], None, start), "case_set": None}
    by["cases_sha256"] = {w: cases.data_hash(cfg.corpus_dir / "cases" / f"{w}.json") for w in which}
    del by["corpus_sha256"]  # each set has its own store of uploads
    return {"setting": setting, "shipped": shipped, "rows": rows, "sweep": sweep_summary(rows, shipped),
            "produced_by": by}


def sweep_summary(rows: list[dict], shipped: int) -> list[dict]:
    """Per value and set: the plan metrics' means and the cases whose Plan cites other research than
    with the shipped value."""
    base = {(r["case_set"], r["case"]): r["cited"] for r in rows if r["value"] == shipped}
    out = []
    for value, w in dict.fromkeys((r["value"], r["case_set"]) for r in rows):
        mine = [r for r in rows if (r["value"], r["case_set"]) == (value, w)]
        out.append({"value": value, "case_set": w, **{k: bootstrap([r[k] for r in mine])["mean"] for k in PLAN_METRICS},
                    "plans_changed": [r["case"] for r in mine if r["cited"] != base[w, r["case"]]]})
    return out


SWEEPABLE = ("concepts", "fit", "retrieve")  # modules whose reading and ranking constants a sweep may vary


def _clear_caches() -> None:
    """The reader's caches hold readings made with the old value."""
    from . import concepts, fit, scope
    for mod in (concepts, fit, scope):
        for f in vars(mod).values():
            if hasattr(f, "cache_clear"):
                f.cache_clear()


def uploads_dir(cfg, which: str) -> Path:
    """The research a case set's cases need uploaded beside the shipped corpus (corpus/uploads/<set>/)."""
    return cfg.corpus_dir / "uploads" / which


def with_uploads(cfg, which: str, progress=None):
    """The settings whose store a case set is evaluated on. A set with uploads gets a store of its own
    under the data dir's eval folder: the shipped research plus the set's documents, ingested the way a
    user uploads them (and kept, so a re-run ingests nothing). The user's own store is never touched;
    the data dir's adapters are the ones used."""
    from . import index
    folder = uploads_dir(cfg, which)
    if not folder.is_dir():
        return cfg
    store = config.scratch(cfg, cfg.eval_dir / "stores" / which)
    store.data_dir.mkdir(parents=True, exist_ok=True)
    if cfg.adapters_dir.is_dir() and not store.adapters_dir.exists():
        store.adapters_dir.symlink_to(cfg.adapters_dir.resolve(), target_is_directory=True)
    say = progress or (lambda *a: None)
    say(0, 1, f"indexing the shipped research and {which}'s uploads in the set's own store")
    index.seed(store)
    result = index.ingest(store, index.iter_files([folder]))
    if result.errors:
        raise RuntimeError(f"{which}'s uploads could not all be read: {result.errors}")
    return store


METRICS = ("key_fact_recall", "key_fact_recall_whole", "beyond_corpus_recall", "upload_used", "wrong_population", "citation_precision",
           "citation_faithfulness", "unsupported_claims",
           "invented_findings", "confident_miss", "recall_at_k", "mrr", "memorization", "rouge_l", "latency_s")
PAIRED = ("key_fact_recall", "unsupported_claims", "invented_findings")


def summarize(rows: list[dict], modes: list[str], metrics=METRICS, paired_metrics=PAIRED) -> dict:
    """Every aggregate of a run, from its rows alone (so `runs --verify` can compute them again)."""
    out = {m: {k: bootstrap([r.get(k) for r in rows if r["mode"] == m]) for k in metrics} for m in modes}
    changed = {m: {flag: bootstrap([r.get("key_fact_recall") for r in rows if r["mode"] == m
                                    and r["changed_after_cutoff"] == flag]) for flag in (True, False)}
               for m in modes}
    pairs = {f"{a} - {b}": {k: paired(rows, a, b, k) for k in paired_metrics}
             for a, b in (("rag", "finetuned"), ("rag", "base"), ("hybrid", "finetuned"), (ORACLE, "rag"))
             if a in modes and b in modes}
    return {"modes": out, "cases": len({r["case"] for r in rows}), "paired": pairs,
            "recall_by_changed": {m: {"changed": v[True], "unchanged": v[False]} for m, v in changed.items()}}


REFERENCE = REPO / "docs" / "reference"  # the shipped run the README quotes


def started() -> dict:
    """The code identity and commit when a run starts: `provenance` compares them at its end, so a
    commit or an edit made while the run was going marks it made on a changed tree."""
    from . import runs
    return runs.stamp()


def provenance(cfg, which: str = "heldout", adapter: str | None = "finetuned", start: dict | None = None,
               store=None) -> dict:
    """What a result was produced from: the code and commit, the adapters' weights (the data dir's own
    where it has them), the corpus, the cases, the settings that shape a report; and when. `runs
    --verify` computes the same parts from the tree or the commit (`runs.identity`)."""
    import datetime as dt
    from . import finetune, models, runs
    docs = sorted(p for folder in ("research", "incoming") for p in (cfg.corpus_dir / folder).glob("*.md"))
    docs += sorted(p for p in uploads_dir(cfg, which).glob("*") if p.is_file())
    case_files = {"train": cases.train_path(cfg), which: cfg.corpus_dir / "cases" / f"{which}.json"}
    now = runs.stamp()
    start = start or now
    out = {"date": dt.date.today().isoformat(), "case_set": which, **start, "dirty": start["dirty"] or now != start,
           "corpus_sha256": hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in docs)).hexdigest(),
           "cases_sha256": {k: cases.data_hash(p) for k, p in case_files.items()},
           "settings": {k: getattr(cfg, k) for k in ("max_new_tokens", "top_k", "chunk_size", "chunk_overlap", "seed")}}
    if adapter:
        out["adapters"] = {a: models.file_sha256(finetune.adapter_dir(cfg, a) / "adapter_model.safetensors")
                           for a in (adapter, finetune.READER)}
    if store is not None:  # what retrieval read: the kept store's documents, not only the files on disk
        from . import index
        state = sorted((d["id"], d["sha256"]) for d in index.documents(store))
        out["store_sha256"] = hashlib.sha256(json.dumps(state).encode()).hexdigest()
    return out


def save(cfg, result: dict, name: str = "last") -> Path:
    cfg.eval_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.eval_dir / f"{name}.json"
    write_json(path, result)
    return path


def load(cfg, name: str = "last") -> dict | None:
    """This install's saved result (`last` evaluation or `injection`); before its first run, the shipped
    reference run (marked `shipped`), so a fresh install shows numbers at once."""
    path = cfg.eval_dir / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    shipped = REFERENCE / f"{name}.json"
    return json.loads(shipped.read_text()) | {"shipped": True} if shipped.is_file() else None


def source(result: dict) -> str:
    """One line saying where a result came from, for the pages."""
    from . import runs
    by = result.get("produced_by") or {}
    what = f"`{by['command']}`, " if by.get("command") else ""
    run = f"{what}{by.get('date', '?')}, {runs.served(by)}"
    return (f"Shipped reference run ({run}); running it here replaces it with this install's own." if
            result.get("shipped") else f"This install's run ({run}).")


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
    pairs = [f"{pair:<22}" + "".join(f"  {k} {fmt(v[k])}" for k in PAIRED) for pair, v in result.get("paired", {}).items()]
    return "\n".join([head, *rows, f"{result['cases']} {result.get('case_set', 'held-out')} cases", *pairs])


def markdown(result: dict) -> str:
    fmt = lambda m: _interval(m, "{} ({}–{})")
    lines = ["# RAG or fine-tuning? Evaluation", "",
             f"{result['cases']} {result.get('case_set', 'heldout')} cases; research as of {result.get('as_of') or 'today'}; "
             "mean (95% bootstrap interval).", "",
             "| mode | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    lines += [f"| {mode} | " + " | ".join(fmt(v[k]) for k in METRICS) + " |" for mode, v in result["modes"].items()]
    if result.get("paired"):
        lines += ["", "Paired differences (bootstrap over cases):", "", "| pair | " + " | ".join(PAIRED) + " |",
                  "|---" * (len(PAIRED) + 1) + "|"]
        lines += [f"| {pair} | " + " | ".join(fmt(v[k]) for k in PAIRED) + " |" for pair, v in result["paired"].items()]
    return "\n".join(lines) + "\n\nA demonstration, not medical advice.\n"


def injection(cfg, adapter: str = "finetuned", progress=None, limit: int = 0, epochs: float = 6,
              which: str = "heldout") -> dict:
    """The knowledge-injection experiment on the cases whose answer needs the incoming documents:
    recall with the corpus at the training cutoff, then after the new documents arrive, for RAG
    (upload them), fine-tuning (no change), and fine-tuning's fair try (continued training on them)."""
    import tempfile
    from . import finetune, generate, index, runs
    start = started()
    affected = [c for c in cases.load(cfg, which) if c["needs_incoming"]][: limit or None]
    if not affected:
        raise UserError(f"no case in {which} needs the incoming documents (needs_incoming); try --cases heldout")
    cases.record_run(cfg, which, runs.commit()[0])  # its cases are read from now on
    cutoff = cases.load_training(cfg)["cutoff"]
    incoming = sorted((cfg.corpus_dir / "incoming").glob("*.md"))
    say = progress or (lambda *a: None)
    with tempfile.TemporaryDirectory() as tmp, cores.background(cfg, "eval"):
        scratch = config.scratch(cfg, Path(tmp))
        say(0, 4, "indexing the seed corpus in a scratch store")
        index.seed(scratch)
        reporter = generate.Reporter(scratch, adapter)
        recall = lambda mode, as_of=None, who=reporter: [
            added_recall(who.report(c["case"], mode, as_of).text, c) for c in affected]  # in case order
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
    rows = [{"case": c["id"], "arm": arm, "before": before[arm][i], "after": after[arm][i]}
            for arm in after for i, c in enumerate(affected)]
    return {"cases": len(affected), "case_ids": [c["id"] for c in affected], "documents": [f.stem for f in incoming],
            "arms": arms(rows), "rows": rows, "case_set": which,
            "produced_by": provenance(cfg, which, adapter, start) | reporter.serving}


def arms(rows: list[dict]) -> dict:
    """Each arm's recall before and after the new documents, from the injection run's rows."""
    names = list(dict.fromkeys(r["arm"] for r in rows))
    return {arm: {when: bootstrap([r[when] for r in rows if r["arm"] == arm]) for when in ("before", "after")}
            for arm in names}


def injection_markdown(r: dict) -> str:
    names = {"rag": "RAG (the documents uploaded)", "finetuned": "fine-tuned (unchanged)",
             "finetuned+continued": "fine-tuned + continued training on the documents"}
    lines = [f"Key facts added on the {r['cases']} held-out cases that need {', '.join(f'`{d}`' for d in r['documents'])}; "
             "mean (95% bootstrap interval).", "", "| method | before | after |", "|---|---|---|"]
    fmt = lambda m: _interval(m, "{} ({}–{})")
    return "\n".join(lines + [f"| {names.get(arm, arm)} | {fmt(v['before'])} | {fmt(v['after'])} |"
                               for arm, v in r["arms"].items()])


def injection_table(r: dict) -> str:
    fmt = _interval
    lines = [f"key-fact recall on {r['cases']} cases that need {', '.join(r['documents'])}",
             f"{'method':<22}{'before':>22}{'after':>22}"]
    lines += [f"{arm:<22}{fmt(v['before']):>22}{fmt(v['after']):>22}" for arm, v in r["arms"].items()]
    return "\n".join(lines)
