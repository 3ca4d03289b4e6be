"""Speed and memory figures, printed as a table (targets live here, not in timed tests).

    python -m rag_vs_ft bench            # the whole table
    python -m rag_vs_ft bench --quick    # smaller sizes, under two minutes
    python -m rag_vs_ft bench --retrieval --json  # retrieval alone at 1k, 10k and 50k chunks

The whole table and the quick one are also saved to DATA/eval/bench.json, for the Decide page.

Generation is timed per mode with the shipped adapters (greedy, the app's settings); with the
optional llama-cpp-python installed, llama.cpp runs the same GGUF in the same process for a ratio.

Ingest throughput goes through the real path (read, chunk, embed, index). For the larger retrieval
sizes the store is filled with synthetic chunks whose vectors are random unit vectors (embedding
50k chunks would take a quarter of an hour on 2 cores); every query is embedded for real.
"""
from __future__ import annotations

import json
import random
import resource
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from . import config, cores, index, models
from .config import Config
from .files import write_json

WORDS = ("patients trial randomized placebo hazard ratio kidney heart failure diabetes dose daily weekly "
         "outcome events reduction blood pressure cholesterol asthma inhaler exacerbation pneumonia "
         "antibiotic guideline recommend therapy adults risk eGFR albuminuria ejection fraction").split()
QUERIES = ["type 2 diabetes with CKD and albuminuria on metformin", "HFpEF with obesity and breathlessness",
           "COPD exacerbations on triple therapy", "atrial fibrillation stroke prevention in an older woman",
           "LDL cholesterol above goal after myocardial infarction", "community-acquired pneumonia outpatient"]


def _text(rng: random.Random, n: int = 80) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def ingest_throughput(cfg: Config, chunks: int) -> float:
    """chunks/s through read -> chunk -> embed -> index, on synthetic Markdown documents."""
    rng = random.Random(0)
    per_doc = 10
    docs = [(f"bench-{d:04d}.md", ("\n".join(f"## Section {s}\n{_text(rng)}" for s in range(per_doc))).encode())
            for d in range(chunks // per_doc)]
    t = time.perf_counter()
    r = index.ingest(cfg, docs)
    return r.added / (time.perf_counter() - t)


def fill(cfg: Config, total: int) -> None:
    """Top the store up to `total` synthetic chunks with random unit vectors (fast, no embedding)."""
    import numpy as np
    vs = index.vector_store(cfg)
    have = index.size(vs)
    rng = np.random.default_rng(have)
    words = random.Random(have)
    for start in range(have, total, 5000):
        n = min(5000, total - start)
        vecs = rng.standard_normal((n, models.EMBED_DIM)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        index.add_embedded(vs, [f"syn-{start + i}" for i in range(n)], vecs.tolist(), [_text(words, 60) for _ in range(n)],
                           [{"doc_id": f"syn-{(start + i) // 10}", "published_int": 20150101 + i % 100000,
                             "title": "synthetic", "published": "2020-01-01", "source": "bench", "section": "",
                             "chunk": i % 10} for i in range(n)])


def _timed(fn, inputs: list[str]) -> dict:
    """p50 and p95 of fn(x) over the inputs, in milliseconds, with the samples they come from."""
    times = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        times.append(round((time.perf_counter() - t) * 1000, 3))
    return percentiles(times) | {"samples_ms": times}


def percentiles(times: list[float]) -> dict:
    times = sorted(times)
    return {"p50": round(statistics.median(times), 1), "p95": round(times[int(0.95 * len(times)) - 1], 1)}


def recompute(run: dict) -> dict:
    """Every percentile of a bench run again from its samples (`runs --verify`); the rest are single
    measurements, kept as measured."""
    def walk(d):
        out = {k: w for k, v in d.items() if isinstance(v, dict) and (w := walk(v))}
        if "p50" in d and "samples_ms" not in d:
            out["samples_ms"] = "missing: a percentile without its samples"
        if "policy" in d:  # an under_load block
            out |= load_figures(d)
        if "samples_ms" in d:
            out |= percentiles(d["samples_ms"])
            if "retrieval_only" in d:
                out["reading_ms_p50"] = round(out["p50"] - percentiles(d["retrieval_only"]["samples_ms"])["p50"], 1)
        return out
    return walk(run)


def stamp(serving: dict | None = None) -> dict:
    """The bench's `produced_by`: code identity and commit, the machine's cores, the date, and who served
    the reports (`generate.serving`: the backend and the base)."""
    import datetime as dt
    import os
    from . import runs
    return {"date": dt.date.today().isoformat(), **runs.stamp(), "cores": os.cpu_count(), "backend": None,
            **(serving or {})}


def retrieval_ms(cfg: Config, repeats: int = 60) -> dict:
    """End-to-end dense retrieval (query embedding included), p50 and p95 in milliseconds."""
    vs = index.vector_store(cfg)
    for q in QUERIES * 2:  # warm up: right after a large add the store is still settling
        index.retrieve(cfg, q, vs=vs)
    return _timed(lambda q: index.retrieve(cfg, q, vs=vs), [QUERIES[i % len(QUERIES)] + f" {i}" for i in range(repeats)])


def hybrid_ms(cfg: Config, repeats: int = 60) -> dict:
    """What a report waits for: fused dense + BM25 retrieval per stated problem and the applicability
    rerank (`retrieve.passages`), p50 and p95 in milliseconds. Built once first, as a store does after
    each change: the BM25 index, and the hits of the problem phrases these cases name."""
    from . import retrieve
    vs = index.vector_store(cfg)
    t = time.perf_counter()
    retrieve.lexical(cfg, vs)
    build = time.perf_counter() - t
    for q in QUERIES + CASES:
        retrieve.passages(cfg, q, vs=vs)
    cases = [CASES[i % len(CASES)] + f" {i}" for i in range(repeats)]
    whole = _timed(lambda q: retrieve.passages(cfg, q, vs=vs), cases)
    found = _timed(lambda q: retrieve.fused(cfg, q, vs=vs), cases)  # the same retrieval without the reading
    return whole | {"bm25_build_s": round(build, 2), "reading_ms_p50": round(whole["p50"] - found["p50"], 1),
                    "retrieval_only": found}


def retrieval(cfg: Config, sizes=(1000, 10000, 50000), repeats: int = 100) -> dict:
    """Only the retrieval figures (`bench --retrieval`, a few minutes): dense and hybrid at each size,
    and what reading the case and its candidates adds to a report's retrieval."""
    out = {"retrieval_ms": {}, "hybrid_retrieval_ms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        bcfg = config.scratch(cfg, Path(tmp))
        index.seed(bcfg)
        for size in sizes:
            fill(bcfg, size)
            out["retrieval_ms"][str(size)] = retrieval_ms(bcfg, repeats)
            out["hybrid_retrieval_ms"][str(size)] = hybrid_ms(bcfg, repeats)
    return out | {"produced_by": stamp()}


CASES = ["64-year-old man with atrial fibrillation, CHA2DS2-VASc 3, hypertension and type 2 diabetes; no "
         "anticoagulant. BP 150/90. Takes amlodipine 10 mg daily.",
         "79-year-old man with HFpEF, LVEF 58%, BMI 33, no diabetes; NT-proBNP 980 pg/mL. Takes furosemide 40 mg.",
         "58-year-old woman with COPD, two exacerbations last year on umeclidinium/vilanterol; eosinophils 350."]


def lexical_choice(cfg: Config, repeats: int = 60) -> dict:
    """BM25 query p50/p95 (ms) over every chunk in the store: bm25s, and rank_bm25 (what
    langchain_community's BM25Retriever wraps) when it is installed."""
    import numpy as np
    from . import retrieve
    lex = retrieve.lexical(cfg, index.vector_store(cfg))
    queries = [CASES[i % len(CASES)] for i in range(repeats)]
    out = {"chunks": len(lex.texts)}
    out["bm25s"] = _timed(lambda q: lex.bm25.retrieve(retrieve.tokenize([q]), k=100, show_progress=False,
                                                       n_threads=1), queries)
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        out["rank_bm25"] = None
        return out
    t = time.perf_counter()
    okapi = BM25Okapi([text.lower().split() for text in lex.texts])  # BM25Retriever's default preprocessing
    out["rank_bm25_build_s"] = round(time.perf_counter() - t, 2)
    out["rank_bm25"] = _timed(lambda q: np.argsort(-okapi.get_scores(q.lower().split()))[:100], queries)
    return out


def corpus_chunks(cfg: Config) -> list[str]:
    """The shipped research's chunks (seed and incoming), as ingest cuts them."""
    from . import corpus
    return [d.page_content for name, path in index.iter_files([cfg.corpus_dir / "research", cfg.corpus_dir / "incoming"])
            for d in corpus.chunk(corpus.read(name, path.read_bytes(), cfg), cfg)]


def embedders(cfg: Config, rounds: int = 2) -> dict:
    """chunks/s on the same texts (the shipped corpus's chunks, `rounds` times): ours (what ingest
    uses: sentence-transformers on torch), Chroma's default embedder (`ONNXMiniLM_L6_V2`) reading our
    ONNX export of the same weights from the cache folder it checks before it would download, and
    that graph run with our batching (`embedder.OnnxEmbeddings`). The lowest cosine between the
    export's vectors and ours shows the peers compute the same model."""
    import numpy as np
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2
    from .embedder import OnnxEmbeddings, export
    folder = export(cfg)
    texts = corpus_chunks(cfg) * rounds
    with tempfile.TemporaryDirectory() as tmp:
        chroma = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
        chroma.DOWNLOAD_PATH = Path(tmp)
        shutil.copytree(folder, Path(tmp) / chroma.EXTRACTED_FOLDER_NAME)
        peers = {"ours": models.load_embedder(cfg).embed_documents, "chroma_default": chroma,
                 "onnx": OnnxEmbeddings(folder, cfg.threads).embed_documents}
        out, vectors = {}, {}
        for name, embed in peers.items():
            embed(texts[:8])  # warm: sessions, threads, first allocations
            t = time.perf_counter()
            vectors[name] = np.array(embed(texts))
            out[name] = round(len(texts) / (time.perf_counter() - t), 1)
    cosines = (vectors["onnx"] * vectors["ours"]).sum(1)
    return {"chunks_s": out, "texts": len(texts), "min_cosine_onnx_vs_ours": round(float(cosines.min()), 6),
            "ours_vs_chroma": round(out["ours"] / out["chroma_default"], 2)}


CASE = ("67-year-old woman with type 2 diabetes and chronic kidney disease, eGFR 41, urine albumin-creatinine "
        "ratio 380 mg/g, on metformin 1 g twice daily and lisinopril 20 mg daily.")


def _decode(pieces: Iterator[str]) -> float:
    """Decode speed of a stream: tokens after the first over the time they took (prompt excluded)."""
    stamps = [time.perf_counter() for _ in pieces]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


def generation(cfg: Config, tokens: int) -> tuple[dict, float, dict]:
    """Decode tok/s and time to first token per mode, seconds from loading the model to a first
    report, and who served them (the backend and the base)."""
    from . import generate
    t0 = time.perf_counter()
    reporter = generate.Reporter(replace(cfg, max_new_tokens=tokens))
    first = None
    out = {}
    for mode in generate.MODES:
        r = generate.Report(mode, "")
        tok_s = _decode(reporter.stream(CASE, mode, out=r))
        if mode == "rag":  # the grounded report: the model writes only its Assessment, in one piece
            tok_s = 0.0
        first = first or time.perf_counter() - t0
        out[mode] = {"tok_s": round(tok_s, 1), "ttft_s": round(r.first_token_s or 0, 3), "tokens": r.tokens,
                     "seconds": round(r.seconds, 2)}
    return out, round(first, 2), reporter.serving


def llamacpp_tok_s(cfg: Config, tokens: int) -> float | None:
    """llama.cpp on the same GGUF and the same closed-book prompt, no adapter, decode tok/s;
    None unless the optional llama-cpp-python is installed."""
    from . import llamacpp, prompts
    if not llamacpp.available():
        return None
    from transformers import AutoTokenizer
    engine = llamacpp.Engine(cfg, AutoTokenizer.from_pretrained(models.prepare_generator(cfg)))
    return round(_decode(engine.stream(None, prompts.closed_book(CASE), tokens)), 1)


def transformers_tok_s(cfg: Config, tokens: int) -> float:
    """The fine-tuned mode through transformers + peft, decode tok/s, for comparison."""
    from . import generate
    reporter = generate.Reporter(replace(cfg, max_new_tokens=tokens, backend="transformers"))
    return round(_decode(reporter.stream(CASE, "finetuned")), 1)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _finetune_child(cfg: Config) -> tuple[float, float]:
    from . import finetune
    stamps = []
    finetune.finetune(cfg, "bench", finetune.TrainSettings(limit=12, epochs=1, eval_every=100),
                      progress=lambda s: stamps.append(time.perf_counter()))
    return round((stamps[-1] - stamps[0]) / max(1, len(stamps) - 1), 2), rss_mb()


def finetune_figures(cfg: Config) -> dict:
    """Seconds per LoRA step (batch 4, default settings, a 12-case slice) and the training process's
    peak RSS, in a fresh process so serving memory does not count; an epoch is the shipped split."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from . import cases, finetune
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        per_step, peak = pool.submit(_finetune_child, cfg).result()
    train, _ = cases.split(cases.load_training(cfg))
    steps = -(-len(train) // finetune.TrainSettings().batch)
    return {"finetune_s_per_step": per_step, "finetune_s_per_epoch": round(per_step * steps, 1),
            "finetune_steps_per_epoch": steps, "finetune_peak_rss_mb": round(peak, 1)}


POLICIES = {  # how a report and a training share the cores; `cores` implements the first
    "visitors-first": "the training pauses at its next layer while a report is written",
    "split": "each takes half the cores, always",
    "none": "each takes every core (no coordination)",
}


class _Steps(threading.Thread):
    """Polls a training run's progress and keeps (step, time) at each new step."""

    def __init__(self, run: Path):
        super().__init__(daemon=True)
        self.run_dir, self.seen, self.done = run, [], threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            try:
                state = json.loads((self.run_dir / "progress.json").read_text())
            except (OSError, ValueError):  # being rewritten
                continue
            step = state.get("step") or 0
            if step and (not self.seen or step != self.seen[-1][0]):
                self.seen.append((step, time.perf_counter(), state.get("paused_s", 0.0)))

    def between(self, start: float, end: float) -> list[tuple[int, float]]:
        return [s for s in self.seen if start <= s[1] <= end]

    def after(self, t: float, timeout: float) -> float:
        """The time of the first new step after `t` (waits for it)."""
        stop = time.perf_counter() + timeout
        while time.perf_counter() < stop:
            if later := [s[1] for s in self.seen if s[1] > t]:
                return later[0]
            time.sleep(0.05)
        raise RuntimeError(f"the training in {self.run_dir} made no step in {timeout:.0f} s (see its train.log)")


def _per_step(seen: list) -> float | None:
    """Seconds per step between the first and the last step boundary seen."""
    return round((seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]), 2) if len(seen) > 1 else None


def _paused(seen: list) -> float | None:
    """Seconds the training spent paused for visitors between the first and the last boundary seen."""
    return round(seen[-1][2] - seen[0][2], 2) if len(seen) > 1 and len(seen[0]) > 2 else None


def _pair(idle: float | None, loaded: float | None, loaded_key: str) -> dict:
    return {"idle": idle, loaded_key: loaded, "ratio": round(loaded / idle, 2) if idle and loaded else None}


def load_figures(d: dict) -> dict:
    """An `under_load` block's figures from its samples (`under_load` and `runs --verify` alike)."""
    out = {}
    for key, v in d.items():
        if isinstance(v, dict) and "samples" in v:
            med = {k: round(statistics.median(x), 2) if x else None for k, x in v["samples"].items()}
            out[key] = _pair(med["idle"], med["training"], "training")
        elif isinstance(v, dict) and "boundaries" in v:
            b = v["boundaries"]
            out[key] = _pair(_per_step(b["idle"]), _per_step(b["reports"]), "reports") | {
                "paused_s": _paused(b["reports"]),
                "window_s": round(b["reports"][-1][1] - b["reports"][0][1], 1) if len(b["reports"]) > 1 else None}
    return out


def under_load(cfg: Config, quick: bool = False, policy: str = "visitors-first", tokens: int = 120) -> dict:
    """A fine-tuned report idle and while a training runs (started as the Fine-tune page starts it):
    decode tok/s and seconds from request to last token; and the training's seconds per step idle and
    with one report a minute beside it (each report 5 s into its minute, every minute inside the
    measured steps); every pair from this one run. A `policy` other than the default is for
    comparison only (`bench --policies`)."""
    from . import finetune, generate
    half = max(1, cores.total(cfg) // 2)
    serve = replace(cfg, max_new_tokens=tokens, threads=half if policy == "split" else cfg.threads)
    trainer = replace(cfg, threads=half) if policy == "split" else cfg
    reporter = generate.Reporter(serve)

    def report() -> tuple[float, float]:
        t = time.perf_counter()
        return _decode(reporter.stream(CASE, "finetuned")), time.perf_counter() - t
    report()  # warm: the adapter, the prompt cache
    idle = [report() for _ in range(2 if quick else 3)]
    loaded, minutes = [], 1 if quick else 2
    with tempfile.TemporaryDirectory() as other:
        if policy != "visitors-first":  # a cores folder of its own: the training never sees the reports
            trainer = replace(trainer, cores_home=Path(other))
        run = finetune.start(trainer, f"under-load-{policy}",
                             finetune.TrainSettings(epochs=3, eval_every=10_000, early_stopping=0))
        steps = _Steps(run)
        steps.start()
        try:
            t0 = steps.after(0.0, 300)  # the process loaded the model and made its first step
            idle_end = t0 + (30 if quick else 80)
            time.sleep(max(0.0, idle_end - time.perf_counter()))
            b0 = steps.after(idle_end, 120)
            for m in range(minutes):  # one report a minute
                time.sleep(max(0.0, b0 + 60 * m + 5 - time.perf_counter()))
                loaded.append(report())
            end = b0 + 60 * minutes
            time.sleep(max(0.0, end - time.perf_counter()))
            b1 = steps.after(end, 120)  # the step under way at the minute's end counts too
        finally:
            finetune.cancel(trainer, run.name)
            steps.done.set()
            finetune.wait(trainer, run.name, 120)  # it stops after its step; the next training needs the slot
    rel = lambda seen: [[k, round(t - t0, 3), p] for k, t, p in seen]
    block = {"policy": policy, "about": POLICIES[policy], "report_tokens": tokens, "threads": cores.total(cfg),
             "report_tok_s": {"samples": {"idle": [round(x[0], 1) for x in idle],
                                          "training": [round(x[0], 1) for x in loaded]}},
             "report_s": {"samples": {"idle": [round(x[1], 3) for x in idle],
                                      "training": [round(x[1], 3) for x in loaded]}},
             "train_s_per_step": {"boundaries": {"idle": rel(steps.between(t0, idle_end)),
                                                 "reports": rel(steps.between(b0, b1))}}}
    for key, figures in load_figures(block).items():
        block[key] |= figures
    return block


def _share_paused(u: dict) -> str:
    t = u["train_s_per_step"]
    if t.get("paused_s") is None or not t.get("window_s"):
        return "not recorded"
    return f"{t['paused_s']} s of {t['window_s']} s = {t['paused_s'] / t['window_s']:.0%}"


UNDER_LOAD_TARGETS = {"report_tok_s": 0.35, "train_s_per_step": 1.5}  # decode ≥ 0.35× idle; steps ≤ 1.5× idle


def under_load_text(b: dict | None) -> str:
    """What a training costs the other pages, in one sentence, from a bench run (the Fine-tune page)."""
    u = (b or {}).get("under_load")
    if not u:
        return ("While this trains, a report on Compare comes first: the training pauses at its next layer until "
                "the report is written (`python -m rag_vs_ft bench` measures what that costs each side).")
    return (f"While this trains, a report on Compare comes first: the training pauses at its next layer until the "
            f"report is written. Measured ({'a shipped bench run' if b.get('shipped') else 'this install'}): a "
            f"report decodes at {u['report_tok_s']['ratio']}× its idle speed while a training runs and takes "
            f"{u['report_s']['training']} s instead of {u['report_s']['idle']} s (its first token waits for the "
            f"training's step in flight); the training's steps take {u['train_s_per_step']['ratio']}× as long with "
            f"one report a minute (paused {_share_paused(u)}).")


def first_report_s(cfg: Config) -> float:
    """Seconds from starting a fresh process to a finished fine-tuned report (models prepared)."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "RAG_VS_FT_HOME": str(cfg.data_dir), "RAG_VS_FT_MODELS": str(cfg.models_dir)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag_vs_ft", "report", "--case", CASE, "--mode", "finetuned", "--json"],
                   env=env, check=True, capture_output=True)
    return round(time.perf_counter() - t, 2)


def soak(cfg: Config, sessions: int = 8, reports: int = 2, reporter=None) -> dict:
    """A room full of visitors: `sessions` threads each write `reports` reports (fine-tuned and RAG in
    turn, different cases) through one shared Reporter, as the app's sessions do, while another session
    ingests and deletes documents. Latency is what a visitor waits, queueing included. Afterwards the
    store, the record manager and the catalog must agree."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from . import cases, generate
    reporter = reporter or generate.Reporter(cfg)
    pool = [c["case"] for c in cases.load(cfg, "dev")]
    done, errors, waits, cycles = threading.Event(), [], [], [0]

    def visitor(i: int) -> list[dict]:
        out = []
        for j in range(reports):
            mode, case = ("finetuned", "rag")[(i + j) % 2], pool[(i * reports + j) % len(pool)]
            r, t = generate.Report(mode, ""), time.perf_counter()
            try:
                for _ in reporter.stream(case, mode, out=r):
                    pass
                waits.append(time.perf_counter() - t)
                out.append({"session": i, "mode": mode, "case": case, "text": r.text})
            except Exception as e:  # counted and reported: a soak must not stop at the first failure
                errors.append(f"session {i}: {type(e).__name__}: {e}")
        return out

    def curator() -> None:
        rng = random.Random(1)
        while not done.is_set():
            try:
                r = index.ingest(cfg, [(f"soak-{cycles[0]}.md", f"# Soak {cycles[0]}\n\n{_text(rng, 200)}".encode())])
                errors.extend(f"curator: {e['error']}" for e in r.errors)
                for d in r.documents:
                    index.remove(cfg, d["id"])
                cycles[0] += 1
            except Exception as e:
                errors.append(f"curator: {type(e).__name__}: {e}")
                return

    t0 = time.perf_counter()
    side = threading.Thread(target=curator)
    side.start()
    with ThreadPoolExecutor(sessions) as ex:
        written = [r for rs in ex.map(visitor, range(sessions)) for r in rs]
    done.set()
    side.join()
    with index.write_lock(cfg):
        fixed = index.reconcile(cfg)
    docs = index.documents(cfg)
    consistent = (not fixed["orphans"] and not fixed["missing"] and not fixed["redone"]
                  and index.count(cfg) == sum(d["chunks"] for d in docs))
    q = statistics.quantiles(waits, n=20) if len(waits) > 1 else waits * 19
    return {"sessions": sessions, "reports": len(written), "expected": sessions * reports, "errors": errors,
            "ingest_delete_cycles": cycles[0], "consistent": consistent, "wall_s": round(time.perf_counter() - t0, 1),
            "p50_s": round(statistics.median(waits), 2) if waits else None, "p95_s": round(q[18], 2) if waits else None,
            "written": written}


def page_figures(cfg: Config, engine: dict) -> dict:
    """What the user waits for, through the page (`pagebench`), beside the engine's figures for the
    same case from this run: ttft_s and app_tok_s per mode, app_compare_s for all four columns, and
    the ratios the targets are stated in."""
    from . import generate, pagebench
    page = pagebench.measure(cfg, CASE, list(generate.MODES))
    if page is None:
        return {"ttft_s": None, "app_tok_s": None, "app_compare_s": None, "page": None}
    tok = {m: v["tok_s"] for m, v in page["modes"].items()}
    engine_sum = round(sum(engine["report_s"].values()), 2)
    return {"ttft_s": {m: v["ttft_s"] for m, v in page["modes"].items()}, "app_tok_s": tok,
            "app_compare_s": page["compare_s"], "engine_compare_s": engine_sum,
            "app_vs_engine_tok_s": {m: round(v / engine["generation_tok_s"][m], 2) for m, v in tok.items() if v},
            "app_compare_vs_engine": round(page["compare_s"] / engine_sum, 2) if page["compare_s"] else None,
            "page": page}


def run(cfg: Config, quick: bool = False, progress=print) -> dict:
    sizes = [1000, 5000] if quick else [1000, 10000, 50000]
    out = {"backend": None, "generation_tok_s": {}, "engine_ttft_s": {}, "transformers_tok_s": None,
           "llamacpp_tok_s": None, "embed_chunks_s": None, "ingest_chunks_s": None, "retrieval_ms": {},
           "hybrid_retrieval_ms": {}, "lexical_ms": None, "report_s": {},
           "finetune_s_per_step": None, "first_report_s": None, "rss_mb": None}
    tokens = 64 if quick else cfg.max_new_tokens
    with tempfile.TemporaryDirectory() as tmp:
        bcfg = config.scratch(cfg, Path(tmp))
        progress("start to first report, in a fresh process…")
        index.seed(bcfg)
        out["first_report_s"] = first_report_s(bcfg)
        progress("generation per mode…")
        gen, out["model_load_to_report_s"], served = generation(bcfg, tokens)
        out["backend"] = served["backend"]
        out["generation_tok_s"] = {m: g["tok_s"] for m, g in gen.items()}
        out["engine_ttft_s"] = {m: g["ttft_s"] for m, g in gen.items()}
        out["report_s"] = {m: g["seconds"] for m, g in gen.items()}
        progress("the page in a real browser, the same case in every mode (if chromium is installed)…")
        out.update(page_figures(replace(bcfg, max_new_tokens=tokens), out))
        progress("llama.cpp on the same GGUF, no adapter (if installed)…")
        out["llamacpp_tok_s"] = llamacpp_tok_s(bcfg, tokens)
        out["rss_mb"] = round(rss_mb(), 1)  # serving: generator, adapters, embedder, the seed store
        progress("embedding: ours, Chroma's default and the ONNX graph, on the same texts…")
        out["embedders"] = embedders(bcfg, 1 if quick else 2)
        out["embed_chunks_s"] = out["embedders"]["chunks_s"]["ours"]
        if out["backend"] != "transformers":
            progress("the fine-tuned mode through transformers, for comparison…")
            out["transformers_tok_s"] = transformers_tok_s(bcfg, tokens)
        n = 300 if quick else sizes[0]
        progress(f"ingesting {n} chunks through the real path…")
        out["ingest_chunks_s"] = round(ingest_throughput(bcfg, n), 1)
        for size in sizes:
            progress(f"retrieval at {size} chunks…")
            fill(bcfg, size)
            out["retrieval_ms"][str(size)] = retrieval_ms(bcfg, 30 if quick else 100)
            out["hybrid_retrieval_ms"][str(size)] = hybrid_ms(bcfg, 30 if quick else 100)
        progress("BM25: bm25s against rank_bm25 (if installed) at the largest size…")
        out["lexical_ms"] = lexical_choice(bcfg, 20 if quick else 60)
        progress("soak: 8 sessions writing reports while another ingests and deletes…")
        soaked = soak(replace(bcfg, max_new_tokens=tokens), 8, 1 if quick else 3)
        out["soak"] = {k: v for k, v in soaked.items() if k != "written"}
        progress("fine-tuning steps, in a fresh process…")
        out.update(finetune_figures(bcfg))
        progress("a report while a training runs, and the training while reports are written…")
        out["under_load"] = under_load(bcfg, quick)
    return out | {"produced_by": stamp(served)}


def policies(cfg: Config, quick: bool = False, progress=print) -> dict:
    """`under_load` for each way of sharing the cores, one after the other: why `cores` does what it does."""
    out = {"policies": {}}
    with tempfile.TemporaryDirectory() as tmp:
        bcfg = config.scratch(cfg, Path(tmp))
        index.seed(bcfg)
        for name in POLICIES:
            progress(f"under load, {name}: {POLICIES[name]}…")
            out["policies"][name] = under_load(bcfg, quick, name)
    return out | {"produced_by": stamp()}


def load_table(b: dict | None, compared: dict | None) -> str:
    """The under-load targets from a bench run, and the ways of sharing the cores side by side."""
    lines = ["| | report decode, tok/s: idle → during a training | report, s: idle → during | training s/step: "
             "idle → one report a minute | training paused for reports |", "|---|---|---|---|---|"]
    row = lambda name, u: (f"| {name} | {u['report_tok_s']['idle']} → {u['report_tok_s']['training']} "
                           f"(**{u['report_tok_s']['ratio']}×**) | {u['report_s']['idle']} → {u['report_s']['training']} | "
                           f"{u['train_s_per_step']['idle']} → {u['train_s_per_step']['reports']} "
                           f"(**{u['train_s_per_step']['ratio']}×**) | {_share_paused(u)} |")
    if b and b.get("under_load"):
        lines.append(row("the bench run (as shipped: visitors first)", b["under_load"]))
    for name, u in ((compared or {}).get("policies") or {}).items():
        lines.append(row(f"{name}: {POLICIES[name]}", u))
    return "\n".join(lines)


def path(cfg: Config, name: str = "bench") -> Path:
    return cfg.eval_dir / f"{name}.json"


def save(cfg: Config, r: dict, name: str = "bench") -> Path:
    """Keep the figures (full or --quick) where Decide reads them: serving memory, ingest speed and
    training cost are this machine's, so its cost model prices both methods from them."""
    cfg.eval_dir.mkdir(parents=True, exist_ok=True)
    write_json(path(cfg, name), r)
    return path(cfg, name)


def table(r: dict) -> str:
    """The bench run as one Markdown table, section by section in the order it measures."""
    rows = [*_generation_rows(r), *_page_rows(r), *_embedding_rows(r), *_retrieval_rows(r), *_training_rows(r),
            *_load_rows(r), *_soak_rows(r)]
    return "\n".join(["| figure | value |", "|---|---|", *rows])


def _generation_rows(r: dict) -> list[str]:
    ratio = (f" ({r['generation_tok_s']['finetuned'] / r['llamacpp_tok_s']:.2f}× llama.cpp's {r['llamacpp_tok_s']}"
             " on the bare model)" if r["llamacpp_tok_s"] else " (llama.cpp not installed)")
    return [f"| generation, {mode} ({r['backend']}) | "
            + (f"{v} tok/s, first token after {r['engine_ttft_s'][mode]} s" if mode != "rag" else
               f"first text after {r['engine_ttft_s'][mode]} s (the case restated), report done after "
               f"{r['report_s'][mode]} s (the model writes the Assessment only)")
            + f"{ratio if mode == 'finetuned' else ''} |" for mode, v in r["generation_tok_s"].items()]


def _page_rows(r: dict) -> list[str]:
    rows = []
    if "app_tok_s" in r and not r["app_tok_s"]:
        rows += ["| page figures | not measured: playwright or Debian's chromium missing (make test installs both) |"]
    if r.get("app_tok_s"):
        ratio, target = r["app_vs_engine_tok_s"], {"finetuned": " (target ≤ 0.5 s)", "rag": " (target ≤ 1.0 s)"}
        rows += [f"| page, {m}: click → first text; decode as shown | {r['ttft_s'][m]} s"
                 f"{target.get(m, ', after the columns before it')}"
                 + (f"; {v} tok/s = {ratio[m]}× the engine (target ≥ 0.85×)" if v else "") + " |"
                 for m, v in r["app_tok_s"].items()]
        rows += [f"| page: click → all {len(r['app_tok_s'])} columns done | {r['app_compare_s']} s = "
                 f"{r['app_compare_vs_engine']}× the engine's {r['engine_compare_s']} s for the same reports "
                 "(target ≤ 1.15×) |"]
    if r.get("transformers_tok_s"):
        rows += [f"| generation, finetuned (transformers + peft, bf16) | {r['transformers_tok_s']} tok/s |"]
    return rows + [f"| fresh process to a finished fine-tuned report | {r['first_report_s']} s |"]


def _embedding_rows(r: dict) -> list[str]:
    rows = [f"| embedding (all-MiniLM-L6-v2, the corpus's chunks) | {r['embed_chunks_s']} chunks/s |",
            f"| ingest, read → chunk → embed → index | {r['ingest_chunks_s']} chunks/s |"]
    if e := r.get("embedders"):
        c = e["chunks_s"]
        rows += [f"| embedders on the same {e['texts']} chunks | ours (sentence-transformers, torch) {c['ours']}, "
                 f"Chroma's default ONNXMiniLM_L6_V2 {c['chroma_default']}, the same ONNX graph batched like ours "
                 f"{c['onnx']} chunks/s: ours {e['ours_vs_chroma']}× Chroma's (lowest cosine, export vs ours: "
                 f"{e['min_cosine_onnx_vs_ours']}) |"]
    return rows


def _retrieval_rows(r: dict) -> list[str]:
    rows = [f"| retrieval at {int(k):,} chunks, query embedding included | p50 {v['p50']} ms, p95 {v['p95']} ms |"
            for k, v in r["retrieval_ms"].items()]
    rows += [f"| hybrid retrieval + population check at {int(k):,} chunks | p50 {v['p50']} ms, p95 {v['p95']} ms "
             f"(reading the case and its candidates: {v.get('reading_ms_p50', '?')} ms; BM25 index built once in "
             f"{v['bm25_build_s']} s) |" for k, v in r["hybrid_retrieval_ms"].items()]
    if lex := r.get("lexical_ms"):
        other = (f"rank_bm25 p50 {lex['rank_bm25']['p50']} ms, p95 {lex['rank_bm25']['p95']} ms "
                 f"(built in {lex['rank_bm25_build_s']} s)" if lex.get("rank_bm25") else "rank_bm25 not installed")
        rows += [f"| BM25 query alone at {lex['chunks']:,} chunks | bm25s p50 {lex['bm25s']['p50']} ms, "
                 f"p95 {lex['bm25s']['p95']} ms; {other} |"]
    return rows


def _training_rows(r: dict) -> list[str]:
    return [f"| LoRA fine-tuning (batch 4, max length 384) | {r['finetune_s_per_step']} s/step, "
            f"{r['finetune_s_per_epoch']} s/epoch ({r['finetune_steps_per_epoch']} steps), "
            f"peak RSS {r['finetune_peak_rss_mb']} MB |",
            f"| serving peak RSS (generator, adapters, embedder, store) | {r['rss_mb']} MB |"]


def _load_rows(r: dict) -> list[str]:
    if not (u := r.get("under_load")):
        return []
    t, tok, step = UNDER_LOAD_TARGETS, u["report_tok_s"], u["train_s_per_step"]
    met = lambda ok: "met" if ok else "**missed**"
    return [f"| a report while a training runs ({u['report_tokens']} tokens) | decode {tok['training']} tok/s = "
            f"{tok['ratio']}× idle {tok['idle']} (target ≥ {t['report_tok_s']}×: "
            f"{met((tok['ratio'] or 0) >= t['report_tok_s'])}) |",
            f"| the training with one report a minute | {step['reports']} s/step = {step['ratio']}× idle "
            f"{step['idle']} (target ≤ {t['train_s_per_step']}×: {met((step['ratio'] or 9) <= t['train_s_per_step'])}); "
            f"paused for the reports {_share_paused(u)} |"]


def _soak_rows(r: dict) -> list[str]:
    if not (soak := r.get("soak")):
        return []
    return [f"| soak: {soak['sessions']} sessions, {soak['reports']}/{soak['expected']} reports while another "
            f"session ingested and deleted {soak['ingest_delete_cycles']} times | report p50 {soak['p50_s']} s, "
            f"p95 {soak['p95_s']} s (queueing included); {len(soak['errors'])} errors; store and catalog "
            f"{'consistent' if soak['consistent'] else 'INCONSISTENT'} |"]
