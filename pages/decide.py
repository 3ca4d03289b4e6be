"""Decision: the article's factors plus the measurements at hand give a recommendation with reasons,
and both methods priced in machine time a month, with where their costs cross."""

import altair as alt
import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import decide

cfg = ui.page_header("RAG, fine-tuning, or both?")
a, b, c = st.columns(3)
s = decide.Situation(
    needs_current_knowledge=a.toggle("Answers need external or up-to-date knowledge", True),
    style_matters_most=a.toggle("The goal is mainly a style or format", False),
    needs_citations=a.toggle("Users need citations", True),
    labelled_examples=b.number_input("Labelled examples you have", 0, 1_000_000, 160, step=10),
    gpu_available=b.toggle("A GPU is available for training", False),
    reports_per_day=c.number_input("Reports a day (N)", 0.0, 1e6, float(decide.Situation.reports_per_day), step=10.0),
    changes_every_days=c.number_input("Knowledge changes every M days (0 = never)", 0.0, 3650.0,
                                      float(decide.Situation.changes_every_days), step=1.0),
    documents_per_change=c.number_input("Documents to ingest at each change", 0, 100_000,
                                        decide.Situation.documents_per_change))
d = decide.decision(cfg, s)
if d["measurements"]:
    st.caption("Measurements: " + d["measurements"])
else:
    st.info("No evaluation yet: the recommendation uses your answers alone. Run one on the Evaluate page "
            "to ground it in measurements.")
st.subheader(f"Recommendation: {d['recommendation']}")
st.caption(f"Points: RAG {d['rag']}, fine-tuning {d['finetune']}. Both ≥ 3 means both.")
for reason in d["reasons"]:
    st.markdown(f"- **{reason['favours']} +{reason['points']}**: {reason['reason']}")
    if reason["evidence"]:
        st.caption(f"  Measured: {reason['evidence']}")

costs = d["costs"]
st.subheader("Measured factors")
st.dataframe(pd.DataFrame([{"factor": f["factor"], "value": decide.value_text(f), "source": f["source"] or ""}
                           for f in costs["factors"]]), hide_index=True, width="stretch")
st.subheader(f"Machine time a month at {s.reports_per_day:g} reports a day")
if not costs["monthly"]:
    st.info(costs["summary"])
    st.stop()
st.dataframe(pd.DataFrame([{"item": r["item"], "RAG": decide.num(r["RAG"]),
                            "fine-tuning": decide.num(r["fine-tuning"])} for r in costs["monthly"]]),
             hide_index=True, width="stretch")
st.caption(costs["summary"] + " Hours of a machine busy (wall-clock on all its cores, on the machine each factor's run names), "
           "30 days a month.")
x = alt.X("reports per day:Q", title="reports a day")
chart = alt.Chart(pd.DataFrame(costs["series"])).mark_line().encode(
    x=x, y=alt.Y("machine-hours a month:Q"), color=alt.Color("method:N", title=None))
marks = [{"at": s.reports_per_day, "what": "your volume"}]
if costs["crossover_reports_per_day"] is not None:
    marks.append({"at": costs["crossover_reports_per_day"], "what": "crossover"})
rules = alt.Chart(pd.DataFrame(marks)).mark_rule(strokeDash=[4, 4]).encode(
    x=alt.X("at:Q"), tooltip=["what:N", "at:Q"], color=alt.value("gray"))
labels = rules.mark_text(align="left", dx=4, dy=8, color="gray").encode(text="what:N", y=alt.value(0))
st.altair_chart(chart + rules + labels, width="stretch")
