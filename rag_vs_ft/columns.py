"""A comparison's columns, written the way the Compare page shows them; the page and `report` only draw
the events.

Every column is on screen before the first one writes. The local RAG column's first piece, the case
restated, needs no model: it shows as soon as the first column has text. Then each column writes to
its end in turn (one model serves them all), and its finished column (`comparison.column`) follows:
report, citations, passages, support checks, key facts. A column that fails says why; the others go on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from . import cases, comparison, generate
from .errors import UserError

# Text events at most this often after a column's first: each redraw re-sends the whole text, and the
# browser shares the 2 cores with the model. One per token decoded at 0.35x the engine; every 0.3 s
# later columns fell to 0.75-0.86x in some runs; every 0.5 s every column kept 0.9x or more (3 runs of 3).
EVERY_S = 0.5


@dataclass
class Event:
    mode: str
    text: str = ""                   # the column's text so far ("" with a finished column)
    piece: str = ""                  # what this event added to it
    column: dict | None = None       # the finished column, or {"error": message}


class _Column:
    def __init__(self, reporter, case: str, mode: str, as_of: str | None, adapter: str | None):
        self.reporter, self.mode = reporter, mode
        self.report = generate.Report(mode, reporter.model_name(mode, adapter))
        self.pieces = reporter.stream(case, mode, as_of, self.report, adapter=adapter)  # not pulled yet
        self.head, self.spent, self.error, self.told = None, 0.0, None, False

    def prime(self) -> str:
        """The local RAG column's restated case (no model), taken once; "" for the others."""
        if self.head is None:
            self.head = ""
            if self.mode == "rag" and not self.reporter.remote():
                t = time.perf_counter()
                try:
                    self.head = next(self.pieces, "")
                except UserError as e:
                    self.error = str(e)
                self.spent = time.perf_counter() - t
        return self.head

    def finish(self, key_facts: list[dict] | None) -> dict:
        r = self.report
        col = comparison.column(r, cases.facts_found(r.text, key_facts) if key_facts else None)
        if self.mode == "rag" and not self.reporter.remote():
            col["how"] = (f"Subjective and Objective restate the case; the model wrote the Assessment "
                          f"({r.tokens} tokens); the Plan copies the chosen passage word for word.")
        return col


def write(reporter, case: str, modes: list[str], as_of: str | None = None, adapter: str | None = None,
          key_facts: list[dict] | None = None, every: float = EVERY_S, early: bool = True) -> Iterator[Event]:
    """Each column's text as it grows (at most every `every` s; 0: every piece), then the column.
    `early=False` (a terminal, which prints one column after another) keeps the RAG head for its turn."""
    cols = {m: _Column(reporter, case, m, as_of, adapter) for m in modes}
    primed = not early
    for mode in modes:
        col = cols[mode]
        col.prime()
        if col.error:
            yield Event(mode, column={"error": col.error})
            continue
        text, shown = col.head, col.head if col.told else ""
        pending = "" if col.told else col.head
        last, t = 0.0, time.perf_counter()
        try:
            for piece in col.pieces:
                text += piece
                pending += piece
                if text and time.perf_counter() - last >= every:
                    yield Event(mode, text, pending)
                    shown, pending, last = text, "", time.perf_counter()
                    if not primed:  # the first text is on screen: show the other RAG column's head now
                        primed = True
                        for m in modes:
                            if m != mode and (h := cols[m].prime()):
                                cols[m].told = True
                                yield Event(m, h, h)
        except UserError as e:  # a stalled model, an unreachable endpoint: this column only
            yield Event(mode, column={"error": str(e)})
            continue
        if text != shown:
            yield Event(mode, text, pending)
        col.report.seconds = col.spent + time.perf_counter() - t  # its own work, not the columns' before it
        yield Event(mode, column=col.finish(key_facts))
