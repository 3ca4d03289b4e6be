"""Overview: what the lab shows and what is loaded right now."""
import streamlit as st

import ui
from rag_vs_ft import index

cfg = ui.page_header("RAG or fine-tuning?")
st.markdown(
    "A team fine-tuned a small model on a small set of medical reports; it overfit and went stale. "
    "Retrieval over the latest research made the reports accurate and current. This lab replays that "
    "story on your laptop, offline: same small model, closed book (fine-tuned) versus open book (RAG).")
docs = index.documents(cfg)
left, mid, right = st.columns(3)
left.metric("Documents indexed", len(docs))
mid.metric("Chunks", sum(d["chunks"] for d in docs))
right.metric("Newest research", max((d["published"] for d in docs), default="–"))
st.page_link("pages/corpus.py", label="Upload new research or browse the corpus", icon="📚")
