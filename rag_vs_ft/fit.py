"""Does a recommendation's population fit this patient? Three answers, not two.

    contradicted  the case rules the population out: an age outside its range, the other sex, no
                  pregnancy where it needs one, a treatment the patient has not had (or has had, where
                  it needs none), a number on the wrong side of its threshold, a condition the case
                  negates or a sibling concept (type 1 where it needs type 2)
    fits          every condition the population names is one the case has
    unknown       the population names something this reader cannot check: it neither fits nor
                  vetoes, so retrieval's ranking decides

Only a contradiction vetoes a document. Any topic a user uploads reads the same way: the rules below
are about people (age, sex, pregnancy, what they take and have tried, their numbers), not about
conditions; the condition vocabulary lives in `concepts` and its data, the drug classes in
`data/drug_classes.json`.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from . import concepts, scope

FITS, UNKNOWN, CONTRADICTED = "fits", "unknown", "contradicted"
DATA = Path(__file__).parent / "data"

# ---------------------------------------------------------------- whom a recommendation is for

_WHO = r"adults?|patients?|people|persons?|individuals?|children|child|adolescents?|teenagers?|infants?|babies|" \
       r"women|woman|men|man|girls?|boys?|those|anyone|mothers?|newborns?"
_WHO_RX = re.compile(rf"\b(?:{_WHO})\b", re.I)
_DO = re.compile(r"(?<![\w-])(?:should|start|starting|give|giving|offer|offering|add|adding|use(?! disorder)|using|"
                 r"consider|prescribe|treat|take|continue|switch|initiate|begin|aim|target|anticoagulate|stop|avoid|"
                 r"do not|screen|refer|vaccinate|administer|titrate|is recommended|are recommended|recommend\w*|is an? "
                 r"(?:reasonable|appropriate|preferred|option|alternative)|receive|be offered|be given|be treated)"
                 r"(?![\w-])", re.I)
_OUTCOME = re.compile(r"\b(?:to (?:reduce|lower|slow|cut|improve|prevent|achieve|produce)|reduces|reduced|lowers|"
                      r"prevents|improves|halved)\b", re.I)
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


_RELATIVE = r"\b(?:who|whose|which|that|cannot|can't|unable to|not|able to|to)\b(?:\s+\w+){{0,{}}}\s*$"
RELATIVE_WORDS = 2  # "who cannot take": a verb this close after a relative word describes the patient (measured)


def _action(sentence: str) -> re.Match | None:
    """The recommendation's own verb: "start" in "For adults who cannot take a statin, start ...",
    not "take" in the relative clause that describes them."""
    relative = re.compile(_RELATIVE.format(RELATIVE_WORDS), re.I)
    return next((m for m in _DO.finditer(sentence) if not relative.search(sentence[: m.start()])), None)


@lru_cache(maxsize=4096)
def population(recommendation: str) -> str:
    """The words that say whom a recommendation is for, in any phrasing: "For adults with gout who
    have had two flares, start ..." and "Adults aged 18 to 65 with migraine ... should be offered"
    (the words before the action), "Offer naltrexone to adults with alcohol use disorder who have
    stopped drinking" (the words after it), never its stated benefit. The sentence read is the first
    that both names people and recommends something (a conclusion often opens with a result)."""
    sentences = _SENTENCES.split(" ".join(recommendation.split())) or [""]
    sentence = next((s for s in sentences if _WHO_RX.search(s) and _action(s)), sentences[0])
    m = _OUTCOME.search(sentence)
    sentence = sentence[: m.start()] if m else sentence
    act, who = _action(sentence), _WHO_RX.search(sentence)
    before = sentence[: act.start()].strip(" ,;:") if act else ""
    if act and (_WHO_RX.search(before) or concepts.mentions(before, measured=False)):
        return before  # "For adults with X who Y, start ...", "After MI or other ASCVD, prescribe ..."
    if who:  # "Offer X to adults with Y who Z, to reduce ...": the people, up to the clause's end
        start = sentence.rfind(" ", 0, max(0, who.start() - 1)) if not act else who.start()
        if act and act.end() <= who.start() and concepts.mentions(sentence[act.end(): who.start()], measured=False):
            start = act.end()  # "Start X patients in group E on ...": the condition before the people
        return re.split(r",|;|\bto (?:below|under|above|a |an |the )|\busing\b", sentence[max(0, start):])[0].strip(" .")
    return sentence.strip(" ,;:.")


# ---------------------------------------------------------------- the patient: age, sex, pregnancy

_AGE = re.compile(r"\b(\d{1,3})[- ](year|month|week|day)s?[- ]old\b|\baged (\d{1,3})\b|"
                  r"(?<!since )(?<!from )(?<!at )(?<!by )\bage (\d{1,3})\b", re.I)  # not "X since age 8"
# A letter's "Mr Farhan Qureshi, 41, taxi driver": a title or a first name, the name, the age between commas
_NAMED_AGE = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Master)\.? |\b[A-Z][a-z'-]+ )(?:[A-Z][\w'-]+ )*[A-Z][\w'-]+, "
                        r"(\d{1,3}),")  # "Tyler Bramwell, 14, ..."; not "Out-of-hours GP, 21:30"


@lru_cache(maxsize=4096)
def age(case: str) -> float | None:
    """The patient's age in years (the first one the case states: "a 4-year-old boy ... his 15-month-old
    sister" is 4; "Mr Farhan Qureshi, 41, taxi driver ... two children aged 6 and 9" is 41), or None."""
    m = min((m for rx in (_AGE, _NAMED_AGE) if (m := rx.search(case))), key=lambda m: m.start(), default=None)
    if not m:
        return None
    if m.re is _NAMED_AGE:
        return float(m.group(1))
    if m.group(1):
        n, unit = int(m.group(1)), m.group(2).lower()
        return n / {"year": 1, "month": 12, "week": 52, "day": 365}[unit]
    return float(m.group(3) or m.group(4))


_FEMALE = re.compile(r"\b(?:woman|women|female|girl|lady|mother|she|her|pregnant|postmenopausal)\b", re.I)
_MALE = re.compile(r"\b(?:man|men|male|boy|gentleman|he|his|him)\b", re.I)
_SEX_WORD = re.compile(r"\b(woman|female|girl|lady|man|male|boy|gentleman)\b", re.I)


@lru_cache(maxsize=4096)
def sex(case: str) -> str | None:
    """"female", "male" or None: the first word that names the patient's sex ("a 52-year-old woman"),
    else the pronouns the case uses most."""
    m = _SEX_WORD.search(_SENTENCES.split(case, 1)[0])  # the sentence that introduces the patient
    if m:
        return "female" if m.group(1).lower() in ("woman", "female", "girl", "lady") else "male"
    she = len(re.findall(r"\b(?:she|her)\b", case, re.I))
    he = len(re.findall(r"\b(?:he|his|him)\b", case, re.I))
    return "female" if she > he else "male" if he > she else None


_PREGNANT = re.compile(r"\b(?:pregnant|pregnancy|gestation\w*|weeks' gestation|antenatal|primigravida|gravida|"
                       r"G\dP\d)\b", re.I)
_NOT_PREGNANT = re.compile(r"\b(?:not|non-|nor|no longer)\s*pregnant\b|\bnon-pregnant\b|\bpregnancy test "
                           r"(?:is |was )?negative\b|\bnegative pregnancy test\b", re.I)


def pregnant(case: str) -> bool | None:
    """True when the case says the patient is pregnant, False when it says not (or the patient is male),
    None when it does not say."""
    if sex(case) == "male" or _NOT_PREGNANT.search(case):
        return False
    for m in _PREGNANT.finditer(case):
        if not re.search(r"\b(?:become|becoming|planning|plans?|could|may|future|before|previous|prior|last|"
                         r"earlier|after)\b", scope.before(case, m.start(), scope.ASSERTION), re.I):
            return True
    return None


# ---------------------------------------------------------------- the population's requirements

_RANGE = re.compile(r"\b(?:aged|ages|age|from)\s+(\d{1,2})\s*(?:years?\s*)?(?:-|–|to|through)\s*(\d{1,3})\b|"
                    r"\b(\d{1,2})\s*(?:-|–|to)\s*(\d{1,3})\s*(?:years?|yrs?)(?:[- ]old)?\b", re.I)
_FLOOR = re.compile(r"\b(?:aged|age)\s+(\d{1,2})\s*(?:years?|yrs?)?\s*(?:(?:of age\s*)?(?:or|and)\s*(?:older|over|above|"
                    r"more)|\+)|"
                    r"\b(\d{1,2})\s*(?:years?|yrs?)\s*(?:of age\s*)?(?:(?:or|and)\s*(?:older|over|above|more)|\+)|"
                    r"\b(?:aged|age)\s+(?:older than |over |above |at least )?(\d{1,2})(?:\s*years?)?\b"
                    r"(?!\s*(?:-|–|to)\s*\d)|"
                    r"\b(?:older than|over|above|at least)\s+(\d{1,2})\s*years\b",
                    re.I)
_NOT_YEARS = r"(?!\s*(?:kg|kilograms?|g|mg|mcg|µg|ml|mL|L|cm|mm|%|lb|pounds?|weeks?|days?|hours?|months?)\b)"  # "under 20 kg"
_CEILING = re.compile(rf"\b(?:under|younger than|below the age of|less than)\s+(\d{{1,2}})(?:\s*years?)?\b{_NOT_YEARS}|"
                      r"\b(\d{1,2})\s*(?:years?)?\s*(?:or|and)\s*(?:younger|under)\b", re.I)
_GROUPS = {"adult": (18, 200), "child": (0, 17.99), "adolescent": (12, 17.99), "infant": (0, 1.99),
           "newborn": (0, 0.1), "older adult": (65, 200)}
_GROUP_WORDS = re.compile(r"\b(older adults?|adults?|children|child|paediatric|pediatric|adolescents?|teenagers?|"
                          r"infants?|babies|newborns?)\b", re.I)


def ages(who: str) -> tuple[float, float] | None:
    """The age range a population states ("aged 2 to 12 years", "8 years and older", "under 18",
    "adults", "adolescents"), or None. Where it names several groups ("adults and adolescents") it
    takes their union."""
    for m in _RANGE.finditer(who):
        low, high = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if int(low) < int(high) <= 120:
            return float(low), float(high) + 0.99
    low = next((float(next(g for g in m.groups() if g)) for m in _FLOOR.finditer(who) if any(m.groups())), None)
    high = next((float(m.group(1) or m.group(2)) - 0.01 for m in _CEILING.finditer(who)), None)
    if low is not None or high is not None:
        return (low or 0.0), (high if high is not None else 200.0)
    spans = []
    for m in _GROUP_WORDS.finditer(who):
        word = m.group(1).lower().rstrip("s")
        word = {"children": "child", "paediatric": "child", "pediatric": "child", "teenager": "adolescent",
                "babie": "infant", "older adult": "older adult"}.get(m.group(1).lower(), word)
        word = "child" if word == "children" else word
        if word in _GROUPS:
            spans.append(_GROUPS[word])
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


def sexes(who: str) -> str | None:
    """"female" or "male" when the population names people of one sex only ("postmenopausal women",
    "women and girls who could become pregnant", "men with prostate cancer")."""
    words = re.sub(r"\bwomen who have sex with men|\bmen who have sex with men|\bMSM\b", "", who)
    female = re.search(r"\b(?:women|woman|girls?|females?|mothers?|postmenopausal|pregnant)\b", words, re.I)
    male = re.search(r"\b(?:men|man|boys?|males?)\b", words, re.I)
    if re.search(r"\bmen who have sex with men\b|\bMSM\b", who):
        male = male or re.search(r"men", who)
    return "female" if female and not male else "male" if male and not female else None


def needs_pregnancy(who: str) -> bool | None:
    """True for a population of pregnant people, False for a non-pregnant one, None when it says neither."""
    if re.search(r"\bnon-?pregnant\b|\bnot pregnant\b", who, re.I):
        return False
    if re.search(r"\b(?:pregnant|pregnancy|gestational|antenatal)\b", who, re.I) and not \
            any(re.search(r"\b(?:become|becoming|could|can|able to|planning)\b", scope.before(who, m.start()), re.I)
                for m in re.finditer(r"\bpregnan", who, re.I)):
        return True
    return None


# ---------------------------------------------------------------- what the patient takes or has tried

@lru_cache(maxsize=1)
def drug_classes() -> dict[str, list[str]]:
    """Drug classes and their members (names or name stems), a kept vocabulary in data, not code."""
    return {k.lower(): [m.lower() for m in v] for k, v in
            json.loads((DATA / "drug_classes.json").read_text())["classes"].items()}


_NAIVE = re.compile(r"\b(?:(?:who )?(?:have|has) not (?:yet )?(?:taken|tried|received|had|been (?:treated|given))|"
                    r"(?:who )?(?:have|has) never (?:taken|tried|received|had)|not (?:already |previously )?"
                    r"(?:on|taking|treated with|receiving)|without (?:previous|prior)|naive to|not previously "
                    r"(?:treated|exposed))\b\s+(?:with\s+|to\s+)?(?P<what>[^,;.()]{3,80})", re.I)
_TRIED = re.compile(r"\b(?:despite|after (?:failure of|failing|failed)|who (?:have |has )?failed|(?:not|inadequately) "
                    r"(?:responded|responding) to|responded inadequately to|(?:who )?(?:could|can) not tolerate|"
                    r"(?:who )?(?:have|has) been (?:taking|treated with|on)|(?:who )?(?:are|is) (?:taking|on)|"
                    r"inadequate (?:response|control) (?:to|with|on)|(?:inadequately "
                    r"controlled|uncontrolled|still [\w ]+?) (?:on|with|despite)|already (?:on|taking|"
                    r"receiving)|refractory to|(?:that |which )?(?:persists?|persisting|continues?|continuing) (?:after|despite)|"
                    r"intoleran\w+ (?:of|to)|could not tolerate|(?:who have|who are|while) "
                    r"(?:been )?(?:taking|on) (?:a |an )?stable)\b[\s,]+(?:or who could not tolerate,?\s*)?"
                    r"(?P<what>[^;.]{3,80})", re.I)  # read past brackets: "transmucosal (sublingual) buprenorphine"
_FILLER = re.compile(r"\b(?:at least|one|two|three|four|\d+|or more|adequate|adequately|dosed|doses?|trials?|"
                     r"courses?|of|and|or|the|a|an|any|other|prior|previous|standard|conventional|first-line|"
                     r"treatments?|therapy|therapies|drugs?|medicines?|medications?|agents?|before|maximally|"
                     r"tolerated|for|at|in|with|their|current|daily|oral)\b", re.I)
_COUNT = re.compile(r"\b(?:at least )?(two|three|four|2|3|4)\b", re.I)
_NUM = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}


def _members(what: str) -> tuple[list[str], int]:
    """The names that count as having taken `what` ("a TNF inhibitor": adalimumab, etanercept, ...;
    "methotrexate": itself), and how many distinct ones it asks for ("two antidepressants": 2)."""
    text = what.lower()
    names: list[str] = []
    for cls, members in drug_classes().items():
        if re.search(rf"\b{re.escape(cls)}s?\b", text):
            names += members + [cls]
    words = [w for w in re.findall(r"[a-z][a-z-]{3,}", _FILLER.sub(" ", text))]
    if not names:
        names = words
    count = _COUNT.search(text)
    return names, _NUM[count.group(1).lower()] if count and names != words else 1


def _taken(case: str, names: list[str]) -> tuple[set[str], bool]:
    """(names the case says the patient takes or took, whether any is stated as never taken)."""
    low = case.lower()
    found, denied = set(), False
    for name in names:
        for m in re.finditer(rf"\b{re.escape(name)}\w*", low):
            if scope.negated(scope.before(low, m.start(), scope.ASSERTION)):
                denied = True
            else:
                found.add(name)
    return found, denied


_NEGATED_BEFORE = re.compile(r"\b(?:not|never)\s+$", re.I)
_MEDS = re.compile(r"\b(?:medications?|medicines?|takes|taking|treated with|on)\b", re.I)


def treatments(who: str, case: str) -> str | None:
    """Why the population's treatment history does not fit the case, or None: "who have not taken a
    urate-lowering drug" for a patient on allopurinol; "despite two antidepressants" for one who tried
    one; "on triple inhaled therapy" for one on a LAMA alone."""
    for m in _NAIVE.finditer(who):
        names, _ = _members(m.group("what"))
        taken, _ = _taken(case, names)
        if taken and any(n in drug_classes() or len(names) < 6 for n in names):
            return f"the population has not taken {m.group('what').strip()}; the case has ({', '.join(sorted(taken))})"
    for m in _TRIED.finditer(who):
        if _NEGATED_BEFORE.search(who, 0, m.start()):  # "not already on": naive, not tried
            continue
        what = re.sub(r"\([^)]*(?:\)|$)", " ", m.group("what"))  # a bracket explains; it names no treatment
        what = re.split(r",\s*(?:who|and|or|to|with)\b|\s(?:who|to reduce|and have)\b", what)[0]
        names, count = _members(what)
        if not names:
            continue
        taken, denied = _taken(case, names)
        if len(taken) < count and (denied or _MEDS.search(case)):
            return f"the population has tried {what.strip()}; the case shows {len(taken)}"
    return None


# ---------------------------------------------------------------- numbers any population can state

_NAME = r"[A-Za-z][A-Za-z0-9-]{1,14}(?: [A-Za-z][A-Za-z0-9-]{1,14})?"
_THRESHOLD = re.compile(rf"\b(?P<name>{_NAME})(?: (?:of|level|count|score|concentration))?\s+(?:(?P<op>above|over|below|"
                        r"under|less than|more than|greater than|at least|>=|≥|<=|≤|>|<)\s*)?(?P<n>\d+(?:\.\d+)?)"
                        r"\s*(?:%|(?!or\b)[a-zA-Zµ/.]+(?:/[\w.]+)?)?(?:\s*\([^)]*\))?\s*"
                        r"(?P<tail>or (?:more|higher|above|greater|less|lower|below))?",
                        re.I)
_SKIP_NAMES = re.compile(r"^(?:aged?|ages|years?|from|to|than|least|for|over|under|and|or|with|but|"
                         r"the|a|an|of|in|past|last|within|after|every|each|up|about|more|less|limit|than|is|are|"
                         r"was|be|been|have|has|had|who|which|that|this|these|those|no|not|at|by|on)$", re.I)


def direction(word: str) -> str:
    """">=" for "above", "or more", "at least", "no less than" ...; "<=" for "below", "or less", "no more
    than", "up to" ..."""
    up = any(w in word for w in ("above", "over", "more", "greater", "least", ">", "≥", "higher"))
    return ">=" if up != bool(re.match(r"(?:no|not) ", word)) else "<="


def thresholds(who: str) -> list[tuple[str, str, float]]:
    """(measure, ">=" or "<=", value) for each threshold a population states about a named measure:
    "an eGFR of 45 or more", "TSH below 20 mIU/L", "PASI above 10", a range ("IGA 2 to 3") and a share
    ("no more than 20% of body surface area"). A threshold offered as one alternative in its clause
    ("cardiovascular disease or a 10-year risk of 10% or more") decides nothing."""
    out = []
    for m in _THRESHOLD.finditer(who):
        word = (m.group("op") or m.group("tail") or "").lower()
        name = m.group("name").split()[-1]
        if word and not (_SKIP_NAMES.match(name) or _KNOWN_MEASURES.match(name) or _alternative(who, m)):
            out.append((name, direction(word), float(m.group("n"))))
    for m in _RANGE_OF.finditer(who):
        name = m.group("name").split()[-1]
        if not (_SKIP_NAMES.match(name) or _KNOWN_MEASURES.match(name) or _alternative(who, m)):
            out += [(name, ">=", float(m.group("lo"))), (name, "<=", float(m.group("hi")))]
    for m in _SHARE.finditer(who):
        if not _alternative(who, m):
            out.append((m.group("name"), direction(m.group("op").lower()), float(m.group("n"))))
    return out


def _alternative(who: str, m: re.Match) -> bool:
    clause = scope.before(who, m.start()) + who[m.start(): m.end()] + scope.after(who, m.end())
    return bool(_ALTERNATIVES.search(_OR_MORE.sub("", clause)))


# "IGA 2 to 3", "PASI 10-20"; "no more than 20% of body surface area", "at least 10% of the skin"
_RANGE_OF = re.compile(rf"\b(?P<name>{_NAME})\s+(?P<lo>\d+(?:\.\d+)?)\s*(?:to|-|–)\s*(?P<hi>\d+(?:\.\d+)?)\b(?!\s*(?:%|[a-zA-Zµ]))",
                       re.I)
_SHARE = re.compile(r"\b(?P<op>no more than|not more than|up to|at most|at least|no less than|more than|less than|"
                    r"over|under|above|below)\s+(?P<n>\d+(?:\.\d+)?)\s*% of (?:the |their |his |her )?"
                    r"(?P<name>[a-z][a-z -]*?[a-z])(?=\s*(?:[,;.()]|\b(?:who|whose|which|that|with|and|or|in|for)\b|$))",
                    re.I)


_OR_MORE = re.compile(r"\bor (?:more|less|higher|lower|above|below|older|younger|greater)\b", re.I)
_ALTERNATIVES = re.compile(r"\bor\b", re.I)  # "CVD or a 10-year risk of 10% or more": no single threshold decides
# Measures the condition vocabulary reads itself (an LVEF decides HFrEF or HFpEF; eGFR, BMI, LDL ... in
# `concepts.outside`, with their units), so they are not read twice here.
_KNOWN_MEASURES = re.compile(r"^(?:LVEF|EF|ejection|fraction|eGFR|UACR|ACR|BMI|LDL|LDL-C|cholesterol|HbA1c|A1c|"
                             r"NT-proBNP|eosinophils?|eos|potassium|K)$", re.I)


_WEIGHT = re.compile(r"\b(?:weight|weighs|weighing)[^\d.;]*?(\d+(?:\.\d+)?)\s*kg\b", re.I)  # its first number


def value(case: str, name: str) -> float | None:
    """The first value the case states for a named measure ("TSH 7.8", "eGFR of 52", "PASI: 13"; a
    weight in kg for "weighing 30 kg or more")."""
    if name.lower() in ("weighing", "weight", "weighs"):
        m = _WEIGHT.search(case)
        return float(m.group(1)) if m else None
    if m := re.search(rf"(\d+(?:\.\d+)?)\s*% of (?:the |their |his |her )?{re.escape(name)}\b", case, re.I):
        return float(m.group(1))  # a share: "38% of body surface area"
    m = re.search(rf"\b{re.escape(name)}\b(?:\s*(?:of|is|was|:|=|now|level|count|score))*\s*(\d+(?:\.\d+)?)", case, re.I)
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- the conditions of the vocabulary

_OR_LIMIT = re.compile(r"\s*,?\s*or\s+(\d+(?:\.\d+)?)\s*(?:[a-zA-Z/%µ]+\s*)?or (?:more|higher|above|less|lower|below)")


def limits(text: str) -> list[tuple[str, str, float]]:
    """(measure, ">=" or "<=", value) for each threshold a population states; where it offers two
    ("BMI 30 or more, or 27 or more with a weight-related condition") the looser one."""
    found: dict[tuple[str, str], float] = {}
    for m in concepts.LIMIT.finditer(text):
        word = (m.group("op") or m.group("tail") or "").lower()
        if not word:
            continue
        op = direction(word)
        other = _OR_LIMIT.match(text, m.end())
        ns = [concepts.mg_dl(m, float(m.group("n")))] + ([concepts.mg_dl(m, float(other.group(1)))] if other else [])
        key = (concepts.measure(m), op)
        found[key] = min([*ns, found.get(key, ns[0])]) if op == ">=" else max([*ns, found.get(key, ns[0])])
    return [(k, op, n) for (k, op), n in found.items()]


def outside(recommendation: str, case: str) -> bool:
    """The case states a number on the wrong side of a threshold the recommendation's population sets,
    its age included ("adults aged 60-80" for a 54-year-old)."""
    have, who = concepts.values(case), concepts.population(recommendation)
    years, span = age(case), ages(who)
    if years is not None and span and not span[0] <= years <= span[1]:
        return True
    return any(k in have and (have[k] < n if op == ">=" else have[k] > n) for k, op, n in limits(who))


def applicability(recommendation: str, case: str) -> float:
    """How well a recommendation's population matches the patient, 0..1.

    0 when the population needs a condition the case rules out ("no diabetes"), excludes one the
    case has ("without diabetes"), names the other ejection-fraction class, or sets a threshold the
    case's own number misses ("eosinophils of 300 or more", the case 260); otherwise the share
    of the population's conditions the case has; 0 when it names none (`verdict` calls that unknown)."""
    if ruled_out(recommendation, case):
        return 0.0
    groups, has = concepts.needs_groups(recommendation), _has(recommendation, case)
    return sum(bool(g & has) for g in groups) / len(groups) if groups else 0.0


def _has(recommendation: str, case: str) -> set[str]:
    """The vocabulary's conditions the case has, with what they imply, and those a population's own
    threshold makes ("a BMI of 27 or more": its own number decides; "30, or 27 with ...": the first)."""
    has = set(concepts.problems(case))
    for c in list(has):
        has |= concepts.IMPLIES.get(c, set())
    first: dict[str, float] = {}
    for m in concepts.LIMIT.finditer(concepts.population(recommendation)):
        first.setdefault(concepts.measure(m), float(m.group("n")))
    have = concepts.values(case)
    has |= {cond for name, cond in concepts.MEASURED.items() if name in first and have.get(name, 0) >= first[name]}
    return has


def ruled_out(recommendation: str, case: str) -> bool:
    """Whether the case rules out a condition the population needs, has one it excludes, falls outside
    its numbers, or has the condition's conflicting sibling: a contradiction, not merely a condition the
    case does not mention."""
    has, negated = _has(recommendation, case), concepts.negated(case)
    groups, exclude = concepts.needs_groups(recommendation), concepts.excludes(recommendation)
    return any(g <= negated for g in groups) or bool(exclude & has) or bool(outside(recommendation, case)) or \
        any(all(concepts.CONFLICTS.get(c) in has and c not in has for c in g) for g in groups)


# ---------------------------------------------------------------- the verdict

def contradictions(recommendation: str, case: str) -> list[str]:
    """Every way the case rules the recommendation's population out, in words a person can check."""
    who, out = population(recommendation), []
    years, span = age(case), ages(population(recommendation))
    if years is not None and span and not span[0] <= years <= span[1]:
        out.append(f"age {years:g} is outside {span[0]:g}-{span[1]:g}")
    need, have = sexes(who), sex(case)
    if need and have and need != have:
        out.append(f"the population is {need}; the patient is {have}")
    wants, is_pregnant = needs_pregnancy(who), pregnant(case)
    if wants is True and not is_pregnant:
        out.append("the population is pregnant; the case is not")
    if wants is False and is_pregnant:
        out.append("the population is not pregnant; the patient is")
    for name, op, n in thresholds(who):
        v = value(case, name)
        if v is not None and (v < n if op == ">=" else v > n):
            out.append(f"{name} {v:g} is not {op} {n:g}")
    have, sides = concepts.values(case), {(k, op) for k, op, _ in limits(recommendation)}
    for k, op, n in limits(who):  # the measures the vocabulary reads (eGFR, LDL, BMI ...), on any topic
        if (k, "<=" if op == ">=" else ">=") in sides:
            continue  # the recommendation says what to do on the other side too ("if eGFR is below 45, ...")
        if k in have and (have[k] < n if op == ">=" else have[k] > n):
            out.append(f"{k} {have[k]:g} is not {op} {n:g}")
    if reason := treatments(who, case):
        out.append(reason)
    if reason := too_late(recommendation, case):
        out.append(reason)
    out += [f"the population has {t}; the case says it has not" for t in denied_terms(who, case)]
    return out


_UNIT_HOURS = {"minute": 1 / 60, "hour": 1, "day": 24, "week": 168, "month": 730}
_COUNT_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
_SPAN = r"(?P<n>\d+(?:\.\d+)?|" + "|".join(_COUNT_WORDS) + r")[\s-]+(?P<unit>minute|hour|day|week|month)s?"
_WINDOW = re.compile(rf"\bwithin {_SPAN} (?:of|after|from) (?:the |a |their |symptom |known )*(?:\w+ )?"
                     r"(?:onset|injury|symptoms?|exposure|the fall|bite|rash|start)\b", re.I)
_ELAPSED = re.compile(rf"\b{_SPAN} (?:ago|earlier|after|before (?:arrival|presentation|admission))\b", re.I)
_ONSET_CUE = re.compile(r"\b(?:noticed|began|begun|started|onset|woke|waking|developed|fell|fall|injur\w*|bitten|"
                        r"exposed|exposure|symptoms?|rash|pain|since)\b", re.I)


def _hours(m: re.Match) -> float:
    n = m.group("n").lower()
    return float(_COUNT_WORDS.get(n, n) if n in _COUNT_WORDS else n) * _UNIT_HOURS[m.group("unit").lower()]


def too_late(recommendation: str, case: str) -> str | None:
    """A recommendation for people seen within a time of onset ("within 4.5 hours of symptom onset",
    "within two weeks of onset", "within 3 hours of injury") against the longest time since onset the
    case states in a sentence about the onset ("noticed on waking 3 weeks ago", "4.5 hours after the
    fall"); an old event in a sentence about something else ("an MI 3 years ago") is not read."""
    window = _WINDOW.search(recommendation)
    if not window:
        return None
    elapsed = [_hours(m) for sentence in re.split(r"(?<=[.;])\s+", case) if _ONSET_CUE.search(sentence)
               for m in _ELAPSED.finditer(sentence)]
    if elapsed and max(elapsed) > _hours(window):
        return f"seen {max(elapsed):g} hours after onset; the population is within {_hours(window):g}"
    return None


_TERM = re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z][A-Z0-9-]{2,9}\b|(?<![\w-])[A-Z]{3,8}(?:-[A-Z]{2,8})*\b")  # markers and
# genes: BRCA1, HER2, EGFR; a compound is one term ("DWI-FLAIR mismatch" needs the mismatch, not FLAIR)
_GENERIC = set("adults adult patients patient people children women with without after before their about other "
               "least which whose those these there where while under years older younger more less than daily "
               "disease diseases condition conditions risk factor factors history treatment therapy therapies "
               "moderate severe mild active chronic acute early stable high-risk despite already still "
               "including especially previous prior current first second third standard usual given taking "
               "started control controlled symptoms episode episodes".split())


def denied_terms(who: str, case: str) -> list[str]:
    """Terms a population requires ("who carry a germline BRCA1 or BRCA2 variant") that the case
    mentions only as absent ("no pathogenic variant in BRCA1, BRCA2 or PALB2"). A term the population
    itself qualifies ("HER2-negative", "without diabetes") requires nothing. Only named markers are read
    (capitals with a digit, or an acronym): an everyday word such as "cardiovascular" is too often
    negated in one sense and required in another ("no cardiovascular disease" against "high
    cardiovascular risk")."""
    out = []
    for m in _TERM.finditer(who):
        term = m.group(0)
        if term.lower() in _GENERIC or re.match(r"[-\s]*(?:negative|naive|free)\b", who[m.end():], re.I) or \
                scope.negated(scope.before(who, m.start(), scope.ASSERTION)):
            continue
        mentions = [c for c in re.finditer(rf"\b{re.escape(term)}\b", case, re.I if term.islower() else 0)]
        if mentions and all(scope.negated(scope.before(case, c.start(), scope.ASSERTION)) or
                            scope.denied_after(case, c.end()) for c in mentions):
            out.append(term)
    return sorted(set(out))


def known(recommendation: str) -> bool:
    """Whether the population names a condition of the vocabulary (its topic is one the reader knows);
    examples in brackets do not count ("a cardiovascular risk factor (smoking, hypertension, ...)")."""
    return bool(concepts.needs_groups(re.sub(r"\([^)]*\)", "", population(recommendation))))


def verdict(recommendation: str, case: str) -> tuple[str, list[str]]:
    """(fits | unknown | contradicted, the reasons). The known conditions decide fits or contradicted
    (`concepts.applicability`); a population that names none of them is unknown unless the checks above
    rule it out."""
    reasons = contradictions(recommendation, case)
    if reasons:
        return CONTRADICTED, reasons
    if known(recommendation):  # whom it is for names known conditions (not only its dosing notes)
        score = applicability(recommendation, case)
        if score == 0 and ruled_out(recommendation, case):
            return CONTRADICTED, ["a condition the population needs is ruled out or conflicts with the case"]
        if score == 0:
            return UNKNOWN, ["the case does not state the population's conditions"]
        return (FITS, []) if score >= 1 else (UNKNOWN, ["the case shows only some of the population's conditions"])
    return UNKNOWN, []
