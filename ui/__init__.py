"""What every page shares: config, models loaded once per process, the notice, first-start setup,
escaping. The only module besides the pages that imports streamlit; all logic stays in rag_vs_ft."""
from __future__ import annotations

import streamlit as st

from rag_vs_ft import comparison, config, cores, embedder, generate, index, models

NOTICE = generate.NOTICE


def settings() -> config.Config:
    return config.load()  # cheap; read per run so tests and users can point it elsewhere


@st.cache_resource(show_spinner="Loading the language model and its adapters…")
def _reporter(data_dir: str) -> generate.Reporter:
    cfg = settings()
    reporter = generate.Reporter(cfg)
    cores.announce(cfg)  # a training or evaluation from the command line sees the app serving
    return reporter


def reporter(data_dir: str) -> generate.Reporter:
    """One model per process, shared by every visitor: each request names its own adapter
    (`stream(..., adapter=...)`) and generation is serialized, so no visitor changes another's report."""
    return _reporter(data_dir)


def _prepare(cfg: config.Config) -> None:
    """First start: convert the shipped model and index the seed corpus, with visible progress.
    Plain file checks decide, so later runs draw nothing (a cached function would replay its spinner)."""
    if models.prepared(cfg) and embedder.ready(cfg) and index.seeded(cfg):
        return
    with st.status("Preparing (first start only)…", expanded=True) as status:
        st.write("Converting the packaged models to fast local copies…")
        models.prepare_generator(cfg)
        embedder.export(cfg)
        bar = st.progress(0.0, "Indexing the research corpus…")
        index.seed(cfg, lambda done, total, what: bar.progress(done / max(total, 1), f"Indexing {what}"))
        status.update(label="Ready", state="complete", expanded=False)


def page_header(title: str) -> config.Config:
    st.title(title)
    st.warning(NOTICE, icon="⚕️")
    cfg = settings()
    _prepare(cfg)
    return cfg


escape = comparison.escape  # model or uploaded text as inert markdown
