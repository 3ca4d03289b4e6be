"""The story panel: replay the story in three clicks, and undo it for the next audience."""
from __future__ import annotations

import streamlit as st

from rag_vs_ft import cases, story

from . import escape


def replay(cfg, history: list[dict]) -> dict | None:
    """Draw the panel; a request for the Compare page when step 1 or 3 was clicked, else None."""
    cutoff = cases.load_training(cfg)["cutoff"]
    st.markdown(story.INTRO)
    # a key: the panel stays open or closed as the user left it
    with st.expander("▶️ Replay the story in three clicks", expanded=True, key="replay"):
        told = story.case(cfg)
        st.caption(escape(f"The case ({told['id']}): {told['case']}"))
        new_docs = story.added(cfg)
        steps = st.columns(3)
        go = {}
        for col, (n, label) in zip(steps, story.STEPS.items()):
            go[n] = col.button(f"{n} · {label}", key=f"story-{n}", width="stretch", type="primary",
                               disabled=(n == 2 and bool(new_docs)) or (n == 3 and not new_docs))
            col.caption(story.LOOK[n])
        if flash := st.session_state.pop("flash", None):
            st.success(flash)
        if new_docs:
            st.caption(escape(f"New research in the index: {', '.join(new_docs)}."))
            if st.button("↩ Remove the new research (reset for the next audience)", key="story-undo"):
                n = story.undo(cfg)
                st.session_state.flash = f"Removed the new research ({n} chunks); step 2 adds it again."
                st.rerun()
        if go[2]:
            bar = st.progress(0.0, "Adding the new research…")
            r = story.add(cfg, lambda done, total, what: bar.progress(done / max(total, 1), f"Indexing {what}"))
            st.session_state.flash = (f"Added {len(r.documents)} documents ({r.added} chunks) to the research index. "
                                      "Nothing was retrained. Now step 3.")
            if r.errors:
                st.session_state.flash += f" Not added: {'; '.join(e['error'] for e in r.errors)}."
            st.rerun()
        for n in (1, 3):
            if go[n]:
                before = next((h for h in reversed(history) if (h.get("story") or {}).get("step") == 1), None)
                return {"case": told["case"], "case_id": told["id"], "modes": story.MODES,
                        "as_of": cutoff if n == 1 else None,
                        "story": {"step": n, "before": before["id"] if before else None, "new_research": new_docs}}
    return None
