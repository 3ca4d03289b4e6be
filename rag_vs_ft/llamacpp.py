"""Generation through llama.cpp (the optional extra `llama-cpp-python`), on the same GGUF file.

transformers + peft decodes this 135M model at ~13 tok/s on 2 cores; llama.cpp runs the shipped Q4_1 GGUF
with the same adapter at ~90. The LoRA adapters are trained with peft on the dequantized weights, so the
served model is the same one: each adapter is converted once to a GGUF LoRA file (below) and llama.cpp
applies it on top of the quantized base. Prompts are tokenized by the same chat template; decoding is
greedy with the same repetition penalty (which llama.cpp applies to the last 64 tokens only).
Training stays on transformers + peft.

A base of one's own (RAG_VS_FT_BASE) that comes as a model folder is converted once to GGUF by the
converter llama.cpp ships (`convert_hf_to_gguf.py`, its `conversion/` package and its own `gguf-py`),
taken from the llama-cpp-python source package on PyPI that `make llamacpp` compiles: that target
unpacks those files into the virtual environment (`CONVERTER`). Its weights keep their precision
(bf16 stays bf16; float32 becomes f16).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterator

from . import cores, models
from .config import Config
from .errors import UserError
from .llm import REPETITION_PENALTY, Generation, prompt_ids

CONVERTER = Path(sys.prefix) / "share" / "llama.cpp" / "convert_hf_to_gguf.py"  # unpacked by `make llamacpp`

# peft module name -> llama.cpp tensor name (Llama architecture)
_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down"}


def available() -> bool:
    from importlib.util import find_spec
    return find_spec("llama_cpp") is not None


def serves(base: models.Base) -> bool:
    """llama.cpp serves a base that comes as a GGUF file (the shipped one, or RAG_VS_FT_BASE's), or a
    folder once the converter is there to make one."""
    return base.source.is_file() or CONVERTER.is_file()


def base_gguf(cfg: Config) -> Path:
    """The GGUF llama.cpp serves: the base itself, or its folder converted once (kept by its sha256)."""
    import subprocess
    base = models.base(cfg)
    if base.source.is_file():
        return base.source
    out = cfg.models_dir / "base-gguf" / f"{base.name}-{base.sha256[:16]}.gguf"
    if out.is_file():
        return out
    if not CONVERTER.is_file():
        raise UserError(f"serving {base.source} with llama.cpp needs it as GGUF, and the converter llama.cpp ships "
                        f"is not at {CONVERTER}: `make llamacpp` unpacks it (or use RAG_VS_FT_BACKEND=transformers)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    run = subprocess.run([sys.executable, str(CONVERTER), str(base.source), "--outfile", str(tmp), "--outtype", "auto"],
                         capture_output=True, text=True)
    if run.returncode or not tmp.is_file():
        raise UserError(f"llama.cpp's converter could not convert {base.source}: {run.stderr.strip()[-600:]}")
    tmp.replace(out)  # a half-written file is never taken for a finished one
    return out


def _permute(w, n_head: int):
    """llama.cpp stores q and k rows interleaved for its rotary embedding (as its converter does)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def lora_gguf(cfg: Config, adapter_dir: Path) -> Path:
    """The adapter as a GGUF LoRA file, converted once and kept by the adapter's content hash."""
    import json
    weights = adapter_dir / "adapter_model.safetensors"
    out = cfg.models_dir / "lora-gguf" / f"{adapter_dir.name}-{models.file_sha256(weights)[:16]}.gguf"
    if out.is_file():
        return out
    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    lora = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = json.loads((models.prepare_generator(cfg) / "config.json").read_text())
    if base.get("model_type") != "llama":
        raise UserError(f"llama.cpp serves adapters of Llama-architecture bases here, not {base.get('model_type')!r}: "
                        "use RAG_VS_FT_BACKEND=transformers")
    heads = {"attn_q": base["num_attention_heads"], "attn_k": base.get("num_key_value_heads")
             or base["num_attention_heads"]}
    tensors = {}
    for key, w in load_file(str(weights)).items():  # base_model.model.model.layers.N.MODULE.lora_A.weight
        parts = key.split(".")
        layer, module, ab = int(parts[4]), ".".join(parts[5:7]), parts[7]
        name = f"blk.{layer}.{_NAMES[module]}.weight"
        w = w.astype(np.float32)
        if ab == "lora_B" and _NAMES[module] in heads:
            w = _permute(w, heads[_NAMES[module]])
        tensors[f"{name}.lora_{'a' if ab == 'lora_A' else 'b'}"] = w
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lora["lora_alpha"]))
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


class Engine:
    """One llama.cpp model per adapter (the base file is memory-mapped, so they share its pages)."""

    def __init__(self, cfg: Config, tok, n_ctx: int = 2048):
        self.cfg, self.tok, self.n_ctx = cfg, tok, n_ctx
        self._models: dict[str, object] = {}
        self._threads: dict[int, int] = {}
        self._end = tok.convert_tokens_to_ids("<|im_end|>")  # closes the system turn (ChatML)

    def _model(self, adapter_dir: Path | None):
        key = str(adapter_dir) if adapter_dir else ""
        if key not in self._models:
            from llama_cpp import Llama
            threads = cores.total(self.cfg)
            self._models[key] = Llama(model_path=str(base_gguf(self.cfg)), n_ctx=self.n_ctx, n_threads=threads,
                                      n_threads_batch=threads, seed=self.cfg.seed, verbose=False,
                                      lora_path=str(lora_gguf(self.cfg, adapter_dir)) if adapter_dir else None)
        return self._models[key]

    def stream(self, adapter_dir: Path | None, messages: list[dict], max_new_tokens: int,
               out: Generation | None = None, prefix: str = "", stop: str | None = None) -> Iterator[str]:
        """Greedy decoding of the chat-templated prompt (and `prefix`, the answer's given start),
        yielding text pieces as they come, up to `stop` if given. The system turn's KV state is kept
        from the adapter's last prompt when it matches (each adapter has its own context), which
        saves ~0.1 s of prompt read. Never more than that turn: re-reading only the last token of a
        repeated prompt changes its logits enough to change a greedy report, while a fixed boundary
        gives the same report as a fresh context (tested)."""
        out = out if out is not None else Generation()
        out.started = time.perf_counter()
        llm = self._model(adapter_dir)
        n = cores.threads(self.cfg)  # every core for a visitor; a background job's share otherwise
        if n != self._threads.get(id(llm)):
            import llama_cpp
            llama_cpp.llama_set_n_threads(llm.ctx, n, n)
            self._threads[id(llm)] = n
        ids = prompt_ids(self.tok, messages, prefix)[-(self.n_ctx - max_new_tokens):]
        llm.n_tokens = min(llm.n_tokens, ids.index(self._end) + 1 if self._end in ids else 0)
        for chunk in llm.create_completion(ids, max_tokens=max_new_tokens, temperature=0.0, top_k=1,
                                           repeat_penalty=REPETITION_PENALTY, stream=True,
                                           stop=[stop] if stop else None):
            choice = chunk["choices"][0]
            piece = choice["text"]
            out.tokens += choice["finish_reason"] is None or bool(piece)  # the closing chunk is empty
            if piece:
                out.first_token_s = out.first_token_s or time.perf_counter() - out.started
                out.text += piece
                yield piece
        out.seconds = time.perf_counter() - out.started
