"""What every page shares: config, models loaded once per process, the notice, first-start setup.
The only module besides pages/ that imports streamlit; all logic stays in rag_vs_ft."""
from __future__ import annotations

import streamlit as st

from rag_vs_ft import config, index, models

NOTICE = "Demonstration only: not medical advice. Reports are written by a 135M-parameter model."


def settings() -> config.Config:
    return config.load()  # cheap; read per run so tests and users can point it elsewhere


@st.cache_resource(show_spinner="Loading the language model…")
def generator():
    return models.load_generator(settings())


@st.cache_resource(show_spinner=False)
def _ready(data_dir: str) -> bool:
    """First start: convert the shipped model and index the seed corpus, with visible progress."""
    cfg = settings()
    with st.status("Preparing (first start only)…", expanded=True) as status:
        st.write("Converting the packaged model to a fast local copy…")
        models.prepare_generator(cfg)
        bar = st.progress(0.0, "Indexing the research corpus…")
        index.seed(cfg, lambda done, total, what: bar.progress(done / max(total, 1), f"Indexing {what}"))
        status.update(label="Ready", state="complete", expanded=False)
    return True


def page_header(title: str) -> config.Config:
    st.title(title)
    st.warning(NOTICE, icon="⚕️")
    cfg = settings()
    _ready(str(cfg.data_dir))
    return cfg
