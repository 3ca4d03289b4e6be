"""The demo: one case, reports side by side — fine-tuned (closed book) vs RAG (open book)."""
import datetime as dt

import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import cases, deid, finetune, generate, retrieve, support
from rag_vs_ft.errors import UserError

cfg = ui.page_header("Fine-tuned or RAG? Reports side by side")
heldout = cases.load_heldout(cfg)
cutoff = cases.load_training(cfg)["cutoff"]

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
    extra = st.multiselect("Also show", ["base", "hybrid"],
                           format_func={"base": "Base (no tuning, no retrieval)", "hybrid": "Fine-tuned + RAG"}.get)

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

modes = ["finetuned", "rag"] + extra
if not st.button("Write reports", type="primary", disabled=not case.strip()):
    st.caption("Same base model and greedy decoding in every column: the difference is the method.")
    st.stop()

with st.spinner("Removing patient identifiers…"):
    scrubbed = deid.scrub(case)  # before the case reaches a prompt, a cache, a log or the history
case = scrubbed.text
if scrubbed.count:
    kinds = sorted({deid.LABELS[kind] for kind, _ in scrubbed.found})
    st.info(f"De-identified before any model saw it: {scrubbed.message()} ({', '.join(kinds)}).", icon="🔒")
    with st.expander("The case as the models saw it"):
        st.text(case)
reporter = ui.reporter(str(cfg.data_dir))
LABELS = {"finetuned": "Fine-tuned (closed book)", "rag": "RAG (open book)", "base": "Base model",
          "hybrid": "Fine-tuned + RAG"}
columns = st.columns(len(modes))
for col, mode in zip(columns, modes):  # headers first, so every column is visible while others write
    with col:
        st.subheader(LABELS[mode])
        st.caption(ui.escape(f"Written by {reporter.model_name(mode, adapter)}"))
        if mode in generate.ADAPTER_MODES:
            st.info(f"Knows only what its training reports said: practice as of {cutoff}.", icon="🧊")
        if mode in generate.OPEN_BOOK:
            st.info(f"Reads the research corpus{' as of ' + as_of if as_of else ''}.", icon="📖")
for col, mode in zip(columns, modes):
    with col:
        r = generate.Report(mode, reporter.model_name(mode, adapter))
        try:
            st.write_stream(ui.escape(piece) for piece in reporter.stream(case, mode, as_of, r, adapter=adapter))
        except UserError as e:  # this column failed (a stalled model, an unreachable endpoint); the others go on
            st.error(ui.escape(str(e)))
            continue
        if mode == "rag" and not reporter.remote(mode):
            st.caption(f"{r.seconds:.1f} s · Subjective and Objective restate the case; the model wrote the "
                       f"Assessment ({r.tokens} tokens); the Plan copies the chosen passage word for word.")
        else:
            st.caption(f"{r.seconds:.1f} s · {r.tokens} tokens · {r.tokens / max(r.seconds, 1e-9):.1f} tokens/s")
        if r.passages:
            checks = support.check(r.text, [p["passage"] for p in r.passages])
            if checks:
                st.markdown("**Recommendations checked against the passages**")
                st.dataframe(pd.DataFrame(checks)[["supported", "passage", "score", "sentence"]], hide_index=True,
                             width="stretch")  # the verdict first: sentences are long
                st.caption(support.__doc__.split("\n\n")[1].replace("\n", " "))
            if flagged := [f"[{n}] {p['doc_id']}" for n, p in enumerate(r.passages, 1) if p.get("flagged")]:
                st.warning(ui.escape(f"{', '.join(flagged)}: instruction-like text in the document; not copied "
                                     "into the report."))
            st.markdown(f"**Cited** ({len(r.citations)} of {len(r.passages)} retrieved)")
            for n, p in enumerate(r.passages, 1):
                mark = "cited" if any(c["n"] == n for c in r.citations) else "retrieved"
                if "applicability" in p:
                    mark += " · fits the patient" if p["applicability"] >= retrieve.APPLIES else " · population does not match"
                with st.expander(ui.escape(f"[{n}] {p['title']} · {p['published'] or 'date unknown'} · {mark}")):
                    st.text(p["passage"])
        if chosen:
            found = cases.facts_found(r.text, chosen["key_facts"])
            st.markdown(f"**Key facts found: {sum(found.values())}/{len(found)}**")
            st.dataframe(pd.DataFrame({"fact": list(found), "found": list(found.values())}),
                         hide_index=True, width="stretch")
