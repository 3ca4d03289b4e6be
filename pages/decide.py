"""Decision: the article's factors plus the last evaluation's numbers give a recommendation with reasons."""

import streamlit as st

import ui
from rag_vs_ft import decide, evaluate

cfg = ui.page_header("RAG, fine-tuning, or both?")
result, injection = evaluate.load(cfg), evaluate.load(cfg, "injection")
if result is None:
    st.info("No evaluation yet: the recommendation uses your answers alone. Run one on the Evaluate page "
            "to ground it in measurements.")

a, b = st.columns(2)
s = decide.Situation(
    needs_current_knowledge=a.toggle("Answers need external or up-to-date knowledge", True),
    style_matters_most=a.toggle("The goal is mainly a style or format", False),
    needs_citations=a.toggle("Users need citations", True),
    labelled_examples=b.number_input("Labelled examples you have", 0, 1_000_000, 160, step=10),
    gpu_available=b.toggle("A GPU is available for training", False),
    knowledge_changes=b.select_slider("How often the knowledge changes", ["never", "yearly", "monthly", "weekly"],
                                      "monthly"))
r = decide.recommend(s, result, injection)
if result:
    st.caption("Measurements: " + evaluate.source(result))
st.subheader(f"Recommendation: {r['recommendation']}")
st.caption(f"Points: RAG {r['rag']}, fine-tuning {r['finetune']}. Both ≥ 3 means both.")
for reason in r["reasons"]:
    st.markdown(f"- **{reason['favours']} +{reason['points']}**: {reason['reason']}")
    if reason["evidence"]:
        st.caption(f"  Measured: {reason['evidence']}")
