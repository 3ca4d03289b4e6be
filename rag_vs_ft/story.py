"""The story the app replays, as steps a presenter can run, and run again for the next audience:

    1. compare with the research as of the fine-tuned model's training cutoff: both columns know the same
    2. add the new research (the documents in corpus/incoming/)
    3. compare again: the RAG column reads and cites it; the fine-tuned column cannot until retrained

The way back removes the new research again. The case is a shipped one whose current answer is only
in the new research."""
from __future__ import annotations

import hashlib
from pathlib import Path

from . import cases, index
from .config import Config

INTRO = ("A team needed medical reports. It fine-tuned a small model on a small set of reports; the model "
         "overfit and went stale as the research moved on. Switching to retrieval over the latest research "
         "made the reports accurate and current. Replay it below in three clicks, or write your own case.")
CASE_ID = "g2-ho-09"  # severe OSA with obesity: tirzepatide since SURMOUNT-OSA (2024), in incoming/ only
MODES = ["finetuned", "rag"]
STEPS = {
    1: "Compare as of the training cutoff",
    2: "Add the new research",
    3: "Compare again",
}
LOOK = {
    1: "Both columns know only research up to the cutoff. Look at the Plans: neither offers what is "
       "current practice today, and the RAG column can only cite what existed then.",
    2: "One click adds the new papers to the research index. Nothing is retrained: watch the progress bar.",
    3: "Same case, same models. The RAG column now cites the new research (marked 🆕); the fine-tuned "
       "column writes what it wrote before, because its knowledge is frozen in its weights.",
}


def case(cfg: Config) -> dict:
    return next(c for c in cases.load_heldout(cfg) if c["id"] == CASE_ID)


def incoming(cfg: Config) -> list[Path]:
    return [p for _, p in index.iter_files([cfg.corpus_dir / "incoming"])]


def added(cfg: Config) -> list[str]:
    """Ids of the indexed documents that came from corpus/incoming/ (matched by content, not name)."""
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in incoming(cfg)}
    return sorted(d["id"] for d in index.documents(cfg) if d["sha256"] in shas)


def add(cfg: Config, progress=None) -> index.IngestResult:
    return index.ingest(cfg, index.iter_files([cfg.corpus_dir / "incoming"]), progress)


def undo(cfg: Config) -> int:
    """Remove the new research again; returns the chunks deleted."""
    return sum(index.remove(cfg, doc_id) for doc_id in added(cfg))


def new_citations(before: list[dict], after: list[dict]) -> list[str]:
    """Documents cited `after` (a report's citations) that were not cited `before`."""
    return [c["doc_id"] for c in after if c["doc_id"] not in {b["doc_id"] for b in before}]
