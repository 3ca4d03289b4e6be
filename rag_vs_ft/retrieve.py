"""The read side of the research index: find the documents that apply to a case.

1. Candidates from two retrievers, for the whole case and for each problem it states (so an AF case
   that also mentions hypertension still asks about AF): dense (MiniLM in Chroma) and lexical (BM25,
   `bm25s`, over the same chunks; Chroma's local client has no lexical search).
2. Weighted reciprocal rank fusion per document; the problem the case states first weighs most. The
   whole case's own ranking is kept too: what the case is about, before its comorbidities add weight.
3. Whom each document's recommendation is for (`fit.verdict`: fits, unknown or contradicted), and
   the problem at hand: a known condition the case presents with, else the topic of the whole case's
   best document that the case does not contradict, else (when that document is about a known
   comorbidity) the topic its opening sentence ranks first among the whole case's best. Documents that
   fit it come first.

Each document is shown by its recommendation (practice point, conclusion, ...), the text a small
model reads best and the one the report copies.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from . import concepts, fit, index
from .config import Config

RRF_K = 60            # reciprocal rank fusion constant (Cormack et al.; LangChain's default)
DENSE_CHUNKS = 40     # chunks each dense query fetches before they are grouped by document
LEXICAL_CHUNKS = 100  # chunks each BM25 query fetches
PRIMARY_WEIGHT = 1.0  # weight of the whole-case query and of the problem stated first
OTHER_WEIGHT = 0.5    # weight of each further problem's query
POOL = 8              # fused documents whose population is checked
OWN_POOL = 3          # and the whole-case query's own best: comorbidities' queries must not push them out
LEAD = 6              # how far down the whole-case ranking the topic of a case is looked for (sweep: 6-10 alike)
KNOWN_TOP = 5         # a document this high for a known problem's own query is about that problem
TOPIC_SIMILARITY = 0.35  # least cosine of case and recommendation for a document to be the case's topic, chosen
                         # on dev3: every case's own upload passes; a case no document covers does not (tests)

SUMMARY_SECTIONS = ("practice point", "key point", "key message", "bottom line", "recommendation", "position",
                    "implications for practice", "conclusion", "interpretation", "summary")
_CUE = re.compile(r"\b(?:should|recommend\w*|add|start|offer|consider|reduc\w+|improv\w+|lower\w*|in adults|"
                  r"in patients|we conclude|conclusion)\b", re.I)


@dataclass
class _Lexical:
    """Every chunk of the store in memory with its BM25 index, rebuilt when the store changes."""
    key: tuple
    texts: list[str]
    metas: list[dict]
    bm25: object
    doc_of: dict[str, str]  # chunk id -> doc_id, so a dense query need not fetch metadata
    # kept with this index: (problem phrase, as_of) -> its hits; ("visible", as_of) -> the timeline's mask
    memo: dict = field(default_factory=dict)

    def by_doc(self) -> dict[str, list[int]]:
        """doc_id -> positions of its chunks (computed once per index)."""
        if not hasattr(self, "_by_doc"):
            self._by_doc: dict[str, list[int]] = {}
            for i, m in enumerate(self.metas):
                self._by_doc.setdefault(m["doc_id"], []).append(i)
        return self._by_doc


_cache: dict[str, _Lexical] = {}
# Our own writes change the catalog's stamp; the chunk count catches anyone else's (another client of a
# Chroma server). Counting takes ~4 ms at 50k chunks, so it is asked at most once a second.
_counted: dict[str, tuple[float, int, int]] = {}
RECOUNT_S = 1.0
_lock = threading.Lock()


def tokenize(texts: list[str]):
    import bm25s
    return bm25s.tokenize(texts, stopwords="en", show_progress=False)


def lexical(cfg: Config, vs) -> _Lexical:
    """The BM25 side, cached per store; the catalog stamp and the chunk count say when to rebuild."""
    import bm25s
    where = f"{cfg.chroma_host}:{cfg.chroma_port}" if cfg.chroma_host else str(cfg.chroma_dir)
    stamp, now = index.state(cfg), time.monotonic()
    counted = _counted.get(where)
    if not counted or counted[1] != stamp or now - counted[0] > RECOUNT_S:
        _counted[where] = counted = (now, stamp, index.size(vs))
    key = (stamp, counted[2])
    with _lock:
        hit = _cache.get(where)
        if hit and hit.key == key:
            return hit
        ids, texts, metas = [], [], []
        for page_ids, page_texts, page_metas in index.every_chunk(vs):
            ids += page_ids
            texts += page_texts
            metas += page_metas
        bm25 = bm25s.BM25()
        if texts:
            bm25.index(tokenize([f"{m.get('title', '')}\n{t}" for t, m in zip(texts, metas)]), show_progress=False)
        _cache[where] = hit = _Lexical(key, texts, metas, bm25, {i: m["doc_id"] for i, m in zip(ids, metas)})
        return hit


def queries(case: str) -> list[tuple[str, float]]:
    """(query, weight): the whole case, then one query per problem it names in words, the first
    weighing most. A problem known only from a number (eGFR 58: CKD) counts for applicability but
    asks no query of its own: on the development set such queries pulled in off-topic documents."""
    out = [(case, PRIMARY_WEIGHT)]
    for i, cond in enumerate(concepts.stated(case)):
        out.append((concepts.PHRASES[cond], PRIMARY_WEIGHT if i == 0 else OTHER_WEIGHT))
    return out


def _visible(meta: dict, as_of: str | None) -> bool:
    """Inside the knowledge timeline: published by `as_of`; an undated document is never placed in the past."""
    return as_of is None or 0 < meta.get("published_int", 0) <= int(as_of.replace("-", ""))


def fused(cfg: Config, case: str, as_of: str | None = None, vs=None, lex: _Lexical | None = None,
          own: list | None = None) -> list[tuple[str, float]]:
    """(doc_id, fused score) for every document either retriever found, best first. `own`, when given,
    receives the doc ids the whole-case query alone ranks, best first: what the case is about, before
    its comorbidities' queries add their weight."""
    vs = vs or index.vector_store(cfg)
    lex = lex or lexical(cfg, vs)
    if not lex.texts:
        return []
    qs = queries(case)
    scores: dict[str, float] = {}
    for i, ((_, weight), rankings) in enumerate(zip(qs, _rankings(cfg, vs, lex, [q for q, _ in qs], as_of))):
        mine: dict[str, float] = {}
        for ranked_docs in rankings:
            for rank, doc in enumerate(dict.fromkeys(ranked_docs)):
                mine[doc] = mine.get(doc, 0.0) + 1 / (RRF_K + rank + 1)
        for doc, score in mine.items():
            scores[doc] = scores.get(doc, 0.0) + weight * score
        if i == 0 and own is not None:
            own += [doc for doc, _ in sorted(mine.items(), key=lambda kv: -kv[1])]
    return sorted(scores.items(), key=lambda kv: -kv[1])


def _rankings(cfg: Config, vs, lex: _Lexical, texts: list[str], as_of: str | None) -> list[tuple[list, list]]:
    """Per query: the doc ids of its dense hits and of its BM25 hits, best first. The first query is
    the case; the others are problem phrases from a fixed vocabulary, whose hits are kept with the index
    they were found in (a report then searches once per retriever instead of once per problem)."""
    import numpy as np
    from .embedder import query_embedder
    missing = [t for t in dict.fromkeys(texts[1:]) if (t, as_of) not in lex.memo]
    asked = [texts[0]] + missing
    if as_of and ("visible", as_of) not in lex.memo:
        lex.memo["visible", as_of] = np.array([_visible(m, as_of) for m in lex.metas], dtype=np.float32)
    mask = lex.memo["visible", as_of] if as_of else None
    n = min(LEXICAL_CHUNKS, len(lex.texts) if mask is None else int(mask.sum()))
    embedder = query_embedder(cfg)
    vectors = [embedder.embed_query(t) for t in asked]
    for key in [k for k in lex.memo if k[0] == "case"]:  # the case's vector, for `_similarity`: the latest only
        del lex.memo[key]
    lex.memo["case", texts[0]] = np.array(vectors[0])
    dense = index.nearest(vs, vectors, min(DENSE_CHUNKS, len(lex.texts)), as_of)
    hits = lex.bm25.retrieve(tokenize(asked), k=n, show_progress=False, weight_mask=mask,
                             n_threads=0)[0] if n else [[] for _ in asked]  # 0: no thread pool per call (1 ms)
    found = [([lex.doc_of[c] for c in dense[i] if c in lex.doc_of],
              [lex.metas[j]["doc_id"] for j in hits[i] if mask is None or mask[j]]) for i in range(len(asked))]
    lex.memo.update({(t, as_of): f for t, f in zip(missing, found[1:])})
    return [found[0]] + [lex.memo[(t, as_of)] for t in texts[1:]]


def recommendation(chunks: list[tuple[str, dict]]) -> tuple[str, dict]:
    """(text, metadata) of what a document recommends or concludes: its practice point, key point,
    bottom line, recommendation or conclusion section (headed or labelled inline), else the chunk
    that sounds most like a recommendation, the later one on a tie (conclusions come last)."""
    ordered = sorted(chunks, key=lambda c: c[1].get("chunk", 0))
    for wanted in SUMMARY_SECTIONS:
        picked = [c for c in ordered if c[1].get("section", "").lower().startswith(wanted)]
        if picked:
            text, meta = picked[0]
            head = meta["section"]
            body = text[len(head):].lstrip(" :\n") if text.lower().startswith(head.lower()) else text
            return body.strip(), meta
    text, meta = max(reversed(ordered), key=lambda c: len(_CUE.findall(c[0])))
    return text.strip(), meta


def passages(cfg: Config, case: str, as_of: str | None = None, k: int | None = None, vs=None) -> list[dict]:
    """The top-k documents for a case, each shown by its recommendation, with whether it fits the patient.

    Fused retrieval proposes; the population check disposes (`fit.verdict`: fits, unknown or
    contradicted). The problem at hand decides which fitting documents come first: a known condition
    the case presents with (`concepts.presented`), else, when the best-ranked document for the whole
    case that the case does not contradict is about something the vocabulary does not know (an
    upload on gout, migraine, anaphylaxis ...), that document: the case is about its topic; when that
    best document is about a known comorbidity, the one the case's opening sentence ranks first among
    the whole case's best three, with the same checks (chosen on dev3: 31 -> 33 of 42 uploads used, no
    other development set changed). Only a contradiction vetoes; "unknown" never does."""
    vs = vs or index.vector_store(cfg)
    k = k or cfg.top_k
    lex = lexical(cfg, vs)
    docs = lex.by_doc()
    own: list[str] = []
    scores = dict(fused(cfg, case, as_of, vs, lex, own))
    primary = _problem(case)
    pool = [_passage([(lex.texts[i], lex.metas[i]) for i in docs[doc_id]], case, primary, rank, scores[doc_id])
            for rank, doc_id in enumerate(dict.fromkeys(list(scores)[:POOL] + own[:OWN_POOL]))]
    order = {doc: i for i, doc in enumerate(own)}
    for p in pool:
        p["_case_rank"] = order.get(p["doc_id"], len(order))
    lead = next((p for p in sorted(pool, key=lambda p: p["_case_rank"])[:LEAD]
                 if p["verdict"] != fit.CONTRADICTED and not p["flagged"]), None)
    if lead and not lead["known"] and not concepts.presented(case) and not _on_known(lex, case, as_of, lead["doc_id"]) \
            and _similarity(cfg, lex, case, lead) >= TOPIC_SIMILARITY:  # the case is about the lead's topic
        _at_hand(pool, lead)
    elif not concepts.presented(case) and any(not p["known"] and p["verdict"] != fit.CONTRADICTED and not p["flagged"]
                                              for p in pool if p["doc_id"] in own[:LEAD]) and (opening := _opening(case)):
        _opening_topic(cfg, lex, case, opening, as_of, vs, pool, docs, own[:LEAD])  # asked only where it can decide
    pool.sort(key=lambda p: (p["verdict"] != fit.FITS, not p["primary"], p["_rank"]))
    return _shown(pool[:k])


def _problem(case: str) -> str | None:
    """The problem at hand as the vocabulary reads it: the one the case presents with, else its first."""
    return concepts.presented(case) or (concepts.problems(case) or [None])[0]


def _shown(pool: list[dict]) -> list[dict]:
    """Passages as a report sees them: without the ranking's working fields."""
    return [{k: v for k, v in p.items() if not k.startswith("_")} for p in pool]


def _opening(case: str) -> str | None:
    """The case's first sentence, where a note says what the patient comes with; None when it is the
    whole case."""
    first = re.split(r"(?<=[a-z0-9)][.;])\s+(?=[A-Z])", case.strip(), maxsplit=1)
    return first[0] if len(first) == 2 and len(first[0]) >= 20 else None


def _opening_topic(cfg: Config, lex: _Lexical, case: str, opening: str, as_of: str | None, vs, pool: list[dict],
                   docs: dict, whole: list[str]) -> None:
    """When the whole case's best documents are about its known comorbidities, the document its opening
    sentence ranks first may still be what it is about: the same checks as for the whole case's lead."""
    vector = lex.memo.get(("case", case))
    own: list[str] = []
    fused(cfg, opening, as_of, vs, lex, own)
    if vector is not None:
        lex.memo["case", case] = vector
    by_id = {p["doc_id"]: p for p in pool}
    for doc_id in own[:LEAD]:
        if doc_id not in whole:
            continue
        p = by_id.get(doc_id) or _passage([(lex.texts[i], lex.metas[i]) for i in docs[doc_id]], case, None, len(pool))
        if p["verdict"] == fit.CONTRADICTED or p["flagged"]:
            continue
        if not p["known"] and not _on_known(lex, case, as_of, doc_id) and _similarity(cfg, lex, case, p) >= TOPIC_SIMILARITY:
            if doc_id not in by_id:
                pool.append(p)
            _at_hand(pool, p)
        return


def _at_hand(passages: list[dict], lead: dict) -> None:
    """Make `lead` the problem at hand: the one primary passage, and one that fits (the case does not
    contradict it, and it is what the case is about)."""
    for p in passages:
        p["primary"] = p is lead
    lead["verdict"] = fit.FITS


def _similarity(cfg: Config, lex: _Lexical, case: str, passage: dict) -> float:
    """Cosine of the case and a document's recommendation (MiniLM, normalized): the least a case must
    resemble a document for that document to be taken as its topic. A recommendation's vector is kept
    with the index; the case's was computed for its query a moment ago (`_rankings`)."""
    import numpy as np
    from .embedder import query_embedder
    embedder = query_embedder(cfg)
    key = ("recommendation", passage["doc_id"])
    if key not in lex.memo:
        lex.memo[key] = np.array(embedder.embed_query(passage["passage"]))
    vector = lex.memo.get(("case", case))
    if vector is None:
        vector = np.array(embedder.embed_query(case))
    return float(vector @ lex.memo[key])


def _on_known(lex: _Lexical, case: str, as_of: str | None, doc_id: str) -> bool:
    """Whether a document is among the best hits of a query for one of the case's known problems
    (SPRINT, whose population reads "systolic blood pressure", answers "hypertension"): then the
    case's topic is that problem, not something new."""
    for cond in concepts.stated(case):
        dense, lexical_ = lex.memo.get((concepts.PHRASES[cond], as_of), ([], []))
        if doc_id in list(dict.fromkeys(dense))[:KNOWN_TOP] and doc_id in list(dict.fromkeys(lexical_))[:KNOWN_TOP]:
            return True
    return False


def _passage(chunks: list[tuple[str, dict]], case: str, primary: str | None, rank: int, score: float = 0.0) -> dict:
    """A document as the report sees it: its recommendation, and whether that fits the patient."""
    text, meta = recommendation(chunks)
    verdict, reasons = fit.verdict(text, case)
    return {"doc_id": meta["doc_id"], "title": meta["title"], "source": meta["source"], "published": meta["published"],
            "section": meta.get("section", ""), "passage": text, "score": round(score, 5), "verdict": verdict,
            "reasons": reasons,
            "applicability": round(fit.applicability(text, case), 2), "known": fit.known(text),
            "primary": bool(primary) and primary in concepts.needs(text), "flagged": bool(meta.get("flagged")),
            "_rank": rank}


def documents(cfg: Config, doc_ids: list[str], case: str, vs=None) -> list[dict]:
    """The named documents as passages, in the given order (the evaluation's oracle arm). Handed the
    right documents, the reader still checks them: the first one the case does not contradict and whose
    topic the vocabulary does not know is the problem at hand, as the best-ranked one is in `passages`."""
    vs = vs or index.vector_store(cfg)
    lex = lexical(cfg, vs)
    docs = lex.by_doc()
    primary = _problem(case)
    out = [_passage([(lex.texts[i], lex.metas[i]) for i in docs[doc_id]], case, primary, 0)
           for doc_id in doc_ids if doc_id in docs]
    lead = next((p for p in out if p["verdict"] != fit.CONTRADICTED and not p["flagged"]), None)
    if lead and not lead["known"] and not concepts.presented(case):
        _at_hand(out, lead)
    return _shown(out)


def choose(passages: list[dict]) -> int | None:
    """Index of the passage whose recommendation the report copies: among the shown passages that fit
    the patient (for the problem at hand first, else for any stated problem), the newest, so new
    research that fits replaces old; None if none fits. An undated document is never the newest, a
    year alone is older than any full date of that year, and one flagged for instruction-like text is
    shown but never copied.

    Chosen on the development set among: best-ranked (20 of 28 right), newest of the whole pool (19),
    newest of the shown three (20). The last keeps the story's "newest fitting research wins" without
    reaching down the ranking for a narrower, newer trial."""
    fits = [i for i, p in enumerate(passages) if p.get("verdict") == fit.FITS and not p.get("flagged")]
    if not fits:
        return None
    primary = [i for i in fits if passages[i].get("primary")] or fits
    return max(primary, key=lambda i: (passages[i]["published"] or "0000", -i))
