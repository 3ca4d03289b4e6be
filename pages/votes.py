"""Blind votes: each method's win rate with a 95% interval and, with more than two methods, a
Bradley–Terry ranking with bootstrap intervals; every vote as CSV."""
import altair as alt
import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import generate, votes

cfg = ui.page_header("Blind votes: which reports does the audience prefer?")
st.caption(votes.HOW)
rows = votes.rows(cfg)
if not rows:
    st.info("No votes yet: switch on Blind mode on the Compare page, write reports and vote.")
    st.stop()


@st.cache_data(show_spinner="Ranking (bootstrap)…", max_entries=4)
def tally(n: int, last: int, data_dir: str) -> dict:  # keyed by the votes so far: a new vote recomputes
    return votes.tally(rows)


t = tally(len(rows), rows[-1]["id"], str(cfg.data_dir))
label = lambda m: generate.LABELS.get(m, m)
per = pd.DataFrame([{"method": label(m), "battles": s["battles"], "won": s["wins"], "lost": s["losses"],
                     "tie": s["ties"], "both bad": s["both_bad"], "win rate": s["win_rate"]["mean"],
                     "low": s["win_rate"]["ci95"][0], "high": s["win_rate"]["ci95"][1]}
                    for m, s in t["methods"].items()]).sort_values("win rate", ascending=False)
st.subheader(f"{t['votes']} votes")
st.dataframe(per, hide_index=True, width="stretch")
base = alt.Chart(per).encode(y=alt.Y("method:N", sort="-x", title=None))
st.altair_chart(base.mark_bar().encode(x=alt.X("win rate:Q", scale=alt.Scale(domain=[0, 1]))) +
                base.mark_errorbar().encode(x="low:Q", x2="high:Q"), width="stretch")
if t["bradley_terry"]:
    st.subheader("Bradley–Terry ranking")
    st.dataframe(pd.DataFrame([{"rank": s["rank"], "method": label(m), "score": s["score"], "low": s["ci95"][0],
                                "high": s["ci95"][1]} for m, s in t["bradley_terry"].items()]).sort_values("rank"),
                 hide_index=True, width="stretch")
elif len(t["methods"]) == 2:
    st.caption("Two methods so far: their win rates say it all; a ranking appears once a third is judged.")
st.download_button("Download every vote (CSV)", votes.to_csv(rows), "votes.csv", "text/csv", on_click="ignore")
