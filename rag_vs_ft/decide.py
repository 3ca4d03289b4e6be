"""The article's "how to decide", as a function of the situation and the last evaluation's numbers.

Each factor adds points to RAG or to fine-tuning, with a reason that quotes the measurement behind
it where there is one. Both scoring high means both: fine-tune for format, retrieve for knowledge.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Situation:
    needs_current_knowledge: bool = True   # answers depend on facts newer than the model or external docs
    style_matters_most: bool = False       # the goal is a format, tone or structure, not new facts
    labelled_examples: int = 150           # size of the task's training set
    gpu_available: bool = False            # compute for (re)training
    knowledge_changes: str = "monthly"     # how often the knowledge changes: never, yearly, monthly, weekly
    needs_citations: bool = True           # users must see where a statement comes from


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


def recommend(s: Situation, result: dict | None = None, injection: dict | None = None) -> dict:
    """{"recommendation": "RAG" | "fine-tuning" | "both", "rag": points, "finetune": points, "reasons": [...]}
    `result` is the last evaluation, `injection` the last knowledge-injection experiment (both optional)."""
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
    changes = {"never": 0, "yearly": 1, "monthly": 2, "weekly": 3}.get(s.knowledge_changes, 2)
    if changes >= 2:
        why("RAG", changes - 1, f"Knowledge changes {s.knowledge_changes}: a fine-tuned model is stale from the day "
            "it is trained; a re-upload updates RAG at once.", _injected(injection))
    elif changes == 0:
        why("fine-tuning", 1, "Knowledge never changes, so a trained model does not go stale.")
    if s.needs_citations:
        prec = _metric(result, "rag", "citation_precision")
        why("RAG", 2, "Citations are required: only RAG can point to the passage a statement comes from.",
            f"RAG citation precision: {_fmt(prec)}" if prec else None)
    if rag >= 3 and ft >= 3:
        choice = "both"
    else:
        choice = "RAG" if rag >= ft else "fine-tuning"
    return {"recommendation": choice, "rag": rag, "finetune": ft, "reasons": reasons}
