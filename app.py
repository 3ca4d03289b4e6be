"""RAG or fine-tuning? An evidence lab. Run: `make run` (or `streamlit run app.py`)."""
import streamlit as st

st.set_page_config(page_title="RAG or fine-tuning?", page_icon="🩺", layout="wide")

pages = [
    st.Page("pages/home.py", title="Overview", icon="🩺", default=True),
    st.Page("pages/corpus.py", title="Research corpus", icon="📚"),
]
st.navigation(pages).run()
