"""The demo: one case, reports side by side — fine-tuned (closed book) vs RAG (open book). It replays
the story in three clicks, lets an audience judge two anonymous reports, and keeps this browser
session's comparisons to reopen and download without regenerating."""
import datetime as dt
import random

import streamlit as st

import ui
from ui import compare as drawn, story as replay
from rag_vs_ft import cases, columns, comparison, deid, finetune, generate

cfg = ui.page_header("Fine-tuned or RAG? Reports side by side")
heldout = cases.load_heldout(cfg)
cutoff = cases.load_training(cfg)["cutoff"]
history = st.session_state.setdefault("history", [])  # per browser session: never shared between visitors


def _open(rec_id: str) -> None:
    st.session_state.current = rec_id


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
request = replay.replay(cfg, history)

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
    st.caption(generate.METHOD)


# ------------------------------------------------------------------ one comparison, written or reopened
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
    drawn.show(cfg, rec, history,
               columns.write(reporter, text, modes, request["as_of"], adapter, known and known["key_facts"]))
    history.append(rec)  # only once every column is written: a reopened comparison is always whole
    st.session_state.current = rec["id"]
    return rec


if request:
    write(request)
elif current := next((h for h in history if h["id"] == st.session_state.get("current")), None):
    drawn.show(cfg, current, history)

if history:
    with recent:
        st.subheader("This session's comparisons")
        st.caption("Reopen one without regenerating it. Kept while this browser tab is open; never shared.")
        for rec in reversed(history):
            st.button(comparison.title(rec), key=f"open-{rec['id']}", on_click=_open, args=(rec["id"],),
                      type="primary" if rec["id"] == st.session_state.get("current") else "secondary",
                      width="stretch")
