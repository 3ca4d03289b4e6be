"""A reporter without a model, for page tests that drive the app in seconds (the way simonw/llm tests
with a mock model). Deterministic text, streamed in pieces; the open-book modes read the real store and
choose their passage for real (`retrieve.passages`, `retrieve.choose`: no model involved), so citations,
support checks and the story's new research behave as they do with the real reporter."""
from __future__ import annotations

import time

from rag_vs_ft import cases, generate, retrieve
from rag_vs_ft.errors import UserError


class Reporter:
    backend = "fake"
    fail: set[str] = set()  # modes whose column fails, as a stalled model would

    def __init__(self, cfg, adapter: str = "finetuned", reader: str = "reader"):
        self.cfg, self.adapter, self.reader = cfg, adapter, reader

    def model_name(self, mode: str, adapter: str | None = None) -> str:
        name = self.adapter_for(mode, adapter)
        return "fake model" + (f" + LoRA '{name}'" if name else "")

    def adapter_for(self, mode: str, adapter: str | None = None) -> str | None:
        return {"finetuned": adapter or self.adapter, "hybrid": adapter or self.adapter, "rag": self.reader}.get(mode)

    def remote(self, mode: str | None = None) -> bool:
        return False

    def passages(self, case: str, as_of: str | None) -> list[dict]:
        return retrieve.passages(self.cfg, case, as_of)

    def stream(self, case, mode, as_of=None, out=None, passages=None, adapter=None):
        out = out or generate.Report(mode, self.model_name(mode, adapter))
        t0 = time.perf_counter()
        if mode in generate.OPEN_BOOK:
            out.passages = passages if passages is not None else self.passages(case, as_of)
        head = f"Subjective: {case}\nObjective: as stated.\nAssessment:" if mode == "rag" else ""
        if head:
            yield head  # the restated case comes first, as the real RAG column's does
        if mode in self.fail:
            raise UserError(f"the {mode} model stopped answering")
        n = retrieve.choose(out.passages) if out.passages else None
        plan = f"{out.passages[n]['passage']} [{n + 1}]" if n is not None else f"the {mode} plan."
        text = (" the problems as stated." if mode == "rag" else f"Subjective: {case}\nAssessment: {mode} view.") \
            + f"\nPlan: {plan}"
        for i, word in enumerate(text.split(" ")):
            yield (" " if i else "") + word
        out.text = (head + text).strip()
        out.tokens = len(text.split())
        out.seconds = time.perf_counter() - t0
        out.citations = generate.cited(out.text, out.passages)
        if mode in generate.ADAPTER_MODES:
            out.cutoff = cases.load_training(self.cfg)["cutoff"]

    def report(self, case, mode, as_of=None, passages=None, adapter=None):
        out = generate.Report(mode, self.model_name(mode, adapter))
        for _ in self.stream(case, mode, as_of, out, passages, adapter):
            pass
        return out
