"""Reading a case and a recommendation the way a clinician would, with rules a person can check.

A 135M model cannot tell whether "adults with type 2 diabetes and albuminuric CKD" describes a
patient with HFpEF and no diabetes. These few rules can: a small vocabulary of conditions (with
abbreviations, negation and ejection-fraction numbers), the problems a case states in order, the
population a recommendation is for, and whether that population matches the patient.
"""
from __future__ import annotations

import re
from functools import lru_cache

# condition -> (case-insensitive phrases, case-sensitive abbreviations)
CONDITIONS = {
    "t2d": (r"type (?:2|ii) diabetes|diabetes mellitus|diabetic|diabetes", r"T2DM|T2D|DM2"),
    "ckd": (r"chronic kidney disease|kidney disease|albuminuri\w*|proteinuri\w*|nephropathy", r"CKD|DKD"),
    "hfref": (r"reduced ejection fraction|systolic heart failure|lvef (?:of )?40% or less", r"HFrEF"),
    "hfpef": (r"preserved ejection fraction|mildly reduced ejection fraction|lvef (?:above|over) 40%|"
              r"lvef 4[05]% or more", r"HFpEF|HFmrEF|HFimpEF"),
    "hf": (r"heart failure|cardiac failure", r"CHF"),
    "af": (r"atrial fibrillation|a-fib|afib", r"AF|AFib"),
    "hypertension": (r"hypertension|hypertensive|high blood pressure|blood pressure of 1[34]0/[89]0", r"HTN"),
    "asthma": (r"asthma\w*", ""),
    "copd": (r"chronic obstructive|emphysema|chronic bronchitis|copd", ""),
    "obesity": (r"obes\w*|overweight|bmi (?:of )?(?:27|30|35) or more", ""),
    "ascvd": (r"atherosclerotic|cardiovascular disease|myocardial infarctions?|coronary|strokes?|angina|"
              r"peripheral arter\w+ disease|revasculari[sz]ation", r"ASCVD|CAD|PAD|MI|PCI|CABG|NSTEMI|STEMI"),
    "dyslipidemia": (r"ldl|cholesterol|hyperlipid\w*|dyslipid\w*|hypercholesterol\w*", ""),
    "cap": (r"pneumonia", r"CAP"),
    "osa": (r"sleep apno?ea", r"OSA"),
}
IMPLIES = {"hfref": {"hf"}, "hfpef": {"hf"}, "osa": set()}  # a specific form counts as the general one
CONFLICTS = {"hfref": "hfpef", "hfpef": "hfref"}            # one patient, one ejection-fraction class
PHRASES = {  # condition -> words a query or a report uses for it
    "t2d": "type 2 diabetes", "ckd": "chronic kidney disease albuminuria", "hfref": "heart failure with reduced "
    "ejection fraction HFrEF", "hfpef": "heart failure with preserved ejection fraction HFpEF", "hf": "heart failure",
    "af": "atrial fibrillation anticoagulation stroke prevention", "hypertension": "hypertension blood pressure",
    "asthma": "asthma", "copd": "COPD exacerbations", "obesity": "obesity weight loss", "ascvd":
    "atherosclerotic cardiovascular disease", "dyslipidemia": "LDL cholesterol", "cap": "community-acquired "
    "pneumonia", "osa": "obstructive sleep apnea"}
_NEGATION = re.compile(r"\b(?:no|not|without|denies|negative for|free of|never had)\b[\w ,/-]{0,30}$", re.I)
_EITHER = re.compile(r"\bwith or without\b[\w ,/-]{0,20}$", re.I)
_PATTERNS = {c: re.compile(rf"(?i:\b(?:{p})\b)" + (rf"|\b(?:{a})\b" if a else "")) for c, (p, a) in CONDITIONS.items()}
_EF = re.compile(r"\b(?:LV)?EF\b(?: of| was| is|:)?\s*(\d{2})\s*%|ejection fraction (?:of )?(\d{2})\s*%", re.I)
_BMI = re.compile(r"\bBMI(?: of| is|:)?\s*(\d{2}(?:\.\d)?)", re.I)
_EGFR = re.compile(r"\beGFR(?: of| is|:)?\s*(\d{1,3})\b", re.I)
_UACR = re.compile(r"\b(?:UACR|ACR|albumin-to-creatinine ratio|albumin-creatinine ratio)(?: of| is|:)?\s*(\d{2,4})\b", re.I)
_AT_HAND = re.compile(r"\b(?:presents?|presenting|admitted|seen|referred|comes?|came|newly|new|diagnosed|"
                      r"who also has|also has|has|now has|review)\b(?:\W+\w+){0,7}?\W+$", re.I)


@lru_cache(maxsize=4096)  # pure, and asked again for every passage of a report
def _matches(text: str, measured: bool) -> tuple[tuple[int, int, str, str], ...]:
    """(start, end, condition, "yes" | "no" | "either") for every mention, in text order."""
    out = []
    for cond, pattern in _PATTERNS.items():
        for m in pattern.finditer(text):
            before = re.split(r"[.;:]\s", text[max(0, m.start() - 40): m.start()])[-1]
            if _EITHER.search(before):
                state = "either"
            else:
                before = re.split(r"\b(?:and|but|with|has|on)\s+(?=\w)", before)[-1]
                state = "no" if _NEGATION.search(before) else "yes"
            out.append((m.start(), m.end(), cond, state))
    if measured:  # numbers a case states: LVEF 30% is HFrEF, BMI 34 is obesity
        for m in _EF.finditer(text):
            cond = "hfref" if int(m.group(1) or m.group(2)) <= 40 else "hfpef"
            out += [(m.start(), m.end(), cond, "yes"), (m.start(), m.end(), "hf", "yes")]
        out += [(m.start(), m.end(), "obesity", "yes") for m in _BMI.finditer(text) if float(m.group(1)) >= 30]
        out += [(m.start(), m.end(), "ckd", "yes") for m in _EGFR.finditer(text) if int(m.group(1)) < 60]
        out += [(m.start(), m.end(), "ckd", "yes") for m in _UACR.finditer(text) if int(m.group(1)) >= 30]
    return tuple(sorted(out))


def mentions(text: str, measured: bool = True) -> list[tuple[int, str, str]]:
    """(position, condition, "yes" | "no" | "either") for each condition the text names, first mention first.
    "no diabetes" is no; "with or without diabetes" is either; a sentence boundary ends a negation."""
    found: dict[str, tuple[int, str]] = {}
    for start, _, cond, state in _matches(text, measured):
        if cond not in found or (found[cond][1] != "yes" and state == "yes"):
            found[cond] = (found[cond][0] if cond in found else start, state)
    return sorted((pos, cond, state) for cond, (pos, state) in found.items())


def stated(case: str) -> list[str]:
    """The problems a case names in words (not only through a number such as eGFR 58)."""
    named = {cond for _, _, cond, state in _matches(case, measured=False) if state == "yes"}
    return [c for c in problems(case) if c in named]


def problems(case: str) -> list[str]:
    """The conditions a case states (not negated), the problem at hand first: the one the case
    presents ("admitted with pneumonia", "who also has asthma", "has AFib found on an ECG"), else
    the first one it names. General heart failure is dropped when its ejection-fraction class is known."""
    out = [cond for _, cond, state in mentions(case) if state == "yes"]
    first_sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", case)[0]
    for start, _, cond, state in _matches(first_sentence, measured=False):
        if state == "yes" and cond in out and _AT_HAND.search(first_sentence[max(0, start - 60): start]):
            out.remove(cond)
            out.insert(0, cond)
            break
    if "hf" in out and ({"hfref", "hfpef"} & set(out)):
        out.remove("hf")
    return out


def negated(case: str) -> set[str]:
    return {cond for _, cond, state in mentions(case) if state == "no"}


_OUTCOME = re.compile(r"\b(?:to (?:reduce|lower|slow|cut|improve|prevent|produce)|reduces|reduced|lowers|prevents|"
                      r"produces|halved|improves|it |in the \w+ trial)\b", re.I)


_ACTION = re.compile(r"\b(?:add|adding|start|prescribe|give|offer|switch|anticoagulate|consider|aim|uptitrate|"
                     r"treat|prefer|use|receives|is an?)\b", re.I)
_OR = re.compile(r"^[\s,)]*(?:and/)?or\s+(?:\w+\s+){0,2}$", re.I)
_OR_OTHER = re.compile(r"^[\s,)]*(?:and/)?or\b", re.I)


def population(recommendation: str) -> str:
    """The part of a recommendation that says whom it is for: what comes before its action ("add
    ...") when the patient is named first, and never its stated benefit ("... to reduce heart
    failure hospitalization" names an outcome, not a patient)."""
    m = _OUTCOME.search(recommendation)
    text = recommendation[: m.start()] if m else recommendation
    for verb in _ACTION.finditer(text):
        if mentions(text[: verb.start()], measured=False):
            return text[: verb.start()]
    return text


@lru_cache(maxsize=4096)
def needs_groups(recommendation: str) -> tuple[frozenset[str], ...]:
    """The conditions a recommendation's population must have, as groups of alternatives:
    "type 2 diabetes and ASCVD and/or CKD" is [{t2d}, {ascvd, ckd}]. A condition offered as one
    alternative among things this vocabulary cannot check ("cardiovascular disease or a 10-year
    risk of 10%") is not required."""
    text = population(recommendation)
    spans = [(a, b, c) for a, b, c, state in _matches(text, measured=False) if state == "yes"]
    merged: list[list] = []
    for a, b, c in spans:  # consecutive mentions of one condition are one mention
        if merged and merged[-1][2] == c:
            merged[-1][1] = max(merged[-1][1], b)
        elif not merged or a >= merged[-1][1]:
            merged.append([a, b, c])
    groups: list[set[str]] = []
    optional: list[set[str]] = []
    for i, (a, b, c) in enumerate(merged):
        prev_or = i > 0 and _OR.match(text[merged[i - 1][1]: a])
        if prev_or and groups:
            groups[-1].add(c)
            continue
        nxt = merged[i + 1][0] if i + 1 < len(merged) else len(text)
        (optional if _OR_OTHER.match(text[b:]) and not _OR.match(text[b: nxt]) else groups).append({c})
    groups = groups or optional  # "a BMI of 30 or more, or 27 or more with ...": obesity all the same
    if any(g & {"hfref", "hfpef"} for g in groups):
        groups = [g for g in groups if g != {"hf"}]
    return tuple(frozenset(g) for g in groups)


def needs(recommendation: str) -> set[str]:
    """Every condition the recommendation's population names as required or as an alternative."""
    return set().union(*needs_groups(recommendation))


def excludes(recommendation: str) -> set[str]:
    """The conditions its population must not have ("without diabetes")."""
    return {c for _, c, state in mentions(population(recommendation), measured=False) if state == "no"}


def applicability(recommendation: str, case: str) -> float:
    """How well a recommendation's population matches the patient, 0..1.

    0 when the population needs a condition the case rules out ("no diabetes"), excludes one the
    case has ("without diabetes"), or names the other ejection-fraction class; otherwise the share
    of the population's conditions the case has. A population naming none of the known conditions
    (an upload about something else) is scored by the share of the words of its first clause
    ("In adults with idiopathic pulmonary fibrosis and chronic cough,") found in the case."""
    has, ruled_out = set(problems(case)), negated(case)
    for c in list(has):
        has |= IMPLIES.get(c, set())
    groups, exclude = needs_groups(recommendation), excludes(recommendation)
    if any(g <= ruled_out for g in groups) or exclude & has or \
            any(all(CONFLICTS.get(c) in has and c not in has for c in g) for g in groups):
        return 0.0
    if groups:
        return sum(bool(g & has) for g in groups) / len(groups)
    who = re.split(r",|\d", population(recommendation), maxsplit=1)[0]  # "In adults with X and Y," names them
    words = set(re.findall(r"[a-z]{4,}", who.lower())) - _COMMON
    return len(words & set(re.findall(r"[a-z]{4,}", case.lower()))) / len(words) if words else 0.0


_COMMON = set("adults adult patients patient with without more less than daily once twice weekly start "
              "starts give offer consider treat treated those aged years older younger who have after "
              "before from into their plus also such example other".split())

# ---------------------------------------------------------------- restating the case

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


NAMES = {"t2d": "type 2 diabetes", "ckd": "chronic kidney disease", "hfref": "heart failure with reduced "
         "ejection fraction", "hfpef": "heart failure with preserved or mildly reduced ejection fraction",
         "hf": "heart failure", "af": "atrial fibrillation", "hypertension": "hypertension", "asthma": "asthma",
         "copd": "COPD", "obesity": "obesity", "ascvd": "atherosclerotic cardiovascular disease",
         "dyslipidemia": "raised LDL cholesterol", "cap": "community-acquired pneumonia",
         "osa": "obstructive sleep apnea"}


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

