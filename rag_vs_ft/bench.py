"""Speed and memory figures, printed as a table (targets live here, not in timed tests).

    python -m rag_vs_ft bench            # ingest throughput, retrieval latency at 1k/10k/50k chunks, ...
    python -m rag_vs_ft bench --quick    # smaller sizes, well under two minutes

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


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(cfg: Config, quick: bool = False, progress=print) -> dict:
    sizes = [1000, 5000] if quick else [1000, 10000, 50000]
    out = {"embed_chunks_s": None, "ingest_chunks_s": None, "retrieval_ms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        bcfg = replace(cfg, data_dir=Path(tmp), models_home=cfg.models_dir, chroma_host="")
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
    lines = ["| figure | value |", "|---|---|",
             f"| embedding (all-MiniLM-L6-v2, ~500-char chunks) | {r['embed_chunks_s']} chunks/s |",
             f"| ingest, read → chunk → embed → index | {r['ingest_chunks_s']} chunks/s |"]
    lines += [f"| retrieval at {int(k):,} chunks, query embedding included | p50 {v['p50']} ms, p95 {v['p95']} ms |"
              for k, v in r["retrieval_ms"].items()]
    lines += [f"| peak RSS of the benchmark process | {r['rss_mb']} MB |"]
    return "\n".join(lines)
