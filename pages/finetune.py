"""Fine-tune: train a LoRA adapter in the background, watch train vs validation loss, see memorization."""
import time

import altair as alt
import pandas as pd
import streamlit as st

import ui
from rag_vs_ft import bench, cases, decide, finetune, memorize

cfg = ui.page_header("Fine-tune the small model")
data = cases.load_training(cfg)
train, val = cases.split(data)
st.caption(f"{len(train)} training and {len(val)} validation cases; their reports reflect practice as of "
           f"{data['cutoff']}. A small dataset: watch the validation loss.")


def curves(history: list[dict]):
    df = pd.DataFrame(history)
    if df.empty:
        return st.caption("No losses logged yet.")
    st.altair_chart(alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("step:Q"), y=alt.Y("loss:Q", title="loss (report tokens)"),
        color=alt.Color("split:N", scale=alt.Scale(domain=["train", "validation"]))), width="stretch")
    last = df.groupby("split")["loss"].last()
    if {"train", "validation"} <= set(last.index):
        a, b, c = st.columns(3)
        a.metric("Train loss", f"{last['train']:.3f}")
        b.metric("Validation loss", f"{last['validation']:.3f}")
        c.metric("Gap", f"{last['validation'] - last['train']:.3f}",
                 help="Validation minus train loss: a growing gap means the adapter memorizes its data.")


with st.expander("Train a new adapter", expanded=False):
    with st.form("train"):
        name = st.text_input("Name", f"finetuned-{time.strftime('%m%d-%H%M')}")
        a, b, c = st.columns(3)
        epochs = a.number_input("Epochs", 0.5, 30.0, 4.0, 0.5)
        lr = b.number_input("Learning rate", 1e-5, 1e-2, 2e-3, format="%.0e")
        rank = c.selectbox("LoRA rank", [4, 8, 16, 32], index=1)
        early = st.checkbox("Early stopping on validation loss", True,
                            help="Turn off to train every epoch and watch the adapter overfit.")
        limit = st.number_input("Use only the first N training cases (0 = all)", 0, len(train), 0)
        go = st.form_submit_button("Start training", type="primary")
    if go:
        ts = finetune.TrainSettings(epochs=epochs, lr=lr, rank=rank, alpha=2 * rank,
                                    early_stopping=3 if early else 0, limit=int(limit))
        try:
            finetune.start(cfg, name, ts)
            st.session_state["run"] = name
        except Exception as e:  # a name clash is the likely one; say it plainly
            st.error(str(e))


@st.fragment(run_every=2)
def watch(name: str):
    state = finetune.progress_of(cfg, name)
    done = state.get("done") or state.get("status") == "failed"
    st.progress(state["step"] / state["max_steps"] if state.get("max_steps") else 0.0,
                text=f"{name}: {state.get('status')} · step {state.get('step')}/{state.get('max_steps') or '?'}"
                     f" · epoch {state.get('epoch')} · ETA {state.get('eta_s') or '?'} s")
    if not done:
        st.caption(bench.under_load_text(decide.load_bench(cfg)))
    curves(state.get("history", []))
    if state.get("status") == "failed":
        st.error("Training failed; the end of its log:")
        st.code(state.get("log", ""))
    if not done and st.button("Cancel training"):
        finetune.cancel(cfg, name)
    if done:
        st.session_state.pop("run", None)


if run := st.session_state.get("run"):
    watch(run)

adapters = [a for a in finetune.list_adapters(cfg) if a.get("kind") == "closed-book"]
if not adapters:
    st.info("No fine-tuned adapter yet: train one above.")
    st.stop()
names = [a["name"] for a in adapters]
chosen = adapters[names.index(st.selectbox("Adapter", names))]
st.subheader(f"Loss curves of '{chosen['name']}'")
st.caption(f"{chosen['steps']} steps, {chosen['epochs']} epochs, {chosen['wall_s']} s on {chosen['device']}; "
           f"kept the {chosen['kept']} (best validation loss {chosen['best_val_loss']} at step {chosen['best_step']}).")
curves(chosen["history"])

st.subheader("Memorization")
st.caption("Share of the report's 8-word sequences found verbatim in a training report; copied spans "
           "are marked in the nearest training report.")
heldout = cases.load_heldout(cfg)
case = st.selectbox("Held-out case", [c["case"] for c in heldout])
if st.button("Write a report with this adapter"):
    r = ui.reporter(str(cfg.data_dir)).report(case, "finetuned", adapter=chosen["name"])
    reports = [c["report"] for c in data["cases"]]
    o = memorize.overlap(r.text, reports)
    st.metric("Copied 8-grams", f"{o['share']:.0%}")
    left, right = st.columns(2)
    left.markdown("**Generated report** (copied spans highlighted)")
    shown, last = [], 0
    for a, b in o["copied"]:
        shown += [ui.escape(r.text[last:a]), f":orange-background[{ui.escape(r.text[a:b])}]"]
        last = b
    left.markdown("".join(shown + [ui.escape(r.text[last:])]))
    if o["nearest"] is not None:
        right.markdown(f"**Nearest training report** ({o['nearest_share']:.0%} of 8-grams shared)")
        right.text(reports[o["nearest"]])
