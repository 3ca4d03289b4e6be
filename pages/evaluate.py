"""Evaluate: every mode over the held-out cases, with 95% intervals and a per-case drill-down."""

import altair as alt
import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import cases, evaluate, generate

cfg = ui.page_header("Evaluate both methods on held-out cases")
heldout = cases.load_heldout(cfg)
st.caption(f"{len(heldout)} held-out cases, never used in training. Key-fact recall: expected facts the case does "
           "not already state, found (with synonyms) in the report's own Assessment or Plan. Citation precision: cited passages that support the citing sentence. Unsupported "
           "claims: drug or test names found in neither the case nor the passages. Memorization: share of "
           "8-grams copied from training reports. Greedy decoding; reports are cached, so a re-run is instant.")

with st.form("eval"):
    a, b = st.columns(2)
    modes = a.multiselect("Modes", list(generate.MODES), ["finetuned", "rag"])
    limit = b.slider("Cases", 1, len(heldout), len(heldout))
    go = st.form_submit_button("Run evaluation", type="primary")
if go and modes:
    bar = st.progress(0.0)
    reporter = ui.reporter(str(cfg.data_dir))
    result = evaluate.run(cfg, modes, limit, reporter=reporter, adapter="finetuned",
                          progress=lambda d, t, what: bar.progress(d / t, text=f"{d}/{t} reports · {what}"))
    evaluate.save(cfg, result)

st.subheader("Knowledge injection: before and after new research arrives")
st.caption("Recall on the held-out cases whose answer needs the documents in corpus/incoming/: first with the "
           "corpus as of the training cutoff, then after those documents arrive. RAG gets them by upload; "
           "fine-tuning gets its fair try by continued training on their text (as Ovadia et al. 2023 did).")
if st.button("Run the injection experiment (several minutes)"):
    bar = st.progress(0.0)
    evaluate.save(cfg, evaluate.injection(cfg, progress=lambda d, t, what: bar.progress(d / t, text=what)),
                  "injection")
if inj := evaluate.load(cfg, "injection"):
    st.caption(evaluate.source(inj))
    df = pd.DataFrame([{"method": arm, "phase": phase, "recall": v[phase]["mean"], "low": v[phase]["ci95"][0],
                        "high": v[phase]["ci95"][1]} for arm, v in inj["arms"].items() for phase in ("before", "after")])
    enc = dict(x=alt.X("phase:N", sort=["before", "after"], title=None), xOffset="method:N")
    st.altair_chart(alt.Chart(df).mark_bar().encode(**enc, y=alt.Y("recall:Q", title="key-fact recall"),
                                                    color="method:N") +
                    alt.Chart(df).mark_errorbar().encode(**enc, y="low:Q", y2="high:Q"), width="stretch")
    st.caption(f"{inj['cases']} cases ({', '.join(inj['case_ids'])}); documents: {', '.join(inj['documents'])}.")

result = evaluate.load(cfg)
if result is None:
    st.info("No evaluation yet: run one above (4–15 s per report on 2 cores, depending on the backend), or `python -m rag_vs_ft eval`.")
    st.stop()

rows = [{"mode": m, "metric": k, **v} for m, ms in result["modes"].items() for k, v in ms.items() if v["mean"] is not None]
summary = pd.DataFrame([{"mode": r["mode"], "metric": r["metric"], "mean": r["mean"], "low": r["ci95"][0],
                         "high": r["ci95"][1]} for r in rows])
st.subheader(f"Per mode, {result['cases']} cases")
st.caption(evaluate.source(result))
st.dataframe(summary.pivot(index="mode", columns="metric", values="mean"), width="stretch")
metric = st.selectbox("Chart", list(evaluate.METRICS), format_func=lambda k: k.replace("_", " "))
part = summary[summary.metric == metric]
base = alt.Chart(part).encode(y=alt.Y("mode:N", title=None))
st.altair_chart(base.mark_bar().encode(x=alt.X("mean:Q", title=metric.replace("_", " "))) +
                base.mark_errorbar().encode(x="low:Q", x2="high:Q"), width="stretch")

if result.get("paired"):
    st.subheader("Paired differences (the same cases, both modes)")
    st.dataframe(pd.DataFrame([{"pair": pair, "metric": k, "mean difference": v["mean"], "low": v["ci95"][0],
                                "high": v["ci95"][1], "cases": v["cases"], "interval excludes 0": v["excludes_zero"]}
                               for pair, ms in result["paired"].items() for k, v in ms.items()]),
                 hide_index=True, width="stretch")
    st.caption("A paired bootstrap resamples cases, keeping each case's two reports together: it sees a "
               "difference that is consistent across cases even when the two modes' own intervals overlap.")

st.subheader("Changed after the training cutoff vs not")
per = pd.DataFrame(result["rows"])
split = per.groupby(["mode", "changed_after_cutoff"])["key_fact_recall"].mean().reset_index()
split["answer"] = split.changed_after_cutoff.map({True: "changed after cutoff", False: "unchanged"})
st.altair_chart(alt.Chart(split).mark_bar().encode(x=alt.X("key_fact_recall:Q", title="key-fact recall"),
                y=alt.Y("mode:N", title=None), row=alt.Row("answer:N", title=None)), width="stretch")

st.subheader("Drill down")
ids = list(dict.fromkeys(per["case"]))
pick = st.selectbox("Case", ids)
case = next((c for name in dict.fromkeys([result.get("case_set", "heldout"), *cases.sets(cfg)])
             for c in cases.load(cfg, name) if c["id"] == pick), None)  # a case may have moved set since the run
if case is None:
    st.warning(f"Case {pick} is no longer in the shipped case sets; run the evaluation again.")
    st.stop()
st.text(case["case"])
cols = st.columns(len(result["modes"]))
for col, mode in zip(cols, result["modes"]):
    r = per[(per.case == pick) & (per["mode"] == mode)].iloc[0]
    with col:
        st.markdown(f"**{mode}** · recall " + ("–" if pd.isna(r.key_fact_recall) else f"{r.key_fact_recall:.2f}"))
        st.text(r.report)
        found = cases.facts_found(evaluate.own_part(r.report), evaluate.new_facts(case))
        st.dataframe(pd.DataFrame({"fact the case does not state": list(found),
                                   "in the report's Assessment or Plan": list(found.values())}), hide_index=True)
