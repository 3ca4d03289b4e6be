"""Reports for one case in each mode. One base model (SmolLM2-135M-Instruct, or RAG_VS_FT_BASE) and
greedy decoding in every mode; what differs is the method:

    finetuned  closed book: the LoRA adapter trained on the (stale) case -> report set writes it all
    rag        open book: Subjective and Objective restate the case, the reader adapter writes the
               Assessment from the case, and the Plan copies the recommendation of the retrieved passage
               that fits the patient, cited [n] (`retrieve.choose`); on a server (below) the base model
               writes the whole report from the top-k passages in its prompt instead
    base       neither: the untuned model, closed book
    hybrid     the fine-tuned adapter with the top-k passages in its prompt

With OPENAI_BASE_URL every column goes to that OpenAI-compatible server and nothing is loaded here:
the base by OPENAI_MODEL, an adapter by its name (vLLM's `--lora-modules NAME=PATH`, an Ollama model
made with `ADAPTER`), which the server must list as its own (`served`); never a local column beside a
remote one.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from . import cores, finetune, llm, models, prompts, retrieve, soap
from .config import Config
from .errors import UserError

MODES = ("finetuned", "rag", "base", "hybrid")
ADAPTER_MODES = {"finetuned", "hybrid"}
OPEN_BOOK = {"rag", "hybrid"}
LABELS = {"finetuned": "Fine-tuned (closed book)", "rag": "RAG (open book)", "base": "Base model",
          "hybrid": "Fine-tuned + RAG"}
METHOD = ("Same base model and greedy decoding in every column: the fine-tuned column writes from what an adapter "
          "learned from past reports, and the RAG column restates the case, adds the model's Assessment and "
          "copies, with its citation, the recommendation of the retrieved passage that fits the patient.")
NOTICE = "Demonstration only, not medical advice: reports are written by a 135M-parameter model."
ASSESSMENT_TOKENS = 48  # the one line the reader writes in a RAG report (training reports' run 20-40)


@dataclass
class Report:
    mode: str
    model: str
    text: str = ""
    citations: list[dict] = field(default_factory=list)
    passages: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0
    first_token_s: float | None = None
    cutoff: str | None = None          # the fine-tuned model's training-data cutoff

    def as_dict(self) -> dict:
        citations = [{k: v for k, v in c.items() if k != "n"} for c in self.citations]
        return {"report": self.text, "model": self.model, "citations": citations,
                "seconds": round(self.seconds, 3), "tokens": self.tokens}


class Reporter:
    """The base model with its adapters: the closed-book one, the reader, or none (base). Every adapter
    must have been trained on this base (`finetune.check_base`).

    Served by llama.cpp when the optional extra is installed (several times faster on a CPU; a folder
    base is converted to GGUF once), else by transformers + peft; `cfg.backend` forces one."""

    def __init__(self, cfg: Config, adapter: str = finetune.DEFAULT, reader: str = finetune.READER):
        from . import llamacpp
        self.cfg, self.reader = cfg, reader
        self._lock = threading.Lock()  # one generation at a time: the model's adapters are shared state
        self._served: dict | None = None  # what the OpenAI-compatible server lists, once it answered
        self.serving = serving(cfg)
        self.backend = self.serving["backend"]
        if self.remote():
            self.base, self.model, self.tok = None, None, None
            self.use(adapter)
            return
        self.base = models.base(cfg)
        if self.backend == "llamacpp":
            from transformers import AutoTokenizer
            self.model, self.tok = None, AutoTokenizer.from_pretrained(models.prepare_generator(cfg))
            self._path(reader)
            llamacpp.base_gguf(cfg)  # a folder base is converted now, not in a visitor's first report
            self.engine = llamacpp.Engine(cfg, self.tok)
        else:
            from peft import PeftModel
            model, self.tok = models.load_generator(cfg)
            self.model = PeftModel.from_pretrained(model, str(self._path(reader)), adapter_name=reader)
            self.model.eval()
        self.use(adapter)

    def _path(self, adapter: str):
        path = finetune.adapter_dir(self.cfg, adapter)
        if not (path / "adapter_config.json").is_file():
            raise UserError(f"no adapter named {adapter!r} (train one with `finetune`)")
        finetune.check_base(adapter, finetune.read_manifest(path), self.base)
        return path

    def _load(self, adapter: str) -> dict:
        """Load `adapter` next to the others if needed; its manifest (a served adapter's, where this
        install has it: its cutoff)."""
        if self.remote():
            return finetune.read_manifest(finetune.adapter_dir(self.cfg, adapter))
        path = self._path(adapter)
        if self.model is not None and adapter not in self.model.peft_config:
            with self._lock:
                if adapter not in self.model.peft_config:
                    self.model.load_adapter(str(path), adapter_name=adapter)
        return finetune.read_manifest(path)

    def use(self, adapter: str) -> "Reporter":
        """Make `adapter` the default closed-book adapter (the CLI's, the evaluation's). Requests that
        name their own adapter (`stream(..., adapter=...)`, as every app page does) are unaffected."""
        self.manifest = self._load(adapter)
        self.adapter = adapter
        return self

    def adapter_for(self, mode: str, adapter: str | None = None) -> str | None:
        """finetuned and hybrid: the closed-book adapter (this request's, else the default); rag: the
        reader (on a server: the base alone, reading the passages); base: none."""
        closed = adapter or self.adapter
        return {"finetuned": closed, "hybrid": closed, "rag": None if self.remote() else self.reader}.get(mode)

    def remote(self, mode: str | None = None) -> bool:
        """Whether an OpenAI-compatible server writes the columns (all of them, when configured)."""
        return self.backend == "remote"

    def model_name(self, mode: str, adapter: str | None = None) -> str:
        """Which model and adapter write a column, and where."""
        name = self.adapter_for(mode, adapter)
        lora = f" + LoRA '{name}'" if name else ""
        if self.remote():
            return f"{self.cfg.openai_model}{lora} at {self.cfg.openai_base_url}"
        return f"{self.base.name} ({self.backend}){lora}"

    def served(self, name: str) -> str:
        """The model a server request names (the base, or an adapter by its name), checked against what
        the server lists: an adapter it does not serve, or serves on another base, is refused."""
        if self._served is None:
            self._served = {m["id"]: m for m in llm.served_models(self.cfg.openai_base_url, self.cfg.openai_api_key)}
        url, base = self.cfg.openai_base_url, self.cfg.openai_model
        found = self._served.get(name) or self._served.get(f"{name}:latest")  # Ollama tags its models
        if found is None:
            how = "check OPENAI_MODEL" if name == base else (
                f"serve it by that name, e.g. `vllm serve BASE --served-model-name {base} --enable-lora "
                f"--lora-modules {name}=adapters/{name}` (README, *Your own model*)")
            raise UserError(f"the server at {url} serves no model named {name!r} (it serves "
                            f"{', '.join(sorted(self._served)) or 'nothing'}): {how}")
        if name != base and found.get("parent") and found["parent"] != base:
            raise UserError(f"the server at {url} serves adapter {name!r} on {found['parent']}, not on "
                            f"OPENAI_MODEL {base}: the columns would compare two different bases")
        return name

    def passages(self, case: str, as_of: str | None) -> list[dict]:
        """The top documents for the case, each shown by its recommendation (`retrieve.passages`)."""
        return retrieve.passages(self.cfg, case, as_of)

    def stream(self, case: str, mode: str, as_of: str | None = None, out: Report | None = None,
               passages: list[dict] | None = None, adapter: str | None = None) -> Iterator[str]:
        """Yield the report as it is written; `out` holds text, citations and timings at the end.
        `passages` replaces retrieval (the evaluation's oracle arm reads the gold documents);
        `adapter` names this request's closed-book adapter (default: the one `use` chose)."""
        if mode not in MODES:
            raise UserError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        if not case.strip():
            raise UserError("the case is empty")
        with cores.visitor(self.cfg) as mark:  # a visitor's report: background jobs pause meanwhile
            yield from self._stream(case, mode, as_of, out, passages, adapter, mark)

    def _stream(self, case, mode, as_of, out, passages, adapter, mark) -> Iterator[str]:
        out = out or Report(mode, self.model_name(mode, adapter))
        out.mode, out.model = mode, self.model_name(mode, adapter)
        t0 = time.perf_counter()
        if mode in OPEN_BOOK:
            out.passages = passages if passages is not None else self.passages(case, as_of)
            messages = prompts.open_book(case, out.passages)
        else:
            messages = prompts.closed_book(case)
        if mode in ADAPTER_MODES:
            out.cutoff = self._load(self.adapter_for(mode, adapter)).get("data_cutoff")
        gen = llm.Generation()
        text = ""
        if mode == "rag" and not self.remote():
            pieces = self._grounded(case, out.passages, gen)
        else:
            pieces = self._engine(self.adapter_for(mode, adapter), mode, messages, self.cfg.max_new_tokens, gen)
        for piece in pieces:
            cores.beat(mark)
            if not text:
                out.first_token_s = time.perf_counter() - t0
            text += piece
            yield piece
        out.text = text.strip()
        out.tokens = gen.tokens
        out.seconds = time.perf_counter() - t0
        out.citations = cited(out.text, out.passages)

    def _engine(self, name: str | None, mode: str, messages: list[dict], max_new_tokens: int,
                gen: llm.Generation, prefix: str = "", stop: str | None = None) -> Iterator[str]:
        """The model itself with adapter `name` (None: none), through whichever backend serves.
        Local generation holds the lock from the first token to the last, so no other request can
        switch the adapter or reset the llama.cpp context in between."""
        if self.remote():
            yield from llm.stream_remote(self.cfg.openai_base_url, self.served(name or self.cfg.openai_model),
                                         messages, max_new_tokens, gen, self.cfg.openai_api_key)
            return
        path = self._path(name) if name else None
        if name and self.model is not None:  # peft loads an adapter once; llama.cpp opens it by path
            self._load(name)
        cores.pause(self.cfg)  # a background job (an evaluation) lets waiting visitors go first
        with self._lock:
            if self.model is None:
                pieces = self.engine.stream(path, messages, max_new_tokens, gen, prefix, stop)
            else:
                models.use_threads(cores.threads(self.cfg))
                pieces = _with_adapter(self.model, name, llm.stream(self.model, self.tok, messages, max_new_tokens,
                                                                    gen, prefix, stop))
            with contextlib.closing(pieces):
                for piece in pieces:
                    yield piece
                    cores.pause(self.cfg, others_only=True)  # holding the lock: stop only for other processes

    def _grounded(self, case: str, passages: list[dict], gen: llm.Generation) -> Iterator[str]:
        """The RAG report, built so that it cannot mis-cite or invent findings: Subjective and
        Objective restate the case; the reader writes only the Assessment, kept as far as every
        number and code in it comes from the case (else the case's problems); the Plan copies the
        chosen passage's recommendation word for word with its [n] (`retrieve.choose`), then lists
        the case's own medicines. When no passage applies to the patient, the Plan says so."""
        subjective, objective = soap.restate(case)
        head = f"Subjective: {subjective}\nObjective: {objective}\nAssessment:"
        yield head
        # the Assessment needs the case, not the passages: a case-only prompt reads in a fraction of the time
        said = "".join(self._engine(self.reader, "rag", prompts.closed_book(case), ASSESSMENT_TOKENS, gen, head,
                                    "\n"))
        yield " " + soap.grounded_assessment(said, case)
        n = retrieve.choose(passages)
        plan = (f"{passages[n]['passage']} [{n + 1}]" if n is not None else
                "None of the retrieved research applies to this patient's stated problems, so this report "
                "recommends no new treatment from it.")
        meds = soap.medicines(case)
        yield "\nPlan: " + " ".join(plan.split()) + (f"\nCurrent medicines (from the case), to review: {meds}."
                                                      if meds else "")

    def report(self, case: str, mode: str, as_of: str | None = None, passages: list[dict] | None = None,
               adapter: str | None = None) -> Report:
        out = Report(mode, self.model_name(mode, adapter))
        for _ in self.stream(case, mode, as_of, out, passages, adapter):
            pass
        return out


def serving(cfg: Config) -> dict:
    """Who writes the columns, as a run file records it (`produced_by`): the backend, and the base by name
    and sha256 (on a server: the model it serves and where). A setting that cannot serve says why."""
    from . import llamacpp
    if cfg.backend not in ("auto", "llamacpp", "transformers"):
        raise UserError(f"RAG_VS_FT_BACKEND must be auto, llamacpp or transformers, not {cfg.backend!r}")
    if cfg.backend == "llamacpp" and not llamacpp.available():
        raise UserError("RAG_VS_FT_BACKEND=llamacpp needs the optional extra: `make llamacpp`")
    if cfg.openai_base_url:
        if not cfg.openai_model:
            raise UserError("OPENAI_BASE_URL is set but OPENAI_MODEL is not: name the base model that server "
                            "serves (every column goes to it, the adapters by their names)")
        return {"backend": "remote", "base": cfg.openai_model, "server": cfg.openai_base_url}
    base = models.base(cfg)
    fast = llamacpp.available() and llamacpp.serves(base)
    if cfg.backend == "llamacpp" and not fast:
        llamacpp.base_gguf(cfg)  # says what is missing
    return {"backend": "llamacpp" if cfg.backend != "transformers" and fast else "transformers", "base": base.name,
            "base_sha256": base.sha256}


def _with_adapter(model, name: str | None, pieces: Iterator[str]) -> Iterator[str]:
    with _adapter(model, name):
        yield from pieces


class _adapter:
    """Context: the named adapter on, or every adapter off (base and rag modes)."""

    def __init__(self, model, name: str | None):
        self.model, self.name = model, name
        self.ctx = None

    def __enter__(self):
        if self.name:
            self.model.set_adapter(self.name)
        else:
            self.ctx = self.model.disable_adapter()
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx:
            self.ctx.__exit__(*exc)


def cited(text: str, passages: list[dict]) -> list[dict]:
    """The passages a report cites as [n], in order of first citation."""
    import re
    order = []
    for n in map(int, re.findall(r"\[(\d+)\]", text)):
        if 1 <= n <= len(passages) and n not in order:
            order.append(n)
    keys = ("doc_id", "title", "source", "published", "passage")
    return [{"n": n, **{k: passages[n - 1][k] for k in keys}} for n in order]
