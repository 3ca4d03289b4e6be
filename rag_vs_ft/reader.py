"""The RAG side's reader adapter, trained RAFT-style: a 135M model does not read long context well,
so we teach it to read. Each example is (three research passages + a training case) -> a SOAP report
whose Plan copies the practice point of the passage that fits the case and cites it as [n].

Half the examples use the shipped research's practice points; half use invented drugs in invented
trials, so the adapter learns to copy what the passage says rather than recall it. The right passage
sits at every position equally often, beside distractors. Only training cases are used; held-out
cases never are.

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
            "text": text, "doc_id": trial.lower(), "section": "Practice point"}


def research_chunks(cfg: Config) -> list[dict]:
    out = []
    for path in sorted((cfg.corpus_dir / "research").glob("*.md")):
        doc = corpus.read(path.name, path.read_bytes(), cfg)
        out += [{"title": c.metadata["title"], "published": c.metadata["published"], "text": c.page_content,
                 "doc_id": c.metadata["doc_id"], "section": c.metadata["section"]}
                for c in corpus.chunk(doc, cfg)]
    return out


def plan_from(passage: dict, n: int) -> str:
    point = passage["text"].split("\n", 1)[-1].strip()
    return f"Plan: {point} [{n}]"


def examples(cfg: Config, items: list[dict], seed: int) -> list[tuple[list[dict], str]]:
    """(messages, target) pairs for the reader adapter."""
    import numpy as np
    from . import models
    rng = random.Random(seed)
    chunks = research_chunks(cfg)
    emb = models.load_embedder(cfg)
    chunk_vecs = np.array(emb.embed_documents([c["text"] for c in chunks]))
    case_vecs = np.array(emb.embed_documents([c["case"] for c in items]))
    points = [i for i, c in enumerate(chunks) if c["section"].lower().startswith("practice point")]
    out = []
    for k, item in enumerate(items):
        sims = chunk_vecs @ case_vecs[k]
        if k % 2 == 0:   # a real practice point: the closest one to the case
            gold = chunks[max(points, key=lambda i: sims[i])]
        else:            # an invented drug the model cannot know
            gold = invented_passage(item["condition"], rng)
        far = [i for i in np.argsort(sims)[: len(chunks) // 2] if chunks[i]["doc_id"] != gold["doc_id"]]
        distractors = [chunks[i] for i in rng.sample(far, 2)]
        slot = k % 3     # the right passage sits at 1, 2 and 3 equally often
        passages = distractors[:slot] + [gold] + distractors[slot:]
        soa = "\n".join(item["report"].splitlines()[:3])
        out.append((prompts.open_book(item["case"], passages), f"{soa}\n{plan_from(gold, slot + 1)}"))
    return out


def reader_examples(cfg: Config, data: dict, seed: int):
    train, val = cases.split(data)
    return examples(cfg, train, seed), examples(cfg, val, seed + 1)
