"""The SOAP report's own parts: Subjective and Objective restated from the case's words (nothing added,
so nothing invented), its medicine list, and the model's Assessment kept only as far as it states
numbers the case does.
"""
from __future__ import annotations

import re

from .concepts import NAMES, problems

_MEASURE = re.compile(r"\b(?:BP|blood pressure|HR|heart rate|pulse|SpO2|saturation|temperature|temp|RR|"
                      r"eGFR|GFR|creatinine|HbA1c|A1c|LDL|HDL|cholesterol|triglycerides|UACR|albumin|"
                      r"potassium|K|sodium|Na|NT-proBNP|BNP|troponin|LVEF|EF|BMI|weight|FEV1|FVC|eosinophils?|"
                      r"CRP|procalcitonin|WBC|haemoglobin|hemoglobin|AHI|CHA2DS2-VASc|CURB-65|Labs?)\b[^.;]*\d",
                      re.I)


def _clauses(case: str) -> list[str]:
    """The case split into sentences and ';' clauses (decimal points are not sentence ends)."""
    parts = re.split(r"(?<=;)\s+|(?<=[.!?])\s+(?=[A-Z0-9])", " ".join(case.split()))
    return [p.strip().rstrip(".;") for p in parts if p.strip().rstrip(".;")]


def restate(case: str) -> tuple[str, str]:
    """(Subjective, Objective) lines made only of the case's own words: history and medicines in
    the one, measurements in the other. Nothing is added, so nothing can be invented."""
    subj, obj = [], []
    for i, clause in enumerate(_clauses(case)):
        if i == 0:  # the opening clause says who the patient is; its measurements still go to Objective
            parts = re.split(r",\s+", clause)
            subj.append(", ".join(p for p in parts if not _is_measure(p)))
            obj += [p for p in parts if _is_measure(p)]
        else:
            (obj if _is_measure(clause) else subj).append(clause)
    subj = [x for x in subj if x]
    return ("; ".join(subj) or "as stated in the case") + ".", ("; ".join(obj) or "none stated in the case") + "."


def _is_measure(text: str) -> bool:
    return bool(_MEASURE.search(text)) and not _MEDS.match(text) and not _YEARS_OLD.match(text)


_YEARS_OLD = re.compile(r"^(?:an?\s+)?\d+[- ]year[- ]old\b", re.I)


_MEDS = re.compile(r"^(?:takes|taking|on|current (?:medicines|medications)|medications?|treated with)\b:?\s*(.+)$",
                   re.I)


def medicines(case: str) -> str | None:
    """The case's own list of current medicines ("Takes lisinopril 40 mg daily and ..."), or None."""
    for clause in _clauses(case):
        m = _MEDS.match(clause)
        if m:
            return m.group(1).strip()
    return None


def grounded_assessment(text: str, case: str) -> str:
    """The model's Assessment, cut before the first clause that states a number or code the case
    does not (a 135M model readily writes "LDL 9.1" for a patient whose LDL nobody measured).
    When nothing is left, the case's own problems, the first one first."""
    known = set(re.findall(r"[\w.]*\d[\w.%/-]*", case.lower()))
    kept = []
    for clause in re.split(r"(?<=[,;.])\s+|\s+(?=[(\[])", " ".join(text.split())):
        tokens = {t.rstrip(".,;)") for t in re.findall(r"[\w.]*\d[\w.%/-]*", clause.lower())}
        if tokens - known or "[" in clause:
            break
        kept.append(clause)
    out = " ".join(kept).strip().rstrip(",;(")
    if len(re.findall(r"[A-Za-z]{3,}", out)) >= 2:
        return out if out.endswith(".") else out + "."
    found = problems(case)
    if not found:
        return "as described in the case."
    first, rest = NAMES[found[0]], [NAMES[c] for c in found[1:]]
    return (first[0].upper() + first[1:] + (f", with {', '.join(rest)}" if rest else "") + ".")
