"""Does a retrieved passage support a sentence? A transparent lexical check, shown in the app (`HOW`).
Simple on purpose: a reader can redo it by hand."""
from __future__ import annotations

import re

STOP = set("""about after also among and been before being both could does down each either from have
having into more most much must once only other over same should some such than that their them then
there these they this those through under until upon very were what when where which while with would
your will patient patients daily once twice start started continue plan recommend recommended consider
given mg/dl mmol/l""".split())
RECOMMEND = re.compile(r"\b(start|add|begin|initiate|switch|continue|consider|recommend|prescribe|use|"
                       r"give|increase|titrate|stop|avoid|refer|treat|offer)\w*\b", re.I)
THRESHOLD = 0.6
HOW = ("A sentence (up to a full stop, ! or ?; a semicolon does not end one) is supported by a passage when "
       "(1) every dose or number it states (e.g. \"10 mg\") appears in the passage and (2) at least 60% of its "
       "content words (lower-cased, 4+ letters, not stop words or SOAP labels) appear in the passage.")


def sentences(text: str) -> list[str]:
    text = re.sub(r"^(Subjective|Objective|Assessment|Plan):\s*", "", text, flags=re.M)
    text = re.sub(r"([.!?])\s*((?:\[\d+\]\s*)+)", r" \2\1 ", text)  # "dose. [1]" cites that sentence
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if len(p.strip()) > 3]


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9\-/]{3,}", text.lower()) if w not in STOP}


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", re.sub(r"\[\d+\]", "", text)))


def is_recommendation(sentence: str) -> bool:
    return bool(RECOMMEND.search(sentence))


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words found in the passage; 0 if a number is missing."""
    clean = re.sub(r"\[\d+\]", "", sentence)
    if numbers(clean) - numbers(passage):
        return 0.0
    mine = words(clean)
    return len(mine & words(passage)) / len(mine) if mine else 0.0


def check(text: str, passages: list[str]) -> list[dict]:
    """For each recommendation sentence of the Plan (the whole text if it has no Plan): the best
    passage (1-based), its score, supported or not."""
    rows = []
    plan = re.split(r"^Plan:", text, maxsplit=1, flags=re.M)
    for s in sentences(plan[-1]):
        if not is_recommendation(s):
            continue
        scores = [support(s, p) for p in passages]
        best = max(range(len(scores)), key=scores.__getitem__) if scores else None
        score = scores[best] if scores else 0.0
        rows.append({"sentence": s, "passage": best + 1 if best is not None else None,
                     "score": round(score, 2), "supported": score >= THRESHOLD})
    return rows
