"""The shipped cases: a small training set of case -> SOAP report pairs frozen at a knowledge
cutoff, and held-out cases with the key facts a current report must contain."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .config import Config
from .errors import UserError
from .files import write_json

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


NOT_SETS = {"train", "ledger"}


def sets(cfg: Config) -> list[str]:
    """The case sets under corpus/cases besides the training set: heldout (reported), dev (for choosing
    designs and thresholds) and any later rounds of either (dev2, heldout2)."""
    return sorted(p.stem for p in (cfg.corpus_dir / "cases").glob("*.json") if p.stem not in NOT_SETS)


def ledger_path(cfg: Config) -> Path:
    return cfg.corpus_dir / "cases" / "ledger.json"


def ledger(cfg: Config) -> dict:
    """Each case set's role (dev or held-out), author (saw the code or not), first run and whether it is read."""
    path = ledger_path(cfg)
    return json.loads(path.read_text())["sets"] if path.is_file() else {}


def record_run(cfg: Config, which: str, commit: str | None) -> dict | None:
    """The first evaluation of an unread held-out set marks it read, with the date and commit: a held-out
    set is an estimate only until someone has seen its reports. Returns the entry when it changed."""
    import datetime as dt
    path = ledger_path(cfg)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    entry = data["sets"].get(which)
    if not entry or entry.get("read"):
        return None
    entry.update(first_run=dt.date.today().isoformat(), commit=commit, read=True)
    write_json(path, data)
    return entry


def load(cfg: Config, which: str = "heldout") -> list[dict]:
    if which not in sets(cfg):
        raise UserError(f"no case set {which!r}; choose from {', '.join(sets(cfg))}")
    return json.loads((cfg.corpus_dir / "cases" / f"{which}.json").read_text())["cases"]


def data_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split(data: dict) -> tuple[list[dict], list[dict]]:
    """(train, validation) as recorded in the data, so every run carves the same split."""
    cases = data["cases"]
    return [c for c in cases if c["split"] == "train"], [c for c in cases if c["split"] == "val"]


def compose(age: int | None = None, sex: str = "", conditions: str = "", labs: str = "",
            medications: str = "", note: str = "") -> str:
    """Structured fields -> the one-paragraph case text every mode reads."""
    who = " ".join(x for x in (f"{age}-year-old" if age else "", sex.lower() or "patient") if x)
    parts = [f"{who[0].upper()}{who[1:]}" + (f" with {conditions.strip()}" if conditions.strip() else "") + "."]
    if note.strip():
        parts.append(note.strip().rstrip(".") + ".")
    if labs.strip():
        parts.append(f"Labs: {labs.strip().rstrip('.')}.")
    if medications.strip():
        parts.append(f"Medications: {medications.strip().rstrip('.')}.")
    return " ".join(parts)


NEAR = 0.45  # word-level difflib ratio; chosen by reading the pairs: at 0.45 and above the two cases share
# the scenario, the numbers and the answer (the same three statins and stent year, the same triple inhaler
# and eosinophil count); the median best match of a held-out case is 0.27, of any pair 0.10


def near_duplicates(cfg: Config, threshold: float = NEAR) -> list[tuple[float, str, str]]:
    """(ratio, held-out id, dev or training id) for every held-out case that nearly copies a case the
    design saw (training and dev sets): such a case measures memory, not the method."""
    import difflib
    import re
    words = lambda text: re.findall(r"[a-z0-9.]+", text.lower())
    seen = [(c["id"], words(c["case"])) for c in load_training(cfg)["cases"]]
    seen += [(c["id"], words(c["case"])) for s in sets(cfg) if ledger(cfg).get(s, {}).get("role") == "dev"
             for c in load(cfg, s)]
    out = []
    for s in sets(cfg):
        if ledger(cfg).get(s, {}).get("role") != "held-out":
            continue
        for c in load(cfg, s):
            m = difflib.SequenceMatcher(None, autojunk=False)
            m.set_seq2(words(c["case"]))
            for other, w in seen:
                m.set_seq1(w)
                if m.ratio() >= threshold:
                    out.append((round(m.ratio(), 3), c["id"], other))
    return sorted(out, reverse=True)


def documents(cfg: Config, which: str) -> dict[str, str]:
    """Every document a case set's reports can draw on, as the app reads it (any format), by id: the
    shipped research, the incoming research and the set's own uploads (corpus/uploads/<set>/)."""
    from . import corpus
    files = [p for folder in ("research", "incoming", f"uploads/{which}")
             for p in sorted((cfg.corpus_dir / folder).glob("*")) if p.is_file()]
    # joined on whitespace: a PDF's lines wrap where a sentence does not
    return {corpus.doc_id_for(p.name): " ".join(" ".join(t for _, _, t in corpus.read(p.name, p.read_bytes(), cfg)
                                                         .parts).split()) for p in files}


def beyond_corpus(cfg: Config, which: str) -> dict[str, list[str]]:
    """{case id: its key facts that no document states}: no method can reach them from the corpus, so
    they measure the key-fact writer, not the method; evaluation reports them apart."""
    text = " ".join(documents(cfg, which).values())
    return {c["id"]: [f for f, ok in facts_found(text, c["key_facts"]).items() if not ok] for c in load(cfg, which)}


def facts_found(report: str, key_facts: list[dict]) -> dict[str, bool]:
    """Each expected fact: is any of its synonyms in the report, as whole words (case-insensitive)?
    "ARB" is not found in "carbohydrate"; "SGLT2" is found in "SGLT2 inhibitor", "SGLT2i" and "SGLT2s"."""
    import re
    found = lambda s: re.search(rf"(?<![\w-]){re.escape(s)}(?:s|es|i)?(?!\w)", report, re.I) is not None
    return {f["fact"]: any(found(s) for s in f["any_of"]) for f in key_facts}
