"""Greedy text generation with the local model: one function for whole texts, one for streams.

Every mode (fine-tuned, RAG, base, hybrid) goes through here with the same decoding settings, so
a difference between columns is the method, not the sampler.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Generation:
    """What one generation produced, with its timing (filled in as the stream is consumed)."""
    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None
    _start: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def prompt_ids(tok, messages: list[dict], prefix: str = "") -> list[int]:
    """The chat-templated prompt, plus the start of the answer when the caller writes it (`prefix`)."""
    ids = list(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                       return_dict=True)["input_ids"])
    return ids + (tok(prefix, add_special_tokens=False)["input_ids"] if prefix else [])


def _inputs(tok, messages: list[dict], prefix: str = ""):
    import torch
    ids = torch.tensor([prompt_ids(tok, messages, prefix)])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


REPETITION_PENALTY = 1.1  # every backend decodes greedily with this penalty


def _settings(tok, max_new_tokens: int) -> dict:
    return dict(max_new_tokens=max_new_tokens, do_sample=False, repetition_penalty=REPETITION_PENALTY,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)


def stream(model, tok, messages: list[dict], max_new_tokens: int, out: Generation | None = None,
           prefix: str = "", stop: str | None = None) -> Iterator[str]:
    """Yield text pieces as they are generated; `out` collects text, tokens and timings. With
    `prefix` the answer starts with that text (not yielded); with `stop` it ends at that string."""
    import torch
    from transformers import TextIteratorStreamer
    out = out if out is not None else Generation()
    out._start = time.perf_counter()
    inputs = _inputs(tok, messages, prefix)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    result: dict = {}

    def run():
        with torch.inference_mode():
            extra = {"stop_strings": [stop], "tokenizer": tok} if stop else {}
            result["ids"] = model.generate(**inputs, **_settings(tok, max_new_tokens), **extra, streamer=streamer)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    for piece in streamer:
        if stop and stop in piece:  # the stop string ends the text; it is not part of it
            piece = piece[: piece.index(stop)]
            if not piece:
                continue
        if out.first_token_s is None:
            out.first_token_s = time.perf_counter() - out._start
        out.text += piece
        yield piece
    worker.join()
    out.tokens = int(result["ids"].shape[1] - inputs["input_ids"].shape[1]) if "ids" in result else 0
    out.seconds = time.perf_counter() - out._start


def generate(model, tok, messages: list[dict], max_new_tokens: int) -> Generation:
    """Whole text at once (CLI, evaluation, tests)."""
    out = Generation()
    for _ in stream(model, tok, messages, max_new_tokens, out):
        pass
    out.text = out.text.strip()
    return out


def stream_remote(base_url: str, model: str, messages: list[dict], max_new_tokens: int,
                  out: Generation | None = None, api_key: str = "") -> Iterator[str]:
    """The same prompt through an OpenAI-compatible server (vLLM, Ollama, ...), streamed, greedy."""
    import json
    import urllib.error
    import urllib.request
    from .errors import UserError
    out = out if out is not None else Generation()
    out._start = time.perf_counter()
    body = json.dumps({"model": model, "messages": messages, "max_tokens": max_new_tokens,
                       "temperature": 0, "stream": True}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
    request = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", body, headers)
    try:
        response = urllib.request.urlopen(request, timeout=120)
    except (urllib.error.URLError, OSError) as e:
        raise UserError(f"cannot reach OPENAI_BASE_URL {base_url}: {e}") from e
    with response:
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            piece = (json.loads(line[5:])["choices"][0].get("delta") or {}).get("content") or ""
            if piece:
                out.first_token_s = out.first_token_s or time.perf_counter() - out._start
                out.tokens += 1  # one streamed piece is about one token
                out.text += piece
                yield piece
    out.seconds = time.perf_counter() - out._start
