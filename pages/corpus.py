"""Research corpus: upload (several at once), browse, preview chunks, delete, see freshness and the log.
Uploaded text is data: shown only in tables and plain text, never as markdown or HTML."""
import altair as alt
import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import corpus, index
from rag_vs_ft.errors import UserError

cfg = ui.page_header("Research corpus")

with st.form("upload", clear_on_submit=True):
    files = st.file_uploader("Upload new research", accept_multiple_files=True,
                             type=[ext.lstrip(".") for ext in corpus.SUPPORTED],
                             max_upload_size=cfg.upload_limit_mb,  # the browser refuses bigger files
                             help=f"PDF, TXT, Markdown, Word or HTML; at most {cfg.max_upload_mb:g} MB each. "
                                  "Re-uploading a file with the same name replaces its old version.")
    given = st.date_input("Publication date, for files that state none", None,
                          help="Used only where the document's text and metadata give no date; "
                               "without one a document shows 'date unknown' and never counts as newest.")
    submitted = st.form_submit_button("Ingest", type="primary")
if submitted and files:
    st.session_state.pop("docs", None)  # row numbers shift when documents arrive
    bar = st.progress(0.0)
    with st.status(f"Ingesting {len(files)} file(s)…", expanded=True) as status:
        def progress(done, total, what):
            bar.progress(done / max(total, 1), text=f"{done}/{total}")
            if done < total:
                st.text(f"reading {what}")
        refused = {}
        for f in files:  # by size first: an oversized file is never copied into memory
            try:
                corpus.check_size(f.name, f.size, cfg)
            except UserError as e:
                refused[f.file_id] = {"file": f.name, "error": str(e)}
        result = index.ingest(cfg, [(f.name, f.getvalue()) for f in files if f.file_id not in refused],
                              progress, given_date=given.isoformat() if given else None)
        result.errors += list(refused.values())
        state = "error" if result.errors else "complete"
        status.update(label=f"Added {result.added}, updated {result.updated}, skipped {result.skipped}, "
                            f"deleted {result.deleted} chunks", state=state, expanded=bool(result.errors))
    undated = [d["id"] for d in result.documents if not d["published"]]
    if undated:
        st.warning(f"No publication date found in {', '.join(undated)}: upload again with a date above, "
                   "or it stays 'date unknown'.")
    if result.errors:
        st.error(f"{len(result.errors)} file(s) were not ingested; the others were.")
        st.dataframe(pd.DataFrame(result.errors), hide_index=True, width="stretch")

docs = index.documents(cfg)
if not docs:
    st.info("No documents indexed yet: upload some research above.")
    st.stop()

st.subheader(f"{len(docs)} documents")
table = pd.DataFrame(docs)[["id", "title", "source", "published", "chunks", "ingested_at"]]
table["published"] = table["published"].replace("", "date unknown")
table["flags"] = ["instruction-like text: " + "; ".join(d["flags"]) if d.get("flags") else "" for d in docs]
if flagged := [d["id"] for d in docs if d.get("flags")]:
    st.warning(f"Instruction-like text found in {', '.join(flagged)}: such documents are shown as retrieved but "
               "never copied into a report. Check them before relying on them.")
picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                      key="docs")
rows = [r for r in picked.selection.rows if r < len(docs)]
if rows:
    doc = docs[rows[0]]
    st.text(f"{doc['title']} — {doc['source']}, published {doc['published'] or 'date unknown'} "
            f"({doc['published_from']})")
    if st.button(f"Delete {doc['id']}", type="secondary"):
        n = index.remove(cfg, doc["id"])
        st.toast(f"Deleted {doc['id']}: {n} chunks")
        st.session_state.pop("docs", None)  # the old row number would now point at another document
        st.rerun()
    chunks = index.chunks_of(cfg, doc["id"])
    st.dataframe(pd.DataFrame(chunks)[["chunk", "section", "text"] + (["page"] if "page" in chunks[0] else [])],
                 hide_index=True, width="stretch")
else:
    st.caption("Select a document to preview its chunks or delete it.")

st.subheader("Freshness")
years = pd.DataFrame({"year": [d["published"][:4] or "unknown" for d in docs]}).value_counts().reset_index()
a, b = st.columns([1, 3])
a.metric("Oldest", min((d["published"] for d in docs if d["published"]), default="–"))
a.metric("Newest", max((d["published"] for d in docs if d["published"]), default="–"))
b.altair_chart(alt.Chart(years).mark_bar().encode(x="year:O", y=alt.Y("count:Q", title="documents")),
               width="stretch")

log = index.catalog(cfg)["log"]
if log:
    st.subheader("Recent changes")
    st.dataframe(pd.DataFrame(log[::-1]).astype(str), hide_index=True, width="stretch")
