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

from . import scope

_VOCABULARY = json.loads((Path(__file__).parent / "data" / "conditions.json").read_text())["conditions"]
CONDITIONS = {c: (v["phrases"], v.get("abbreviations", "")) for c, v in _VOCABULARY.items()}
IMPLIES = {c: set(v["implies"]) for c, v in _VOCABULARY.items() if v.get("implies")}  # a form counts as the general one
CONFLICTS = {c: v["conflicts"] for c, v in _VOCABULARY.items() if v.get("conflicts")}  # one patient, one EF class
PHRASES = {c: v["query"] for c, v in _VOCABULARY.items() if v.get("query")}  # the words a query uses for it
NAMES = {c: v["name"] for c, v in _VOCABULARY.items() if v.get("name")}      # the words a report uses for it
_EITHER = re.compile(r"\b(?:with or without|(?:at|are at) (?:\w+ )?risk (?:of|for)|family history of|(?:mother|father|"
                    r"brother|sister|parent|sibling)s?(?:'s)? (?:had|has|with|died of))\b", re.I)
_PATTERNS = {c: re.compile(rf"(?i:\b(?:{p})\b)" + (rf"|\b(?:{a})\b" if a else "")) for c, (p, a) in CONDITIONS.items()}
FINDINGS = {c: re.compile(v["finding"], re.I | (re.S if v.get("finding_dotall") else 0))
            for c, v in _VOCABULARY.items() if v.get("finding")}
PARENT = {c: v["parent"] for c, v in _VOCABULARY.items() if v.get("parent")}  # HFrEF and HFpEF are classes of HF
BACKGROUND = {c for c, v in _VOCABULARY.items() if v.get("background")}  # not "a named problem" for soft findings
_REQUIRES = {c: re.compile(v["finding_requires"], re.I) for c, v in _VOCABULARY.items() if v.get("finding_requires")}
_OTHER_FORMS = {c: (re.compile(v["other_forms"], re.I), re.compile(v["own_form"], re.I))
                for c, v in _VOCABULARY.items() if v.get("other_forms")}  # type 1 diabetes is not type 2


def _rules(key: str) -> list[tuple[str, re.Pattern, dict]]:
    return [(c, re.compile(r["pattern"], re.I), r) for c, v in _VOCABULARY.items() for r in v.get(key, [])]


_NUMBERS, _FINDING_NUMBERS = _rules("numbers"), _rules("finding_numbers")  # an LVEF of 30%; an HbA1c of 7%
MEASURED = {r["measure"]: c for c, _, r in _NUMBERS if r.get("measure")}  # a population's own BMI threshold decides
_READINGS = [(c, re.compile(v["readings"]["pattern"], re.I), re.compile(v["readings"]["repeated"], re.I), v["readings"])
             for c, v in _VOCABULARY.items() if v.get("readings")]  # BP 152/94, lower when the readings repeat


def _beyond(rule: dict, n: float) -> bool:
    """Whether a stated number passes a rule's threshold."""
    return (n >= rule["at_least"] if "at_least" in rule else n > rule["above"] if "above" in rule else
            n <= rule["at_most"] if "at_most" in rule else n < rule["below"])


def _number(m: re.Match) -> float:
    return float(next(g for g in m.groups() if g is not None).replace(",", ""))


def _other_form(cond: str, text: str) -> bool:
    """Whether the text names another form of the condition (type 1 or gestational diabetes for type 2)."""
    return cond in _OTHER_FORMS and bool(_OTHER_FORMS[cond][0].search(text))


@lru_cache(maxsize=4096)  # pure; asked for every passage a case is checked against
def _findings(text: str) -> tuple[tuple[int, int, str, str], ...]:
    """Problems stated as findings: BP readings over target, an irregularly irregular pulse, fever with
    consolidation, a raised NT-proBNP, an HbA1c of 6.5% or more, an obstructive FEV1/FVC, snoring."""
    out = []
    for cond, rx, repeated, rule in _READINGS:
        for m in rx.finditer(text):
            high = rule["repeated_at_least"] if repeated.search(scope.before(text, m.end())) else rule["at_least"]
            if any(int(m.group(i + 1)) >= high[i] for i in range(len(high))):
                out.append((m.start(1), m.end(len(high)), cond, "yes"))
    for cond, rx in FINDINGS.items():
        if cond in _REQUIRES and not _REQUIRES[cond].search(text):
            continue
        out += [(m.start(), m.end(), cond, "yes") for m in rx.finditer(text)]
    for cond, rx, rule in _FINDING_NUMBERS:
        if not _other_form(cond, text):  # an HbA1c in type 1 or gestational diabetes is not type 2
            out += [(m.start(), m.end(), cond, "yes") for m in rx.finditer(text) if _beyond(rule, _number(m))]
    return tuple(out)


_AT_HAND = re.compile(r"\b(?:presents?|presenting|admitted|seen|referred|comes?|came|newly|new|diagnosed|found|"
                      r"who also has|also has|has|now has|review|whose)\b", re.I)
CUE_WORDS = 7  # how far a presenting verb reaches: its object, not the background it lists (measured: docs/rag.md)
_VISIT = re.compile(r"\b(?:is|was) (?:\w+ )?(?:seen|admitted|referred|reviewed|discharged)\b", re.I)
_PRESENTS = re.compile(r"\b(?:presents?|presenting|admitted|comes? in|attends?)\b", re.I)
# Cues strong enough to name the problem at hand in any sentence, not only the first.
_AT_HAND_LATER = re.compile(r"\b(?:presents?|presenting|admitted|referred|newly|new diagnosis of|diagnosed|found|"
                            r"now has|today (?:with|for))\b", re.I)


@lru_cache(maxsize=4096)  # pure, and asked again for every passage of a report
def _matches(text: str, measured: bool) -> tuple[tuple[int, int, str, str], ...]:
    """(start, end, condition, "yes" | "no" | "either") for every mention, in text order."""
    out = []
    for cond, pattern in _PATTERNS.items():
        other = _other_form(cond, text)
        for m in pattern.finditer(text):
            if other and not _OTHER_FORMS[cond][1].match(m.group(0)):
                continue  # "the diabetes clinic" of a patient with type 1 diabetes says nothing of type 2
            if _EITHER.search(scope.before(text, m.start(), scope.CONJUNCT)):
                state = "either"
            elif scope.negated(scope.before(text, m.start(), scope.ASSERTION)) or scope.denied_after(text, m.end()):
                state = "no"
            else:
                state = "yes"
            out.append((m.start(), m.end(), cond, state))
    if measured:  # numbers a case states: LVEF 30% is HFrEF, BMI 34 is obesity
        found = _findings(text)
        for cond, rx, rule in _NUMBERS:
            parent = PARENT.get(cond)
            if rule.get("only_with_parent") and not (  # a normal LVEF is HFpEF only in a patient with heart failure
                    _PATTERNS[parent].search(text) or _PATTERNS[cond].search(text) or any(c == parent for *_, c, _ in found)):
                continue
            for m in rx.finditer(text):
                if _beyond(rule, _number(m)):
                    out += [(m.start(), m.end(), cond, "yes")] + ([(m.start(), m.end(), parent, "yes")] if parent else [])
        out += found
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
# How far a history cue reaches ("history of X", "2 years after an X", not "presents after the sudden
# onset of an acute X") and an ended episode's ("treated for X last month"): measured.
HISTORY_WORDS, ENDED_WORDS, ENDED_AFTER_WORDS = 5, 3, 12
_HISTORY = re.compile(r"\b(?:after|history of|previous|prior|past|post|s/p|status post)\b", re.I)
_YEARS_AGO = re.compile(r"\b(?:in (?:19|20)\d\d|\d+ years ago)\b")  # "ICU admission ... in 2017"
# An episode that has ended: "treated for pneumonia last month", "pneumonia ..., which fully resolved"
_ENDED_BEFORE = re.compile(r"\b(?:treated for|recovered from|after|had|completed \w+ for)\b", re.I)
_ENDED_AFTER = re.compile(r"\b(?:(?:which|that|and) (?:has |had )?(?:fully |completely )?(?:resolved|cleared)|"
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
            before = scope.before(case, start, scope.EPISODE)
            was = scope.near(_HISTORY, before, HISTORY_WORDS) or _YEARS_AGO.search(scope.after(case, end, scope.ITEM)) or \
                cond in ACUTE and (scope.near(_ENDED_BEFORE, before, ENDED_WORDS) or
                                   scope.soon(_ENDED_AFTER, case, end, ENDED_AFTER_WORDS))
            (past if was else now).add(cond)
    return frozenset(now), frozenset(past - now)


def stated(case: str) -> list[str]:
    """The problems a case names in words or shows by diagnostic findings (an irregularly irregular
    pulse, an LVEF of 35%), not those only implied by a number such as eGFR 58. Softer findings (BP
    readings, HbA1c, NT-proBNP) speak only when the case names no current problem."""
    now, past = _named(case)
    found = {cond for _, _, cond, _ in _findings(case)}
    classes = {cond for _, _, cond, _ in _matches(case, measured=True) if cond in PARENT}  # an LVEF of 35%
    named = now | past | classes | (found & STRONG)
    if not now - BACKGROUND:
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
    for child in [c for c in out if c in PARENT]:  # heart failure is dropped when its class is known
        if PARENT[child] in out:
            out.remove(PARENT[child])
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
                    cond in out + tuple(PARENT.values()) and cond not in SETTINGS and
                    (scope.near(cue, scope.before(sentence, start), CUE_WORDS) or verb and start > verb.end())), None)
        if hit in PARENT.values():  # "seen today for heart failure with preserved ejection fraction": its class
            hit = next((c for c in out if PARENT.get(c) == hit or c == hit), None)
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
OR_WORDS = 2  # "X or established Y": how many words may stand between "or" and the next condition


def _or(between: str) -> bool:
    """Whether the words between two conditions offer the second as an alternative to the first."""
    return bool(re.match(rf"^[\s,)]*(?:and/)?or\s+(?:\w+\s+){{0,{OR_WORDS}}}$", between, re.I))


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
        prev_or = i > 0 and _or(text[merged[i - 1][1]: a])
        if prev_or and groups:
            groups[-1].add(c)
            continue
        nxt = merged[i + 1][0] if i + 1 < len(merged) else len(text)
        (optional if _OR_OTHER.match(text[b:]) and not _or(text[b: nxt]) else groups).append({c})
    groups = groups or optional  # "a BMI of 30 or more, or 27 or more with ...": obesity all the same
    classes = {PARENT[c] for g in groups for c in g if c in PARENT}  # "HFpEF (heart failure with ...)": the class
    groups = [g for g in groups if not (len(g) == 1 and g <= classes)]
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
LIMIT = re.compile(rf"(?:{_MEASURE_NAMES})[^.;()\d]*?(?P<op>above|over|below|under|less than|more than|greater "
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
