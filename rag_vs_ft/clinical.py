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
    # not type 1, gestational, pre- or non-diabetes: look-alikes are other concepts, not type 2
    "t2d": (r"(?<!type 1 )(?<!type i )(?<!gestational )(?<!pre-)(?<!non-)(?<!non )(?:type (?:2|ii) diabetes|"
            r"diabetes mellitus|diabetic|diabetes)", r"T2DM|T2D|DM2"),
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
    "ascvd": (r"atherosclerotic(?! \w+ risk)|cardiovascular disease|myocardial infarctions?|"
              r"coronary(?! artery calcium| calcium)|strokes?|angina|peripheral arter\w+ disease|revasculari[sz]ation",
              r"ASCVD(?! risk)|CAD|PAD|MI|PCI|CABG|NSTEMI|STEMI"),  # a risk score or calcium score is not the disease
    "dyslipidemia": (r"ldl|cholesterol|hyperlipid\w*|dyslipid\w*|hypercholesterol\w*", ""),
    "cap": (r"pneumonia", r"CAP"),
    "osa": (r"sleep apno?ea", r"OSA"),
    # settings and states a population can require
    "icu": (r"intensive care|critical care|intubated|mechanical(?:ly)? ventilat\w+|vasopressors?|septic shock", r"ICU"),
    "statin_intolerance": (r"cannot take a statin|unable to take (?:a )?statins?|statin[- ]intoleran\w+|"
                           r"intoleran\w+ (?:of|to) statins?|declines? (?:any )?(?:further )?statins?|"
                           r"muscle (?:pain|symptoms|aches) on (?:\w+ )?statins?", ""),
}
IMPLIES = {"hfref": {"hf"}, "hfpef": {"hf"}, "osa": set()}  # a specific form counts as the general one
CONFLICTS = {"hfref": "hfpef", "hfpef": "hfref"}            # one patient, one ejection-fraction class
PHRASES = {  # condition -> words a query or a report uses for it
    "t2d": "type 2 diabetes", "ckd": "chronic kidney disease albuminuria", "hfref": "heart failure with reduced "
    "ejection fraction HFrEF", "hfpef": "heart failure with preserved ejection fraction HFpEF", "hf": "heart failure",
    "af": "atrial fibrillation anticoagulation stroke prevention", "hypertension": "hypertension blood pressure",
    "asthma": "asthma", "copd": "COPD exacerbations", "obesity": "obesity weight loss", "ascvd":
    "atherosclerotic cardiovascular disease", "dyslipidemia": "LDL cholesterol", "cap": "community-acquired "
    "pneumonia", "osa": "obstructive sleep apnea", "icu": "intensive care", "statin_intolerance": "statin intolerance"}
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
FINDINGS = {
    "af": re.compile(r"irregularly irregular|(?:absent|no|without)(?: visible| discernible)? P waves|fibrillatory waves",
                     re.I),
    "cap": re.compile(r"\b(?:consolidation|infiltrate|bronchial breathing|rusty sputum|lobar)\b", re.I),
    "copd": re.compile(r"\bFEV1\s*/\s*FVC\b[^.;]{0,20}?(?:0\.[3-6]\d|[3-6]\d\s*%|<\s*0\.7)", re.I),
    "asthma": re.compile(r"\b(?:salbutamol|albuterol|SABA|reliever|blue inhaler)\b(?=.{0,300}?\b(?:wheez\w*|night|"
                         r"nocturnal|chest tightness)\b)|\b(?:wheez\w*|night-time|nocturnal)\b(?=.{0,300}?\b(?:salbutamol|"
                         r"albuterol|SABA|reliever|inhaler)\b)", re.I | re.S),
    "osa": re.compile(r"\bsnor\w+|witnessed (?:apno|pauses)\w*|\bAHI\b|apno?ea-hypopno?ea index", re.I),
}
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
ACUTE = {"cap"}  # episodes that end: once over, no longer the patient's problem (a past MI stays ASCVD)
STRONG = {"af", "cap", "copd", "asthma", "osa"}  # findings that make the diagnosis; BP, HbA1c, NT-proBNP do not
# A setting a population may require, never the problem at hand. A statin intolerance is not one: a
# note that opens with it is about lipids (chosen on the development sets).
SETTINGS = {"icu"}


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


def _measure(m: re.Match) -> str:
    return next(k for k in MEASURES if m.group(k))


_OR_LIMIT = re.compile(r"\s*,?\s*or\s+(\d+(?:\.\d+)?)\s*(?:[a-zA-Z/%µ]+\s*)?or (?:more|higher|above|less|lower|below)")


def limits(text: str) -> list[tuple[str, str, float]]:
    """(measure, ">=" or "<=", value) for each threshold a population states; where it offers two
    ("BMI 30 or more, or 27 or more with a weight-related condition") the looser one."""
    found: dict[tuple[str, str], float] = {}
    for m in _LIMIT.finditer(text):
        word = (m.group("op") or m.group("tail") or "").lower()
        if not word:
            continue
        op = ">=" if any(w in word for w in ("above", "over", "more", "greater", "least", ">", "≥", "higher")) else "<="
        ns = [_mg_dl(m, float(m.group("n")))] + [_mg_dl(m, float(o.group(1))) for o in [_OR_LIMIT.match(text, m.end())] if o]
        key = (_measure(m), op)
        found[key] = min([*ns, found.get(key, ns[0])]) if op == ">=" else max([*ns, found.get(key, ns[0])])
    return [(k, op, n) for (k, op), n in found.items()]


_MMOL = re.compile(r"\s*mmol", re.I)


def _mg_dl(m: re.Match, n: float) -> float:
    """LDL in mg/dL whichever unit the text uses (1 mmol/L = 38.67 mg/dL)."""
    mmol = "mmol" in m.group(0).lower() or _MMOL.match(m.string, m.end())
    return round(n * 38.67, 1) if m.group("ldl") and mmol else n


def values(case: str) -> dict[str, float]:
    """The first value the case states for each measure."""
    out: dict[str, float] = {}
    for m in _VALUE.finditer(case):
        out.setdefault(_measure(m), _mg_dl(m, float(m.group("n"))))
    return out


_AGE = re.compile(r"\b(\d{2,3})[- ]years?[- ]old\b|\baged (\d{2,3})\b|\bage (\d{2,3})\b", re.I)
_AGES = re.compile(r"\baged (\d{2})\s*(?:-|–|to)\s*(\d{2,3})\b|\b(?:aged|age) (\d{2})(?: years)? or (?:older|over|more)\b|"
                   r"\b(\d{2}) years (?:or|and) (?:older|over)\b", re.I)


def age(case: str) -> int | None:
    """The patient's age in years, where the case states it ("67-year-old", "aged 82")."""
    m = _AGE.search(case)
    return int(next(g for g in m.groups() if g)) if m else None


def outside(recommendation: str, case: str) -> bool:
    """The case states a number on the wrong side of a threshold the recommendation's population sets,
    its age included ("adults aged 60-80" for a 54-year-old)."""
    have, who = values(case), population(recommendation)
    years = age(case)
    for m in _AGES.finditer(who) if years is not None else ():
        low, high = int(m.group(1) or m.group(3) or m.group(4)), int(m.group(2) or 200)
        if not low <= years <= high:
            return True
    return any(k in have and (have[k] < n if op == ">=" else have[k] > n) for k, op, n in limits(who))


def applicability(recommendation: str, case: str) -> float:
    """How well a recommendation's population matches the patient, 0..1.

    0 when the population needs a condition the case rules out ("no diabetes"), excludes one the
    case has ("without diabetes"), names the other ejection-fraction class, or sets a threshold the
    case's own number misses ("eosinophils of 300 or more", the case 260); otherwise the share
    of the population's conditions the case has. A population naming none of the known conditions
    (an upload about something else) is scored by the share of the words of its first clause
    ("In adults with idiopathic pulmonary fibrosis and chronic cough,") found in the case."""
    has, ruled_out = set(problems(case)), negated(case)
    for c in list(has):
        has |= IMPLIES.get(c, set())
    bmi = next((float(m.group("n")) for m in _LIMIT.finditer(population(recommendation)) if m.group("bmi")), None)
    if bmi and values(case).get("bmi", 0) >= bmi:
        has.add("obesity")  # "a BMI of 27 or more": its own number decides; "30, or 27 with ...": the first
    groups, exclude = needs_groups(recommendation), excludes(recommendation)
    if any(g <= ruled_out for g in groups) or exclude & has or outside(recommendation, case) or \
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
         "osa": "obstructive sleep apnea", "icu": "critical illness needing intensive care",
         "statin_intolerance": "statin intolerance"}


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

