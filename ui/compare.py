"""Drawing one comparison: each column's header, its text as it is written, and everything under it
(timings, support checks, citations, key facts), then the blind vote or the downloads."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from rag_vs_ft import cases, columns, comparison, generate, story, support, votes

from . import escape

LABELS = generate.LABELS


def _vote(cfg, rec: dict, choice: str) -> None:
    """Keep the vote with both reports and the method behind each letter, then reveal the names."""
    b, cols = rec["blind"], rec["modes"]
    votes.record(cfg, rec["case"], b["A"], b["B"], cols[b["A"]].get("report", {}).get("report", ""),
                 cols[b["B"]].get("report", {}).get("report", ""), choice,
                 {"case_id": rec["case_id"], "as_of": rec["settings"]["as_of"], "adapter": rec["settings"]["adapter"]})
    b["vote"] = choice


def header(cfg, rec: dict, mode: str) -> None:
    b = rec.get("blind")
    if b and not b["vote"]:
        st.subheader(comparison.letter(rec, mode))
        return
    st.subheader((comparison.letter(rec, mode) + " · " if b else "") + LABELS[mode])
    st.caption(escape(f"Written by {rec['settings']['models'][mode]}"))
    if mode in generate.ADAPTER_MODES:
        cutoff = cases.load_training(cfg)["cutoff"]
        st.info(f"Knows only what its training reports said: practice as of {cutoff}.", icon="🧊")
    if mode in generate.OPEN_BOOK:
        st.info(f"Reads the research corpus{' as of ' + rec['settings']['as_of'] if rec['settings']['as_of'] else ''}.",
                icon="📖")


def details(rec: dict, mode: str, history: list[dict]) -> None:
    """Everything under a report: timings, support checks, citations, key facts (after a blind vote)."""
    col, b = rec["modes"][mode], rec.get("blind")
    if "error" in col:
        st.error(escape(col["error"]))
        return
    if b and not b["vote"]:
        return  # timings and citations would give the method away
    r = col["report"]
    if col.get("how"):
        st.caption(f"{r['seconds']:.1f} s · {col['how']}")
    else:
        st.caption(f"{r['seconds']:.1f} s · {r['tokens']} tokens · {r['tokens'] / max(r['seconds'], 1e-9):.1f} tokens/s")
    passages = col["passages"]
    if passages:
        told_story = rec.get("story") or {}
        cited_docs = [c["doc_id"] for c in r["citations"]]
        if told_story.get("step") == 3 and mode == "rag":
            before = next((h for h in history if h["id"] == told_story.get("before")), None)
            fresh = (story.new_citations(before["modes"]["rag"].get("report", {}).get("citations", []), r["citations"]) if before
                     else [d for d in cited_docs if d in told_story["new_research"]])
            if fresh:
                titles = [c["title"] for c in r["citations"] if c["doc_id"] in fresh]
                st.success(escape(f"New citation: {'; '.join(titles)}" +
                                     (" (not cited in step 1)." if before else ".")), icon="🆕")
        if col["checks"]:
            st.markdown("**Recommendations checked against the passages**")
            st.dataframe(pd.DataFrame(col["checks"])[["supported", "passage", "score", "sentence"]], hide_index=True,
                         width="stretch")  # the verdict first: sentences are long
            st.caption(support.HOW)
        if flagged := [f"[{n}] {p['doc_id']}" for n, p in enumerate(passages, 1) if p.get("flagged")]:
            st.warning(escape(f"{', '.join(flagged)}: instruction-like text in the document; not copied "
                                 "into the report."))
        st.markdown(f"**Cited** ({len(r['citations'])} of {len(passages)} retrieved)")
        new_research = set(told_story.get("new_research") or [])
        for n, p in enumerate(passages, 1):
            mark = "cited" if n in col["cited"] else "retrieved"
            if "verdict" in p:
                mark += {"fits": " · fits the patient", "contradicted": " · the case rules its population out",
                         "unknown": " · fit unknown"}[p["verdict"]]
            if p["doc_id"] in new_research and told_story.get("step") == 3:
                mark += " · 🆕 new research"
            with st.expander(escape(f"[{n}] {p['title']} · {p['published'] or 'date unknown'} · {mark}")):
                st.text(p["passage"])
                if p.get("reasons"):
                    st.caption(escape("; ".join(p["reasons"])))
    if col.get("facts"):
        st.markdown(f"**Key facts found: {sum(col['facts'].values())}/{len(col['facts'])}**")
        st.dataframe(pd.DataFrame({"fact": list(col["facts"]), "found": list(col["facts"].values())}),
                     hide_index=True, width="stretch")


def show(cfg, rec: dict, history: list[dict], events=None) -> None:
    """Draw a comparison; with `events` (`columns.write`), write its columns as they come."""
    if (s := rec.get("story")) and s["step"] in story.LOOK:
        st.info(f"Step {s['step']}: {story.LOOK[s['step']]}", icon="👀")
    modes = rec["settings"]["modes"]
    places = {}
    for col, mode in zip(st.columns(len(modes)), modes):
        with col:
            header(cfg, rec, mode)
            # keyed (CSS class st-key-...) so `bench` can time each column in the browser; by letter when blind
            name = comparison.letter(rec, mode) or mode
            with st.container(key=f"report-{name}"):
                slot = st.empty()
            places[mode] = (slot, st.container(key=f"done-{name}"))
    reopened = events is None
    for ev in [columns.Event(m, column=rec["modes"][m]) for m in modes] if reopened else events:
        slot, done = places[ev.mode]
        if ev.column is None:  # the column's text so far
            slot.markdown(escape(ev.text))
            continue
        rec["modes"][ev.mode] = ev.column
        if reopened and "report" in ev.column:
            slot.markdown(escape(ev.column["report"]["report"]))
        with done:
            details(rec, ev.mode, history)
    b = rec.get("blind")
    if b and not b["vote"]:
        st.markdown("**Which report is better for this patient?** The methods are named after your vote.")
        for col, (choice, label) in zip(st.columns(len(votes.CHOICES)), votes.CHOICES.items()):
            col.button(label, key=f"vote-{choice}", on_click=_vote, args=(cfg, rec, choice), width="stretch")
        return  # a download would name the methods
    if b:
        st.success(f"You voted: {votes.CHOICES[b['vote']]}. A was {LABELS[b['A']]}; B was {LABELS[b['B']]}. "
                   "The tally is on the Blind votes page.")
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("Download Markdown", comparison.markdown(rec), f"comparison-{rec['id']}.md",
                       "text/markdown", key=f"md-{rec['id']}", on_click="ignore", width="stretch")
    d2.download_button("Download JSON", comparison.dumps(rec), f"comparison-{rec['id']}.json",
                       "application/json", key=f"json-{rec['id']}", on_click="ignore", width="stretch")
