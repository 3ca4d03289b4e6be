"""Health check: are we offline, do both models load from their package files, where is the data."""
from __future__ import annotations

import os
import time

from . import models
from .config import Config


def doctor(cfg: Config) -> dict:
    offline = all(os.environ.get(k) == "1" for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    report = {"offline": offline, "data_dir": str(cfg.data_dir)}

    gen = {"path": "", "loaded": False}
    try:
        gen["path"] = str(models.base(cfg).source)
        t = time.perf_counter()
        model, tok = models.load_generator(cfg)
        gen.update(loaded=True, copy=str(models.prepare_generator(cfg)), parameters=model.num_parameters(),
                   load_s=round(time.perf_counter() - t, 2))
    except Exception as e:  # doctor reports every failure instead of stopping at the first
        gen["error"] = f"{type(e).__name__}: {e}"
    report["generator"] = gen

    emb = {"path": "", "loaded": False, "dim": 0}
    try:
        emb["path"] = str(models.embedder_path())
        emb.update(dim=len(models.load_embedder(cfg).embed_query("offline check")), loaded=True)
    except Exception as e:
        emb["error"] = f"{type(e).__name__}: {e}"
    report["embedder"] = emb
    return report
