"""How much of a report is copied from the training reports: the share of its word 8-grams that
occur verbatim in some training report, and the nearest training report with the copied spans."""
from __future__ import annotations

import re
from functools import lru_cache

N = 8


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[./][a-z0-9]+)*", text.lower())


def grams(words: list[str], n: int = N) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=4)
def _training_grams(reports: tuple[str, ...]) -> tuple[set, list[set]]:
    each = [grams(tokens(r)) for r in reports]
    return set().union(*each) if each else set(), each


def overlap(report: str, training_reports: list[str]) -> dict:
    """{"share": float, "nearest": index or None, "nearest_share": float, "copied": [(start, end)]}.
    `copied` are character spans of `report` covered by an 8-gram found in the training reports."""
    pool, each = _training_grams(tuple(training_reports))
    words = [(m.group(), m.start(), m.end()) for m in
             re.finditer(r"[a-z0-9]+(?:[./][a-z0-9]+)*", report.lower())]
    mine = [tuple(w for w, _, _ in words[i:i + N]) for i in range(len(words) - N + 1)]
    if not mine:
        return {"share": 0.0, "nearest": None, "nearest_share": 0.0, "copied": []}
    hits = [g in pool for g in mine]
    spans = []
    for i, hit in enumerate(hits):
        if hit:
            start, end = words[i][1], words[i + N - 1][2]
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
    shares = [len(set(mine) & g) / len(set(mine)) for g in each]
    best = max(range(len(shares)), key=shares.__getitem__) if shares else None
    return {"share": sum(hits) / len(hits), "nearest": best,
            "nearest_share": shares[best] if best is not None else 0.0, "copied": spans}
