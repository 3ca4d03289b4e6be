"""What a cue governs: the clause it stands in, never a count of characters.

NegEx and ConText scope a cue ("no", "history of") from where it stands up to a termination term
("but", "however", "which", "except", ...) or the end of the sentence. The terms are negspacy's English
clinical termsets, a kept vocabulary. Case notes and populations add three boundaries: a semicolon or
colon (a case's lists), a relative pronoun that starts a new assertion ("adults without X who have
Y": Y is not negated), and a closed bracket, an aside that governs nothing after it ("X (eGFR 52, no
Y), Z") while the clause goes on around it ("admitted to ICU (10 hours ago) with severe X"). So a
long list ("no W, X, Y or Z") is read to its end, and a new clause is never read into the one before.
Where a cue governs only its object (a presenting verb, "history of"), `near` adds a distance in
words, measured on the development sets (`eval --plan-only --sweep`). Examples in words:
tests/test_concepts.py.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache

from negspacy.termsets import termset

_TERMS = termset("en_clinical").get_patterns()


def _any(terms) -> str:
    return "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))


BOUNDARY = re.compile(rf"[.;:!?](?=\s|$)|\b(?:{_any(_TERMS['termination'] + ['who', 'whose'])})\b", re.I)
SENTENCE = re.compile(r"[.;!?](?=\s|$)")
ITEM = re.compile(r"[.;:,](?=\s|$)|[()]")  # one item of a list: "..., an X 4 years ago and Y"
# NegEx's "versus" (a differential diagnosis) is left out: research compares treatments "versus
# placebo". Case notes also deny with "refused" and "nor".
NEGATION = re.compile(rf"(?<![\w-])(?:{_any(set(_TERMS['preceding_negations']) - {'versus'} | {'refused', 'refuses', 'nor'})})"
                      r"(?![\w-])", re.I)
_PSEUDO = re.compile(rf"\b(?:{_any(_TERMS['pseudo_negations'])})\b", re.I)  # "not only", "no further"
# After a mention: NegEx's following terms, less "free" (research writes "event-free survival").
_AFTER = set(_TERMS["following_negations"]) - {"free"} | {"ruled out", "excluded", "not detected", "negative", "absent"}
FOLLOWING = re.compile(rf"[^\w.;]*(?:(?:is|was|has been|had been|were) )?(?:{_any(_AFTER)})\b", re.I)


# Where an assertion ends inside a clause, as the readers ask for it. A negation ends at a new predicate
# ("no X and her BP is high", "on a drug with Y"); "with or without" is one cue. Family and risk cues end
# at a conjunction only ("her father has X"). History goes on past "and" ("history of X and Y") but not
# past a new predicate ("..., now has Z").
ASSERTION = re.compile(r"\b(?:and|but|with|has|on)\s+(?!or\b)(?=\w)", re.I)
CONJUNCT = re.compile(r"\b(?:and|but)\s+(?!or\b)(?=\w)", re.I)
EPISODE = re.compile(r"\b(?:but|with|has|now|on)\s+(?!or\b)(?=\w)", re.I)
_ASIDE = re.compile(r"\([^()]*\)")


@lru_cache(maxsize=4096)  # pure; every mention of a text asks
def _ends(text: str, extra: re.Pattern | None) -> tuple[list[int], list[int]]:
    """Where each clause boundary starts and ends in the text."""
    found = sorted((m.start(), m.end()) for rx in (BOUNDARY, extra) if rx for m in rx.finditer(text))
    return [a for a, _ in found], [b for _, b in found]


def before(text: str, start: int, extra: re.Pattern | None = None) -> str:
    """The clause before position `start`: from the last boundary (itself included, so "whose" and
    "who also has" stay readable as cues) up to it."""
    starts, ends = _ends(text, extra)
    i = bisect_right(ends, start)
    return _ASIDE.sub(lambda m: " " * len(m.group()), text[starts[i - 1] if i else 0: start])


def after(text: str, end: int, extra: re.Pattern | None = None) -> str:
    """The clause after position `end`: from it up to the next boundary."""
    starts, _ = _ends(text, extra)
    i = bisect_left(starts, end)
    return text[end: starts[i] if i < len(starts) else len(text)]


def near(cue: re.Pattern, clause: str, words: int) -> bool:
    """Whether the cue stands within `words` words of the clause's end: a verb governs its object
    ("presents with X"), not every problem its clause goes on to list."""
    return any(len(re.findall(r"\w+", clause[m.end():])) <= words for m in cue.finditer(clause))


def soon(cue: re.Pattern, text: str, end: int, words: int) -> bool:
    """Whether the cue follows position `end` within `words` words, in the same sentence: "X last
    month", "X, treated with a drug, which has resolved"."""
    stop = SENTENCE.search(text, end)
    rest = text[end: stop.start() if stop else len(text)]
    return any(len(re.findall(r"\w+", rest[: m.start()])) <= words for m in cue.finditer(rest))


def negated(clause: str) -> bool:
    """Whether a negation cue (not a pseudo-negation such as "not only") stands in the clause."""
    return bool(NEGATION.search(_PSEUDO.sub(" ", clause)))


def denied_after(text: str, end: int) -> bool:
    """Whether the words right after a mention deny it: "X was ruled out", "a marker not detected"."""
    return bool(FOLLOWING.match(text, end))
