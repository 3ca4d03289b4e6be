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
    started: float = field(default_factory=time.perf_counter, repr=False)  # when decoding began


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
    out.started = time.perf_counter()
    inputs = _inputs(tok, messages, prefix)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=STALL_S)
    result: dict = {}

    def run():
        try:
            with torch.inference_mode():
                extra = {"stop_strings": [stop], "tokenizer": tok} if stop else {}
                result["ids"] = model.generate(**inputs, **_settings(tok, max_new_tokens), **extra, streamer=streamer)
        except Exception as e:  # surfaced to the reader below instead of leaving it waiting
            result["error"] = e
            streamer.end()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    for piece in _pieces(streamer, result):
        if stop and stop in piece:  # the stop string ends the text; it is not part of it
            piece = piece[: piece.index(stop)]
            if not piece:
                continue
        if out.first_token_s is None:
            out.first_token_s = time.perf_counter() - out.started
        out.text += piece
        yield piece
    worker.join()
    out.tokens = int(result["ids"].shape[1] - inputs["input_ids"].shape[1]) if "ids" in result else 0
    out.seconds = time.perf_counter() - out.started


STALL_S = 60.0  # a generation that produces nothing for this long has failed; say so instead of hanging


def _pieces(streamer, result: dict) -> Iterator[str]:
    """The streamer's pieces; a generation that raised re-raises here, one that stalls times out."""
    import queue
    from .errors import UserError
    try:
        yield from streamer
    except queue.Empty:
        raise UserError(f"generation stalled: no token for {STALL_S:g} s") from None
    if "error" in result:
        raise UserError(f"generation failed: {result['error']}") from result["error"]


def generate(model, tok, messages: list[dict], max_new_tokens: int) -> Generation:
    """Whole text at once (CLI, evaluation, tests)."""
    out = Generation()
    for _ in stream(model, tok, messages, max_new_tokens, out):
        pass
    out.text = out.text.strip()
    return out


REMOTE_TIMEOUT_S = 30.0  # connect and per-read timeout for the OpenAI-compatible endpoint


def stream_remote(base_url: str, model: str, messages: list[dict], max_new_tokens: int,
                  out: Generation | None = None, api_key: str = "") -> Iterator[str]:
    """The same prompt through an OpenAI-compatible server (vLLM, Ollama, ...), streamed, greedy."""
    import json
    import urllib.request
    out = out if out is not None else Generation()
    out.started = time.perf_counter()
    body = json.dumps({"model": model, "messages": messages, "max_tokens": max_new_tokens,
                       "temperature": 0, "stream": True}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
    request = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", body, headers)
    with _open(request, base_url) as response:
        for raw in _lines(response, base_url):
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            piece = (json.loads(line[5:])["choices"][0].get("delta") or {}).get("content") or ""
            if piece:
                out.first_token_s = out.first_token_s or time.perf_counter() - out.started
                out.tokens += 1  # one streamed piece is about one token
                out.text += piece
                yield piece
    out.seconds = time.perf_counter() - out.started


def served_models(base_url: str, api_key: str = "") -> list[dict]:
    """What an OpenAI-compatible server lists at /models: each model's `id` (vLLM adds an adapter's
    `parent`, the base it runs on)."""
    import json
    import urllib.request
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with _open(urllib.request.Request(base_url.rstrip("/") + "/models", headers=headers), base_url) as response:
        return json.loads(response.read()).get("data") or []


def _open(request, base_url: str):
    """The server's response; one it cannot give becomes a clear error (with the server's own words)."""
    import urllib.error
    import urllib.request
    from .errors import UserError
    try:
        return urllib.request.urlopen(request, timeout=REMOTE_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        said = e.read()[:300].decode("utf-8", "replace")
        raise UserError(f"OPENAI_BASE_URL {base_url} answered {e.code} to {request.full_url}: {said}") from e
    except (urllib.error.URLError, OSError) as e:
        raise UserError(f"cannot reach OPENAI_BASE_URL {base_url}: {e}") from e


def _lines(response, base_url: str) -> Iterator[bytes]:
    """The server's event lines; a read that times out or breaks becomes a clear error."""
    from .errors import UserError
    try:
        yield from response
    except OSError as e:  # socket.timeout is an OSError
        raise UserError(f"OPENAI_BASE_URL {base_url} stopped answering: {e}") from e
