"""The shipped cases: a small training set of case -> SOAP report pairs frozen at a knowledge
cutoff, and held-out cases with the key facts a current report must contain."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .config import Config

SOAP = ("Subjective:", "Objective:", "Assessment:", "Plan:")


def train_path(cfg: Config) -> Path:
    return cfg.corpus_dir / "cases" / "train.json"


def heldout_path(cfg: Config) -> Path:
    return cfg.corpus_dir / "cases" / "heldout.json"


def load_training(cfg: Config, path: Path | None = None) -> dict:
    """{"cutoff": "YYYY-MM-DD", "cases": [{"id", "condition", "split", "case", "report"}]}"""
    return json.loads((path or train_path(cfg)).read_text())


def load_heldout(cfg: Config) -> list[dict]:
    return json.loads(heldout_path(cfg).read_text())["cases"]


def data_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split(data: dict) -> tuple[list[dict], list[dict]]:
    """(train, validation) as recorded in the data, so every run carves the same split."""
    cases = data["cases"]
    return [c for c in cases if c["split"] == "train"], [c for c in cases if c["split"] == "val"]
