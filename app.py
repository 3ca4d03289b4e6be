"""RAG or fine-tuning? An evidence lab. Run: `make run` (or `streamlit run app.py`)."""
import streamlit as st

st.set_page_config(page_title="RAG or fine-tuning?", page_icon="🩺", layout="wide")

pages = [
    st.Page("pages/compare.py", title="Compare", icon="🩺", default=True),
    st.Page("pages/corpus.py", title="Research corpus", icon="📚"),
    st.Page("pages/finetune.py", title="Fine-tune", icon="🔧"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="📊"),
    st.Page("pages/votes.py", title="Blind votes", icon="🗳️"),
    st.Page("pages/decide.py", title="Decide", icon="⚖️"),
]
st.navigation(pages).run()
