"""The demo: one case, reports side by side — fine-tuned (closed book) vs RAG (open book). It replays
the story in three clicks, lets an audience judge two anonymous reports, and keeps this browser
session's comparisons to reopen and download without regenerating."""
import datetime as dt
import itertools
import random
import time

import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import cases, comparison, deid, finetune, generate, story, support, votes
from rag_vs_ft.errors import UserError

cfg = ui.page_header("Fine-tuned or RAG? Reports side by side")
heldout = cases.load_heldout(cfg)
cutoff = cases.load_training(cfg)["cutoff"]
history = st.session_state.setdefault("history", [])  # per browser session: never shared between visitors
LABELS = generate.LABELS


def _open(rec_id: str) -> None:
    st.session_state.current = rec_id


def _vote(rec: dict, choice: str) -> None:
    """Keep the vote with both reports and the method behind each letter, then reveal the names."""
    b, cols = rec["blind"], rec["modes"]
    votes.record(cfg, rec["case"], b["A"], b["B"], cols[b["A"]].get("report", {}).get("report", ""),
                 cols[b["B"]].get("report", {}).get("report", ""), choice,
                 {"case_id": rec["case_id"], "as_of": rec["settings"]["as_of"], "adapter": rec["settings"]["adapter"]})
    b["vote"] = choice


with st.sidebar:
    st.subheader("Settings")
    closed = [a["name"] for a in finetune.list_adapters(cfg) if a.get("kind") == "closed-book"]
    adapter = st.selectbox("Fine-tuned adapter", closed, index=closed.index(finetune.DEFAULT)
                           if finetune.DEFAULT in closed else 0)
    timeline = st.radio("Research the RAG side may read",
                        ["All of it", f"As of the training cutoff ({cutoff})", "As of a date"])
    as_of = None
    if timeline.startswith("As of the"):
        as_of = cutoff
    elif timeline == "As of a date":
        as_of = st.date_input("Corpus as of", dt.date.today(), min_value=dt.date(2015, 1, 1)).isoformat()
    blind = st.toggle("Blind mode", help="Two of the four methods, drawn at random, as columns A and B. "
                                         "Their names show after your vote; the Blind votes page tallies them.")
    extra = [] if blind else st.multiselect(
        "Also show", ["base", "hybrid"],
        format_func={"base": "Base (no tuning, no retrieval)", "hybrid": "Fine-tuned + RAG"}.get)
    recent = st.container()  # filled last, so a comparison written in this run is listed too

# ------------------------------------------------------------------ the story, replayable
st.markdown(story.INTRO)
request = None
with st.expander("▶️ Replay the story in three clicks", expanded=True, key="replay"):  # a key: stays as the user left it
    told = story.case(cfg)
    st.caption(ui.escape(f"The case ({told['id']}): {told['case']}"))
    new_docs = story.added(cfg)
    steps = st.columns(3)
    go = {}
    for col, (n, label) in zip(steps, story.STEPS.items()):
        go[n] = col.button(f"{n} · {label}", key=f"story-{n}", width="stretch", type="primary",
                           disabled=(n == 2 and bool(new_docs)) or (n == 3 and not new_docs))
        col.caption(story.LOOK[n])
    if flash := st.session_state.pop("flash", None):
        st.success(flash)
    if new_docs:
        st.caption(ui.escape(f"New research in the index: {', '.join(new_docs)}."))
        if st.button("↩ Remove the new research (reset for the next audience)", key="story-undo"):
            n = story.undo(cfg)
            st.session_state.flash = f"Removed the new research ({n} chunks); step 2 adds it again."
            st.rerun()
    if go[2]:
        bar = st.progress(0.0, "Adding the new research…")
        r = story.add(cfg, lambda done, total, what: bar.progress(done / max(total, 1), f"Indexing {what}"))
        st.session_state.flash = (f"Added {len(r.documents)} documents ({r.added} chunks) to the research index. "
                                  "Nothing was retrained. Now step 3.")
        if r.errors:
            st.session_state.flash += f" Not added: {'; '.join(e['error'] for e in r.errors)}."
        st.rerun()
    for n in (1, 3):
        if go[n]:
            before = next((h for h in reversed(history) if (h.get("story") or {}).get("step") == 1), None)
            request = {"case": told["case"], "case_id": told["id"], "modes": story.MODES,
                       "as_of": cutoff if n == 1 else None,
                       "story": {"step": n, "before": before["id"] if before else None, "new_research": new_docs}}

# ------------------------------------------------------------------ your own case
pick = st.selectbox("Pick a held-out case, or type your own below", ["(type your own)"] +
                    [f"{c['id']} · {c['case'][:90]}" for c in heldout])
chosen = heldout[[f"{c['id']} · {c['case'][:90]}" for c in heldout].index(pick)] if pick != "(type your own)" else None
with st.expander("Compose a case from fields"):
    a, b = st.columns(2)
    age = a.number_input("Age", 18, 100, 60)
    sex = b.selectbox("Sex", ["woman", "man"])
    conditions = st.text_input("Conditions", "type 2 diabetes and chronic kidney disease")
    labs = st.text_input("Labs", "eGFR 42 mL/min/1.73m2, urine albumin-creatinine ratio 450 mg/g")
    meds = st.text_input("Medications", "metformin 1 g twice daily, lisinopril 20 mg daily")
    composed = cases.compose(age, sex, conditions, labs, meds)
    use_fields = st.checkbox("Use these fields as the case")
default = composed if use_fields else (chosen["case"] if chosen else "")
case = st.text_area("Case", default, height=110, key=f"case-{pick}-{use_fields}",
                    placeholder="e.g. 67-year-old woman with HFpEF (LVEF 58%), NYHA II, on furosemide 40 mg…")
if st.button("Write reports", type="primary", disabled=not case.strip(), key="write"):
    request = {"case": case, "case_id": chosen["id"] if chosen and case == chosen["case"] else None,
               "modes": random.sample(generate.MODES, 2) if blind else ["finetuned", "rag"] + extra,
               "as_of": as_of, "blind": blind}
elif not history:
    st.caption("Same base model and greedy decoding in every column: the difference is the method.")


# ------------------------------------------------------------------ one comparison, written or reopened
def header(rec: dict, mode: str) -> None:
    b = rec.get("blind")
    if b and not b["vote"]:
        st.subheader(comparison.letter(rec, mode))
        return
    st.subheader((comparison.letter(rec, mode) + " · " if b else "") + LABELS[mode])
    st.caption(ui.escape(f"Written by {rec['settings']['models'][mode]}"))
    if mode in generate.ADAPTER_MODES:
        st.info(f"Knows only what its training reports said: practice as of {cutoff}.", icon="🧊")
    if mode in generate.OPEN_BOOK:
        st.info(f"Reads the research corpus{' as of ' + rec['settings']['as_of'] if rec['settings']['as_of'] else ''}.",
                icon="📖")


def details(rec: dict, mode: str) -> None:
    """Everything under a report: timings, support checks, citations, key facts (after a blind vote)."""
    col, b = rec["modes"][mode], rec.get("blind")
    if "error" in col:
        st.error(ui.escape(col["error"]))
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
                st.success(ui.escape(f"New citation: {'; '.join(titles)}" +
                                     (" (not cited in step 1)." if before else ".")), icon="🆕")
        if col["checks"]:
            st.markdown("**Recommendations checked against the passages**")
            st.dataframe(pd.DataFrame(col["checks"])[["supported", "passage", "score", "sentence"]], hide_index=True,
                         width="stretch")  # the verdict first: sentences are long
            st.caption(support.__doc__.split("\n\n")[1].replace("\n", " "))
        if flagged := [f"[{n}] {p['doc_id']}" for n, p in enumerate(passages, 1) if p.get("flagged")]:
            st.warning(ui.escape(f"{', '.join(flagged)}: instruction-like text in the document; not copied "
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
            with st.expander(ui.escape(f"[{n}] {p['title']} · {p['published'] or 'date unknown'} · {mark}")):
                st.text(p["passage"])
                if p.get("reasons"):
                    st.caption(ui.escape("; ".join(p["reasons"])))
    if col.get("facts"):
        st.markdown(f"**Key facts found: {sum(col['facts'].values())}/{len(col['facts'])}**")
        st.dataframe(pd.DataFrame({"fact": list(col["facts"]), "found": list(col["facts"].values())}),
                     hide_index=True, width="stretch")


def show(rec: dict, write=None) -> None:
    """Draw a comparison; with `write = (start, finish)`, write its columns first: every column starts
    (`start(mode) -> slot`) before the first one streams to its end (`finish(mode, slot) -> column`)."""
    if (s := rec.get("story")) and s["step"] in story.LOOK:
        st.info(f"Step {s['step']}: {story.LOOK[s['step']]}", icon="👀")
    modes = rec["settings"]["modes"]
    columns = st.columns(len(modes))
    for col, mode in zip(columns, modes):  # headers first, so every column is visible while others write
        with col:
            header(rec, mode)
    places = {}
    for col, mode in zip(columns, modes):
        # keyed (CSS class st-key-...) so `bench` can time each column in the browser; by letter when blind
        name = comparison.letter(rec, mode) or mode
        with col:
            with st.container(key=f"report-{name}"):
                if write:
                    slot = write[0](mode)
                elif "report" in rec["modes"][mode]:
                    st.markdown(ui.escape(rec["modes"][mode]["report"]["report"]))
            places[mode] = (slot if write else None, st.container(key=f"done-{name}"))
    for mode in modes:
        slot, done = places[mode]
        if write:
            rec["modes"][mode] = write[1](mode, slot)
        with done:
            details(rec, mode)
    b = rec.get("blind")
    if b and not b["vote"]:
        st.markdown("**Which report is better for this patient?** The methods are named after your vote.")
        for col, (choice, label) in zip(st.columns(len(votes.CHOICES)), votes.CHOICES.items()):
            col.button(label, key=f"vote-{choice}", on_click=_vote, args=(rec, choice), width="stretch")
        return  # a download would name the methods
    if b:
        st.success(f"You voted: {votes.CHOICES[b['vote']]}. A was {LABELS[b['A']]}; B was {LABELS[b['B']]}. "
                   "The tally is on the Blind votes page.")
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("Download Markdown", comparison.markdown(rec), f"comparison-{rec['id']}.md",
                       "text/markdown", key=f"md-{rec['id']}", on_click="ignore", width="stretch")
    d2.download_button("Download JSON", comparison.dumps(rec), f"comparison-{rec['id']}.json",
                       "application/json", key=f"json-{rec['id']}", on_click="ignore", width="stretch")


def write(request: dict) -> dict:
    """De-identify, then write each column as it streams; the comparison joins this session's history."""
    with st.spinner("Removing patient identifiers…"):
        scrubbed = deid.scrub(request["case"])  # before the case reaches a prompt, a cache, a log or the history
    text = scrubbed.text
    if scrubbed.count:
        kinds = sorted({deid.LABELS[kind] for kind, _ in scrubbed.found})
        st.info(f"De-identified before any model saw it: {scrubbed.message()} ({', '.join(kinds)}).", icon="🔒")
        with st.expander("The case as the models saw it"):
            st.text(text)
    reporter = ui.reporter(str(cfg.data_dir))
    modes = request["modes"]
    settings = {"adapter": adapter, "as_of": request["as_of"], "modes": modes,
                "models": {m: reporter.model_name(m, adapter) for m in modes}}
    blind_letters = {"A": modes[0], "B": modes[1], "vote": None} if request.get("blind") else None
    known = next((c for c in heldout if c["id"] == request["case_id"]), None)
    rec = comparison.build(text, scrubbed.count, settings, {m: {} for m in modes}, case_id=request["case_id"],
                           blind=blind_letters, story=request.get("story"))

    started = {}

    def start(mode: str):
        """A column's place and its report stream, not yet pulled."""
        r = generate.Report(mode, reporter.model_name(mode, adapter))
        slot = st.empty()
        started[mode] = {"r": r, "pieces": reporter.stream(text, mode, request["as_of"], r, adapter=adapter),
                         "head": None, "spent": 0.0, "slot": slot}
        return slot

    def prime(mode: str) -> None:
        """The RAG column's restated case needs no model: shown as soon as the first column has text."""
        s = started[mode]
        if s["head"] is not None:
            return
        s["head"] = ""
        if mode == "rag" and not reporter.remote(mode):
            t = time.perf_counter()
            try:
                s["head"] = next(s["pieces"], "")
            except UserError as e:  # shown where the column is finished, like any other column's error
                s["error"] = str(e)
            s["spent"] = time.perf_counter() - t
            if s["head"]:
                s["slot"].markdown(ui.escape(s["head"]))

    def finish(mode: str, slot) -> dict:
        s = started[mode]
        prime(mode)
        t, r = time.perf_counter(), s["r"]
        if "error" in s:
            return {"error": s["error"]}
        try:
            ui.stream_into(slot, itertools.chain([s["head"]], s["pieces"]),
                           on_first=lambda: [prime(m) for m in modes])
        except UserError as e:  # this column failed (a stalled model, an unreachable endpoint); the others go on
            return {"error": str(e)}
        r.seconds = s["spent"] + time.perf_counter() - t  # its own work, not the wait for the columns before it
        col = comparison.column(r, cases.facts_found(r.text, known["key_facts"]) if known else None)
        if mode == "rag" and not reporter.remote(mode):
            col["how"] = (f"Subjective and Objective restate the case; the model wrote the Assessment "
                          f"({r.tokens} tokens); the Plan copies the chosen passage word for word.")
        return col

    show(rec, (start, finish))
    history.append(rec)  # only once every column is written: a reopened comparison is always whole
    st.session_state.current = rec["id"]
    return rec


if request:
    write(request)
elif current := next((h for h in history if h["id"] == st.session_state.get("current")), None):
    show(current)

if history:
    with recent:
        st.subheader("This session's comparisons")
        st.caption("Reopen one without regenerating it. Kept while this browser tab is open; never shared.")
        for rec in reversed(history):
            st.button(comparison.title(rec), key=f"open-{rec['id']}", on_click=_open, args=(rec["id"],),
                      type="primary" if rec["id"] == st.session_state.get("current") else "secondary",
                      width="stretch")
