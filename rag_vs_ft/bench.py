"""Speed and memory figures, printed as a table (targets live here, not in timed tests).

    python -m rag_vs_ft bench            # the whole table
    python -m rag_vs_ft bench --quick    # smaller sizes, under two minutes

Generation is timed per mode with the shipped adapters (greedy, the app's settings); with the
optional llama-cpp-python installed, llama.cpp runs the same GGUF in the same process for a ratio.

Ingest throughput goes through the real path (read, chunk, embed, index). For the larger retrieval
sizes the store is filled with synthetic chunks whose vectors are random unit vectors (embedding
50k chunks would take a quarter of an hour on 2 cores); every query is embedded for real.
"""
from __future__ import annotations

import random
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from . import index, models
from .config import Config

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
    have = vs._collection.count()
    rng = np.random.default_rng(have)
    words = random.Random(have)
    for start in range(have, total, 5000):
        n = min(5000, total - start)
        vecs = rng.standard_normal((n, models.EMBED_DIM)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        vs._collection.add(ids=[f"syn-{start + i}" for i in range(n)], embeddings=vecs.tolist(),
                           documents=[_text(words, 60) for _ in range(n)],
                           metadatas=[{"doc_id": f"syn-{(start + i) // 10}", "published_int": 20150101 + i % 100000,
                                       "title": "synthetic", "published": "2020-01-01", "source": "bench",
                                       "section": "", "chunk": i % 10} for i in range(n)])


def retrieval_ms(cfg: Config, repeats: int = 60) -> dict:
    """End-to-end retrieval (query embedding included), p50 and p95 in milliseconds."""
    vs = index.vector_store(cfg)
    index.retrieve(cfg, QUERIES[0], vs=vs)  # warm up
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        index.retrieve(cfg, QUERIES[i % len(QUERIES)] + f" {i}", vs=vs)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 1), "p95": round(times[int(0.95 * len(times)) - 1], 1)}


def embed_chunks_s(n: int = 256) -> float:
    rng = random.Random(1)
    texts = [_text(rng, 75) for _ in range(n)]  # ~500 characters each
    emb = models.load_embedder()
    emb.embed_documents(texts[:8])
    t = time.perf_counter()
    emb.embed_documents(texts)
    return n / (time.perf_counter() - t)


CASE = ("67-year-old woman with type 2 diabetes and chronic kidney disease, eGFR 41, urine albumin-creatinine "
        "ratio 380 mg/g, on metformin 1 g twice daily and lisinopril 20 mg daily.")


def generation(cfg: Config, tokens: int) -> tuple[dict, float]:
    """tok/s and time to first token per mode, and seconds from loading the model to a first report."""
    from . import generate
    t0 = time.perf_counter()
    reporter = generate.Reporter(replace(cfg, max_new_tokens=tokens))
    first = None
    out = {}
    for mode in generate.MODES:
        r = reporter.report(CASE, mode)
        first = first or time.perf_counter() - t0
        out[mode] = {"tok_s": round(r.tokens / r.seconds, 1), "ttft_s": round(r.first_token_s or 0, 3),
                     "tokens": r.tokens}
    return out, round(first, 2)


def llamacpp_tok_s(tokens: int) -> float | None:
    """The same GGUF through llama.cpp, if the optional llama-cpp-python is installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    import os
    llm = Llama(model_path=str(models.gguf_path()), n_threads=os.cpu_count(), n_ctx=1024, verbose=False)
    messages = [{"role": "user", "content": f"Case: {CASE}\nWrite the SOAP report."}]
    t = time.perf_counter()
    r = llm.create_chat_completion(messages, max_tokens=tokens, temperature=0)
    return round(r["usage"]["completion_tokens"] / (time.perf_counter() - t), 1)


def finetune_s_per_step(cfg: Config) -> float:
    """Seconds per LoRA step (batch 4, the default settings) on a 12-case slice."""
    from . import finetune
    stamps = []
    finetune.finetune(cfg, "bench", finetune.TrainSettings(limit=12, epochs=1, eval_every=100),
                      progress=lambda s: stamps.append(time.perf_counter()))
    return round((stamps[-1] - stamps[0]) / max(1, len(stamps) - 1), 2)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(cfg: Config, quick: bool = False, progress=print) -> dict:
    sizes = [1000, 5000] if quick else [1000, 10000, 50000]
    out = {"generation_tok_s": {}, "ttft_s": {}, "llamacpp_tok_s": None, "embed_chunks_s": None,
           "ingest_chunks_s": None, "retrieval_ms": {}, "finetune_s_per_step": None, "first_report_s": None}
    tokens = 64 if quick else 160
    with tempfile.TemporaryDirectory() as tmp:
        bcfg = replace(cfg, data_dir=Path(tmp), models_home=cfg.models_dir, chroma_host="")
        progress("generation per mode…")
        index.seed(bcfg)
        gen, out["first_report_s"] = generation(bcfg, tokens)
        out["generation_tok_s"] = {m: g["tok_s"] for m, g in gen.items()}
        out["ttft_s"] = {m: g["ttft_s"] for m, g in gen.items()}
        progress("llama.cpp on the same GGUF (if installed)…")
        out["llamacpp_tok_s"] = llamacpp_tok_s(tokens)
        progress("fine-tuning steps…")
        out["finetune_s_per_step"] = finetune_s_per_step(bcfg)
        progress("embedding throughput…")
        out["embed_chunks_s"] = round(embed_chunks_s(128 if quick else 512), 1)
        n = 300 if quick else sizes[0]
        progress(f"ingesting {n} chunks through the real path…")
        out["ingest_chunks_s"] = round(ingest_throughput(bcfg, n), 1)
        for size in sizes:
            progress(f"retrieval at {size} chunks…")
            fill(bcfg, size)
            out["retrieval_ms"][str(size)] = retrieval_ms(bcfg, 30 if quick else 100)
    out["rss_mb"] = round(rss_mb(), 1)
    return out


def table(r: dict) -> str:
    ratio = (f" ({r['generation_tok_s']['finetuned'] / r['llamacpp_tok_s']:.2f}× llama.cpp's {r['llamacpp_tok_s']})"
             if r["llamacpp_tok_s"] else " (llama.cpp not installed)")
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| generation, {mode} | {v} tok/s, first token after {r['ttft_s'][mode]} s"
              f"{ratio if mode == 'finetuned' else ''} |" for mode, v in r["generation_tok_s"].items()]
    lines += [f"| model load to first report | {r['first_report_s']} s |",
              f"| LoRA fine-tuning (batch 4) | {r['finetune_s_per_step']} s/step |",
              f"| embedding (all-MiniLM-L6-v2, ~500-char chunks) | {r['embed_chunks_s']} chunks/s |",
             f"| ingest, read → chunk → embed → index | {r['ingest_chunks_s']} chunks/s |"]
    lines += [f"| retrieval at {int(k):,} chunks, query embedding included | p50 {v['p50']} ms, p95 {v['p95']} ms |"
              for k, v in r["retrieval_ms"].items()]
    lines += [f"| peak RSS of the benchmark process (training included) | {r['rss_mb']} MB |"]
    return "\n".join(lines)
