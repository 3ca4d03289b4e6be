"""The condition vocabulary, read from any text: a case's problems and a population's conditions.

A 135M model cannot tell whether "adults with type 2 diabetes and albuminuric CKD" describes a
patient with HFpEF and no diabetes. This reader can, for the conditions it knows by name
(`data/conditions.json`: phrases, abbreviations, the findings that name them, what implies or
conflicts with what): mentions with their assertion (present, negated, not the patient's), numbers
that make a diagnosis (LVEF 30% is HFrEF), the problems a case states in order and the one it presents
with, and the conditions a recommendation's population names. Whether that population fits the
patient is `fit`'s question; restating the case is `soap`'s.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

_VOCABULARY = json.loads((Path(__file__).parent / "data" / "conditions.json").read_text())["conditions"]
CONDITIONS = {c: (v["phrases"], v.get("abbreviations", "")) for c, v in _VOCABULARY.items()}
IMPLIES = {c: set(v["implies"]) for c, v in _VOCABULARY.items() if v.get("implies")}  # a form counts as the general one
CONFLICTS = {c: v["conflicts"] for c, v in _VOCABULARY.items() if v.get("conflicts")}  # one patient, one EF class
PHRASES = {c: v["query"] for c, v in _VOCABULARY.items() if v.get("query")}  # the words a query uses for it
NAMES = {c: v["name"] for c, v in _VOCABULARY.items() if v.get("name")}      # the words a report uses for it
_NEGATION = re.compile(r"\b(?:no|not|without|denies|negative for|free of|never had)\b[\w ,/-]{0,30}$", re.I)
_EITHER = re.compile(r"\b(?:with or without|(?:at|are at) (?:\w+ )?risk (?:of|for)|family history of|(?:mother|father|"
                    r"brother|sister|parent|sibling)s?(?:'s)? (?:had|has|with|died of))\b[\w ,/-]{0,20}$", re.I)
_RULED_OUT = re.compile(r"\s*(?:was |is |has been |had been )?(?:ruled out|excluded)\b", re.I)
_PATTERNS = {c: re.compile(rf"(?i:\b(?:{p})\b)" + (rf"|\b(?:{a})\b" if a else "")) for c, (p, a) in CONDITIONS.items()}
_EF = re.compile(r"\b(?:LV)?EF\b(?: of| was| is|:)?\s*(\d{2})\s*%|ejection fraction (?:of )?(\d{2})\s*%", re.I)
_BMI = re.compile(r"\bBMI(?: of| is|:)?\s*(\d{2}(?:\.\d)?)", re.I)
_EGFR = re.compile(r"\beGFR(?: of| is|:)?\s*(\d{1,3})\b", re.I)
_UACR = re.compile(r"\b(?:UACR|ACR|albumin-to-creatinine ratio|albumin-creatinine ratio)(?: of| is|:)?\s*(\d{2,4})\b", re.I)
# Findings that name a problem the case may never name in words (a note of readings, not diagnoses).
_BP = re.compile(r"\b(?:BP|blood pressure|readings?|pressures?)\b[^.;]{0,40}?\b(\d{2,3})\s*/\s*(\d{2,3})\b", re.I)
_REPEATED = re.compile(r"\b(?:home|ambulatory|average|averag\w+|readings|repeated|several|visits|ABPM)\b", re.I)
FINDINGS = {c: re.compile(v["finding"], re.I | (re.S if v.get("finding_dotall") else 0))
            for c, v in _VOCABULARY.items() if v.get("finding")}
_FEVER = re.compile(r"\bfever\w*|febrile|temperature (?:of )?3[89]|\b3[89](?:\.\d)? ?°?C\b|\bcough", re.I)
_NTPROBNP = re.compile(r"\b(NT-proBNP|BNP)\b[^.;\d]{0,15}(\d[\d,]{1,5})", re.I)
_OTHER_DIABETES = re.compile(r"\btype (?:1|i) diabet|\bT1DM?\b|\bgestational diabet|\bGDM\b|\bLADA\b|\bislet autoantibod",
                             re.I)
_HBA1C = re.compile(r"\b(?:HbA1c|A1c)\b[^.;\d]{0,10}(\d{1,2}(?:\.\d)?)\s*%", re.I)


@lru_cache(maxsize=4096)  # pure; asked for every passage a case is checked against
def _findings(text: str) -> tuple[tuple[int, int, str, str], ...]:
    """Problems stated as findings: BP readings over target, an irregularly irregular pulse, fever with
    consolidation, a raised NT-proBNP, an HbA1c of 6.5% or more, an obstructive FEV1/FVC, snoring."""
    out = []
    for m in _BP.finditer(text):
        sys_, dia = int(m.group(1)), int(m.group(2))
        high = (140, 90) if not _REPEATED.search(text[max(0, m.start() - 60): m.end()]) else (130, 80)
        if sys_ >= high[0] or dia >= high[1]:
            out.append((m.start(1), m.end(2), "hypertension", "yes"))
    for cond, rx in FINDINGS.items():
        if cond == "cap" and not _FEVER.search(text):
            continue
        out += [(m.start(), m.end(), cond, "yes") for m in rx.finditer(text)]
    for m in _NTPROBNP.finditer(text):
        if int(m.group(2).replace(",", "")) >= (400 if m.group(1).upper().startswith("NT") else 100):
            out.append((m.start(), m.end(), "hf", "yes"))
    if not _OTHER_DIABETES.search(text):  # an HbA1c in type 1 or gestational diabetes is not type 2
        out += [(m.start(), m.end(), "t2d", "yes") for m in _HBA1C.finditer(text) if float(m.group(1)) >= 6.5]
    return tuple(out)


_AT_HAND = re.compile(r"\b(?:presents?|presenting|admitted|seen|referred|comes?|came|newly|new|diagnosed|found|"
                      r"who also has|also has|has|now has|review|whose)\b(?:\W+\w+){0,7}?\W+$", re.I)
_VISIT = re.compile(r"\b(?:is|was) (?:\w+ )?(?:seen|admitted|referred|reviewed|discharged)\b", re.I)
_PRESENTS = re.compile(r"\b(?:presents?|presenting|admitted|comes? in|attends?)\b", re.I)
# Cues strong enough to name the problem at hand in any sentence, not only the first.
_AT_HAND_LATER = re.compile(r"\b(?:presents?|presenting|admitted|referred|newly|new diagnosis of|diagnosed|found|"
                            r"now has|today (?:with|for))\b(?:\W+\w+){0,7}?\W+$", re.I)


@lru_cache(maxsize=4096)  # pure, and asked again for every passage of a report
def _matches(text: str, measured: bool) -> tuple[tuple[int, int, str, str], ...]:
    """(start, end, condition, "yes" | "no" | "either") for every mention, in text order."""
    out = []
    other_diabetes = bool(_OTHER_DIABETES.search(text))
    for cond, pattern in _PATTERNS.items():
        for m in pattern.finditer(text):
            if cond == "t2d" and other_diabetes and not re.match(r"type (?:2|ii)|T2|DM2", m.group(0), re.I):
                continue  # "the diabetes clinic" of a patient with type 1 diabetes says nothing of type 2
            before = re.split(r"[.;:]\s", text[max(0, m.start() - 40): m.start()])[-1]
            if _EITHER.search(before):
                state = "either"
            elif _RULED_OUT.match(text, m.end()):  # "MI ruled out", "pneumonia was excluded"
                state = "no"
            else:
                before = re.split(r"\b(?:and|but|with|has|on)\s+(?=\w)", before)[-1]
                state = "no" if _NEGATION.search(before) else "yes"
            out.append((m.start(), m.end(), cond, state))
    if measured:  # numbers a case states: LVEF 30% is HFrEF, BMI 34 is obesity
        heart_failure = _PATTERNS["hf"].search(text) or _PATTERNS["hfpef"].search(text) or \
            any(cond == "hf" for _, _, cond, _ in _findings(text))  # a raised NT-proBNP
        for m in _EF.finditer(text):  # a normal LVEF is HFpEF only in a patient with heart failure
            cond = "hfref" if int(m.group(1) or m.group(2)) <= 40 else "hfpef"
            if cond == "hfref" or heart_failure:
                out += [(m.start(), m.end(), cond, "yes"), (m.start(), m.end(), "hf", "yes")]
        out += [(m.start(), m.end(), "obesity", "yes") for m in _BMI.finditer(text) if float(m.group(1)) >= 30]
        out += [(m.start(), m.end(), "ckd", "yes") for m in _EGFR.finditer(text) if int(m.group(1)) < 60]
        out += [(m.start(), m.end(), "ckd", "yes") for m in _UACR.finditer(text) if int(m.group(1)) >= 30]
        out += _findings(text)
    return tuple(sorted(out))


def mentions(text: str, measured: bool = True) -> list[tuple[int, str, str]]:
    """(position, condition, "yes" | "no" | "either") for each condition the text names, first mention first.
    "no diabetes" is no; "with or without diabetes", "at high risk of stroke" and "her mother had a stroke"
    are either (not the patient's); a sentence boundary ends a negation."""
    found: dict[str, tuple[int, str]] = {}
    for start, _, cond, state in _matches(text, measured):
        if cond not in found or (found[cond][1] != "yes" and state == "yes"):
            found[cond] = (found[cond][0] if cond in found else start, state)
    return sorted((pos, cond, state) for cond, (pos, state) in found.items())
_HISTORY = re.compile(r"\b(?:after|history of|previous|prior|past|post|s/p|status post)\b(?:\W+\w+){0,5}?\W+$",
                      re.I)
_YEARS_AGO = re.compile(r"[^.;:,()]{0,50}?\b(?:in (?:19|20)\d\d|\d+ years ago)\b")  # "ICU admission ... in 2017"
# An episode that has ended: "treated for pneumonia last month", "pneumonia ..., which fully resolved"
_ENDED_BEFORE = re.compile(r"\b(?:treated for|recovered from|after|had|completed \w+ for)\b(?:\W+\w+){0,3}?\W+$", re.I)
_ENDED_AFTER = re.compile(r"[^.;]{0,80}?\b(?:(?:which|that|and) (?:has |had )?(?:fully |completely )?(?:resolved|cleared)|"
                          r"now (?:resolved|recovered)|(?:last|this past) (?:week|month|winter|spring|summer|autumn|year)|"
                          r"\d+ (?:days|weeks|months) ago|(?:weeks|months) ago)\b", re.I)
ACUTE = {c for c, v in _VOCABULARY.items() if v.get("acute")}  # episodes that end (a past MI stays ASCVD)
STRONG = {c for c, v in _VOCABULARY.items() if v.get("finding_makes_diagnosis")}  # BP, HbA1c, NT-proBNP do not
# A setting a population may require, never the problem at hand. A statin intolerance is not one: a
# note that opens with it is about lipids (chosen on the development sets).
SETTINGS = {c for c, v in _VOCABULARY.items() if v.get("setting")}


@lru_cache(maxsize=4096)
def _named(case: str) -> tuple[frozenset[str], frozenset[str]]:
    """(conditions named in words as current problems, conditions named only as history: "2 years
    after a myocardial infarction", "history of stroke")."""
    now, past = set(), set()
    for start, end, cond, state in _matches(case, measured=False):
        if state == "yes":
            was = _HISTORY.search(case[max(0, start - 40): start]) or _YEARS_AGO.match(case, end) or \
                cond in ACUTE and (_ENDED_BEFORE.search(case[max(0, start - 60): start]) or _ENDED_AFTER.match(case, end))
            (past if was else now).add(cond)
    return frozenset(now), frozenset(past - now)


def stated(case: str) -> list[str]:
    """The problems a case names in words or shows by diagnostic findings (an irregularly irregular
    pulse, an LVEF of 35%), not those only implied by a number such as eGFR 58. Softer findings (BP
    readings, HbA1c, NT-proBNP) speak only when the case names no current problem."""
    now, past = _named(case)
    found = {cond for _, _, cond, _ in _findings(case)}
    ef = {cond for _, _, cond, _ in _matches(case, measured=True) if cond in ("hfref", "hfpef")}
    named = now | past | ef | (found & STRONG)
    if not now - {"obesity"}:
        named |= found
    return [c for c in problems(case) if c in named]


def problems(case: str) -> list[str]:
    """The conditions a case states (not negated), the problem at hand first: the one the case
    presents ("admitted with pneumonia", "who also has asthma", "has AFib found on an ECG",
    "is seen today for heart failure", "whose AF was found"; an acute finding-made problem in a case
    that "presents"), else the first one it names. Conditions named only as
    history, and soft findings beside named problems, come last. General heart failure is dropped
    when its ejection-fraction class is known."""
    return list(_problems(case))


@lru_cache(maxsize=4096)  # pure; asked for every passage a case is checked against
def _problems(case: str) -> tuple[str, ...]:
    out = [cond for _, cond, state in mentions(case) if state == "yes"]
    now, past = _named(case)
    soft = {cond for _, _, cond, _ in _findings(case)} - STRONG - now - past if now else set()
    out = [c for c in out if not (c in SETTINGS | ACUTE and c in past)]  # ICU in 2017, pneumonia last winter: over
    later = past | soft | SETTINGS  # "5 months after an NSTEMI"; BP 142/86 in a case about HFpEF
    out = [c for c in out if c not in later] + [c for c in out if c in later]
    if "hf" in out and ({"hfref", "hfpef"} & set(out)):
        out.remove("hf")
    hit = _cued(case, tuple(out))
    if hit:
        out.remove(hit)
        out.insert(0, hit)
    return tuple(out)


@lru_cache(maxsize=4096)
def _cued(case: str, out: tuple[str, ...]) -> str | None:
    """The known condition the case presents with, named by a cue ("admitted with pneumonia", "is seen
    today ... for AF", "whose AF was found") or an acute finding in a case that "presents"; None when
    the case names its problem at hand in no words this vocabulary knows."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", case)
    for i, sentence in enumerate(sentences):
        cue = _AT_HAND if i == 0 else _AT_HAND_LATER
        verb = _VISIT.search(sentence) if i == 0 else None  # "A woman with X and Y is seen today ... for Z": Z
        hit = next((cond for start, _, cond, state in _matches(sentence, measured=False) if state == "yes" and
                    cond in out + ("hf",) and cond not in SETTINGS and (cue.search(sentence[max(0, start - 60): start])
                                                                        or verb and start > verb.end())), None)
        if hit == "hf":  # "seen today for heart failure with preserved ejection fraction": its class
            hit = next((c for c in out if c in ("hfref", "hfpef", "hf")), None)
        if hit:
            return hit
    # "A woman with T2D and CKD presents after 2 days of fever ...; left lower lobe infiltrate": pneumonia
    now, _ = _named(case)
    acute = [c for _, _, c, _ in _findings(case) if c in STRONG and c in out]
    if acute and acute[0] not in now and _PRESENTS.search(sentences[0]):
        return acute[0]
    return None


def presented(case: str) -> str | None:
    """The known condition the case presents with, by a cue or an acute finding; None otherwise (the
    problem at hand may then be one this vocabulary does not know)."""
    return _cued(case, _problems(case))


def negated(case: str) -> set[str]:
    return {cond for _, cond, state in mentions(case) if state == "no"}
_OUTCOME = re.compile(r"\b(?:to (?:reduce|lower|slow|cut|improve|prevent|produce)|reduces|reduced|lowers|prevents|"
                      r"produces|halved|improves|it |in the \w+ trial)\b", re.I)


_ACTION = re.compile(r"\b(?:add|adding|start|prescribe|give|offer|switch|anticoagulate|consider|aim|uptitrate|"
                     r"treat|prefer|use|receives|is an?)\b", re.I)
_OR = re.compile(r"^[\s,)]*(?:and/)?or\s+(?:\w+\s+){0,2}$", re.I)
_OR_OTHER = re.compile(r"^[\s,)]*(?:and/)?or\b", re.I)


@lru_cache(maxsize=4096)  # pure; asked for every passage against every case
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
# Numbers a population sets and a case states: "blood eosinophils of 300 cells/uL or more" against
# "eosinophils 260 cells/uL". Ejection fraction is checked through its HFrEF/HFpEF classes above.
MEASURES = {"eos": r"eosinophils?|eos", "ldl": r"LDL(?:-C| cholesterol)?", "egfr": r"eGFR", "uacr": r"UACR",
            "bmi": r"BMI", "hba1c": r"HbA1c|A1c", "ntprobnp": r"NT-proBNP", "potassium": r"potassium|K\+?"}
_MEASURE_NAMES = "|".join(f"(?P<{k}>\\b(?:{v})\\b)" for k, v in MEASURES.items())
_LIMIT = re.compile(rf"(?:{_MEASURE_NAMES})[^.;()\d]{{0,25}}?(?P<op>above|over|below|under|less than|more than|greater "
                    r"than|at least|>=|≥|<=|≤|>|<)?\s*(?P<n>\d+(?:\.\d+)?)(?:\s*(?!or\b)[a-zA-Z/%µ]+(?:/[\w.]+)?){0,2}\s*"
                    r"(?P<tail>or (?:more|higher|above|greater|less|lower|below))?", re.I)
_VALUE = re.compile(rf"(?:{_MEASURE_NAMES})(?:\s*(?:of|is|was|:|=|now|level|count))*\s*(?P<n>\d+(?:\.\d+)?)", re.I)


def measure(m: re.Match) -> str:
    return next(k for k in MEASURES if m.group(k))
_MMOL = re.compile(r"\s*mmol", re.I)


def mg_dl(m: re.Match, n: float) -> float:
    """LDL in mg/dL whichever unit the text uses (1 mmol/L = 38.67 mg/dL)."""
    mmol = "mmol" in m.group(0).lower() or _MMOL.match(m.string, m.end())
    return round(n * 38.67, 1) if m.group("ldl") and mmol else n


def values(case: str) -> dict[str, float]:
    """The first value the case states for each measure."""
    out: dict[str, float] = {}
    for m in _VALUE.finditer(case):
        out.setdefault(measure(m), mg_dl(m, float(m.group("n"))))
    return out
