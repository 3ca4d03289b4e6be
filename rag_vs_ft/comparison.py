"""One comparison as it was shown: the case, the settings, and per column the report with its
citations, passages, support checks and timings. Plain JSON, so a session's history can reopen it
without regenerating and download it as Markdown (to read) or JSON (the `report --json` shape)."""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from . import support
from .generate import LABELS, NOTICE, Report


_MD = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape(text: str) -> str:
    """Model or uploaded text as inert markdown: no links, HTML, headings or formulas."""
    return _MD.sub(r"\\\1", text).replace("\n", "  \n")


def column(r: Report, facts: dict[str, bool] | None = None) -> dict:
    """What a column showed. `report` is exactly one mode's entry of `report --json`."""
    passages = [p["passage"] for p in r.passages]
    return {"report": r.as_dict(), "cited": [c["n"] for c in r.citations], "passages": r.passages,
            "checks": support.check(r.text, passages) if passages else [], "first_token_s": r.first_token_s,
            "cutoff": r.cutoff, "facts": facts}


def build(case: str, identifiers_removed: int, settings: dict, columns: dict[str, dict], *,
          case_id: str | None = None, blind: dict | None = None, story: dict | None = None) -> dict:
    """`columns`: mode -> `column(...)`, or {"error": message} for a column that failed.
    `blind`: {"A": mode, "B": mode, "vote": None}; `story`: {"step": n, ...} for a replay step."""
    return {"id": uuid.uuid4().hex[:8], "at": dt.datetime.now().isoformat(timespec="seconds"), "case": case,
            "case_id": case_id, "identifiers_removed": identifiers_removed, "settings": settings,
            "modes": columns, "blind": blind, "story": story}


def letter(rec: dict, mode: str) -> str | None:
    """"A" or "B" when `mode` wrote a column of a blind comparison, else None."""
    return next((k for k in ("A", "B") if (rec.get("blind") or {}).get(k) == mode), None)


def as_json(rec: dict) -> dict:
    """The `report --json` shape: case, identifiers removed, and each mode's report."""
    return {"case": rec["case"], "identifiers_removed": rec["identifiers_removed"],
            "modes": {m: c["report"] for m, c in rec["modes"].items() if "report" in c}}


def dumps(rec: dict) -> str:
    return json.dumps(as_json(rec), indent=2)


def title(rec: dict) -> str:
    """One line for the history list."""
    what = f"story step {rec['story']['step']}" if rec.get("story") else rec["case_id"] or rec["case"][:40]
    modes = "blind A/B" if rec.get("blind") else ", ".join(rec["modes"])
    return f"{rec['at'][11:16]} · {what} · {modes}"


def markdown(rec: dict) -> str:
    """A readable copy: the notice, the case, the settings, each report with its citations and checks."""
    s = rec["settings"]
    lines = ["# RAG or fine-tuning? Reports side by side", "", f"> {NOTICE}", "",
             f"Written {rec['at'].replace('T', ' ')}; research read "
             f"{'as of ' + s['as_of'] if s.get('as_of') else 'in full'}; fine-tuned adapter `{s.get('adapter')}`.",
             "", "## Case", "", escape(rec["case"]), ""]
    if rec["identifiers_removed"]:
        lines += [f"{rec['identifiers_removed']} identifiers were removed before any model saw the case.", ""]
    blind = rec.get("blind") or {}
    for mode, col in rec["modes"].items():
        shown_as = letter(rec, mode)
        lines += [f"## {LABELS[mode]}" + (f" (blind column {shown_as})" if shown_as else ""), ""]
        if "error" in col:
            lines += [f"Failed: {escape(col['error'])}", ""]
            continue
        r = col["report"]
        lines += [f"*{escape(r['model'])}; {r['tokens']} tokens in {r['seconds']:.1f} s"
                  + (f"; knowledge cutoff {col['cutoff']}" if col.get("cutoff") else "") + "*", ""]
        lines += [escape(r["report"]), ""]
        if r["citations"]:
            lines += ["Citations:", ""] + [f"- \\[{n}\\] {escape(c['title'])} ({c['published'] or 'date unknown'}), {escape(c['source'])}"
                                           for n, c in zip(col["cited"], r["citations"])] + [""]
        if col["checks"]:
            lines += ["| supported | passage | score | sentence |", "|---|---|---|---|"]
            lines += [f"| {'yes' if c['supported'] else 'no'} | {c['passage']} | {c['score']} | "
                      f"{escape(c['sentence'])} |" for c in col["checks"]] + [""]
        if col.get("facts"):
            lines += [f"Key facts found: {sum(col['facts'].values())}/{len(col['facts'])} "
                      f"({escape(', '.join(f + (' ✓' if ok else ' ✗') for f, ok in col['facts'].items()))})", ""]
    if blind.get("vote"):
        lines += [f"Blind vote: {blind['vote']} (A was {LABELS[blind['A']]}, B was {LABELS[blind['B']]}).", ""]
    return "\n".join(lines)
