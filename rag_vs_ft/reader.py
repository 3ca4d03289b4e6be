"""The RAG side's reader adapter, trained RAFT-style: a 135M model does not read long context well,
so we teach it to read. Each example is (three research passages + a training case) -> a SOAP report
whose Plan copies the newest practice point that fits the case and cites it as [n].

The passages are what retrieval returns for the case (the best chunk of each of the top documents).
In half the examples the answer is a real practice point from the shipped research; in the other half
an invented drug from an invented, newer trial replaces the last passage, so the adapter learns to
copy what a passage says (names and doses it cannot know) rather than recall. Passages are shuffled,
so the answer sits at every position. Only training cases are used; held-out cases never are.

    python -m rag_vs_ft finetune --reader --name reader
"""
from __future__ import annotations

import random

from . import cases, corpus, prompts
from .config import Config

CONDITIONS = {  # case condition -> words a practice point would use for it
    "t2d-ckd": "type 2 diabetes and chronic kidney disease", "hfref": "heart failure with reduced ejection fraction",
    "hfpef": "heart failure with preserved ejection fraction", "af": "atrial fibrillation",
    "hypertension": "hypertension", "asthma": "asthma", "copd": "COPD",
    "obesity": "obesity", "hyperlipidemia": "high LDL cholesterol", "cap": "community-acquired pneumonia",
}
SYLLABLES = "vel nat rin zor ba lix tem or qua dex pra lun mi sor cav ten gli fa ro mex".split()
SUFFIXES = ["tinib", "flozin", "zumab", "pril", "sartan", "glutide", "statin", "mycin", "terol", "parin"]
RELEVANT = 0.08  # cosine margin: practice points this close to the best passage count as fitting the case
OUTCOMES = ["hospitalisation", "major cardiovascular events", "exacerbations", "kidney function decline",
            "symptoms and quality of life", "mortality"]


def _drug(rng: random.Random) -> str:
    return "".join(rng.sample(SYLLABLES, 2)) + rng.choice(SUFFIXES)


def invented_passage(condition: str, rng: random.Random) -> dict:
    drug, trial = _drug(rng), "".join(rng.sample("ABCDEFGHKLMNPRSTVZ", 4)) + "-" + str(rng.randint(1, 9))
    dose = f"{rng.choice([2, 5, 10, 20, 25, 40, 50, 100, 150, 200])} mg {rng.choice(['once daily', 'twice daily', 'once weekly'])}"
    phrase = CONDITIONS[condition]
    text = (f"Practice point\nIn adults with {phrase}, add {drug} {dose} to usual care; in the {trial} "
            f"trial it reduced {rng.choice(OUTCOMES)}.")
    return {"title": f"{trial}: {drug} in {phrase}", "published": f"{rng.randint(2026, 2030)}-01-01",
            "passage": text, "doc_id": trial.lower(), "section": "Practice point"}


def research_chunks(cfg: Config) -> list[dict]:
    out = []
    for path in sorted((cfg.corpus_dir / "research").glob("*.md")):
        doc = corpus.read(path.name, path.read_bytes(), cfg)
        out += [{"title": c.metadata["title"], "published": c.metadata["published"], "passage": c.page_content,
                 "doc_id": c.metadata["doc_id"], "section": c.metadata["section"]}
                for c in corpus.chunk(doc, cfg)]
    return out


def plan_from(passage: dict, n: int) -> str:
    point = passage["passage"].split("\n", 1)[-1].strip()
    return f"Plan: {point} [{n}]"


def is_point(chunk: dict) -> bool:
    return chunk["section"].lower().startswith("practice point")


def examples(cfg: Config, items: list[dict], seed: int) -> list[tuple[list[dict], str]]:
    """(messages, target) pairs for the reader adapter."""
    import numpy as np
    from . import models
    rng = random.Random(seed)
    chunks = research_chunks(cfg)
    emb = models.load_embedder(cfg)
    chunk_vecs = np.array(emb.embed_documents([c["passage"] for c in chunks]))
    case_vecs = np.array(emb.embed_documents([c["case"] for c in items]))
    out = []
    for k, item in enumerate(items):
        sims = chunk_vecs @ case_vecs[k]
        top, seen = [], set()
        for i in map(int, np.argsort(-sims)):  # the best chunk of each top document, as retrieval does
            if chunks[i]["doc_id"] not in seen and len(top) < cfg.top_k:
                seen.add(chunks[i]["doc_id"])
                top.append(i)
        passages = [chunks[i] for i in top]
        fits = [chunks[i] for i in top if is_point(chunks[i]) and sims[i] >= sims[top[0]] - RELEVANT]
        if k % 2 or not fits:
            gold = invented_passage(item["condition"], rng)
            passages[-1] = gold
        else:  # the newest practice point among those about as relevant as the best passage
            gold = max(fits, key=lambda p: p["published"])
        rng.shuffle(passages)
        soa = "\n".join(item["report"].splitlines()[:3])
        out.append((prompts.open_book(item["case"], passages), f"{soa}\n{plan_from(gold, passages.index(gold) + 1)}"))
    return out


def reader_examples(cfg: Config, data: dict, seed: int):
    train, val = cases.split(data)
    return examples(cfg, train, seed), examples(cfg, val, seed + 1)
