"""LoRA fine-tuning of the small model on case -> report pairs, with the overfitting made visible.

    python -m rag_vs_ft finetune                         # train on the shipped cases
    python -m rag_vs_ft finetune --epochs 12 --no-early-stopping --name overfit
    python -m rag_vs_ft finetune --base ~/models/MyModel-Instruct --name mine  # another base (RAG_VS_FT_BASE)
    accelerate launch -m rag_vs_ft finetune --name multi  # several GPUs; CUDA is used when present

Loss counts report tokens only. Train and validation loss are logged every few steps to
progress.json (the app polls it); a file named CANCEL in the run folder stops training. The adapter
is saved with a manifest: base model and its hash, data hash and cutoff, settings, the whole loss
history. An adapter runs only on the base it was trained on (`check_base`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import cases, cores, models, prompts
from .config import Config, REPO
from .errors import UserError
from .files import lock, write_json

SHIPPED = REPO / "adapters"       # committed adapters, used until the user trains and picks another
DEFAULT = "finetuned"             # the shipped closed-book adapter's name
READER = "reader"                 # the shipped open-book reader adapter's name (see reader.py)


@dataclass
class TrainSettings:
    rank: int = 8                 # LoRA rank: 8 on every linear layer is ~10 MB and learns the format
    alpha: int = 16               # LoRA scaling (alpha / rank = 2)
    dropout: float = 0.05
    targets: str = "all-linear"   # or a comma list such as "q_proj,v_proj"
    lr: float = 2e-3              # high for LoRA on a tiny model: it learns the format in one epoch
    epochs: float = 4.0           # enough to overfit; early stopping keeps the best validation step
    batch: int = 4
    max_len: int = 384            # tokens per example (prompt + report)
    eval_every: int = 5           # steps between validation losses
    early_stopping: int = 3       # evaluations without improvement before stopping; 0 = never stop
    limit: int = 0                # train on the first N examples only (tests, quick demos); 0 = all
    seed: int = 1234


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: str) -> str:
    """An adapter's name becomes a folder name: letters, digits, '.', '_' and '-' only, never a path."""
    if not NAME.fullmatch(name or "") or ".." in name:
        raise UserError(f"adapter name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
                        "(no spaces, '/' or '..')")
    return name


@contextlib.contextmanager
def training_slot(cfg: Config, name: str):
    """One training at a time, across app sessions and the CLI: each needs ~7 GB and every core."""
    path = cfg.data_dir / "training.lock"
    with contextlib.ExitStack() as stack:
        try:
            f = stack.enter_context(lock(path, wait=False))
        except BlockingIOError:
            raise UserError(f"training {path.read_text().strip() or 'another adapter'!r} is still running: one "
                            "training at a time (each needs ~7 GB and every core); wait for it to finish "
                            "or cancel it") from None
        f.seek(0)
        f.truncate()
        f.write(name)  # who holds it, for the next one's message
        f.flush()
        yield


def adapter_dir(cfg: Config, name: str) -> Path:
    """A user's adapter in the data dir, or a shipped one from the repo."""
    own = cfg.adapters_dir / check_name(name)
    return own if (own / "manifest.json").is_file() else SHIPPED / name


def read_manifest(path: Path) -> dict:
    m = path / "manifest.json"
    return json.loads(m.read_text()) if m.is_file() else {}


def check_base(name: str, manifest: dict, base: models.Base) -> None:
    """Refuse an adapter on a base it was not trained on: its LoRA deltas mean nothing on other weights."""
    trained_on = manifest.get("base_model_sha256")
    if trained_on == base.sha256:
        return
    was = (f"{manifest.get('base_model_path') or manifest.get('base_model')} (sha256 {trained_on[:12]})"
           if trained_on else "a base its manifest does not record")
    reader = " --reader" if manifest.get("kind") == "reader" else ""
    raise UserError(f"adapter {name!r} was trained on {was}, not on the base in use, {base.name} (sha256 "
                    f"{base.sha256[:12]}): train it on this base (`python -m rag_vs_ft finetune --base {base.source} "
                    f"--name {name}{reader}`) or set RAG_VS_FT_BASE to the base it was trained on")


def list_adapters(cfg: Config) -> list[dict]:
    found = {}
    for root in (SHIPPED, cfg.adapters_dir):
        for m in sorted(root.glob("*/manifest.json")) if root.is_dir() else []:
            found[m.parent.name] = {"name": m.parent.name, "path": str(m.parent), **json.loads(m.read_text())}
    return list(found.values())


def encode(tok, messages: list[dict] | None, target: str, max_len: int) -> dict:
    """Token ids with labels only on the target (the report), so loss counts report tokens only.
    With no messages, every token is a label: plain text for continued training."""
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                     return_dict=True)["input_ids"] if messages else []
    answer = tok(target.strip() + tok.eos_token, add_special_tokens=False)["input_ids"]
    ids = (prompt + answer)[:max_len]
    labels = ([-100] * len(prompt) + answer)[:max_len]
    return {"input_ids": ids, "labels": labels}


def report_examples(items: list[dict]) -> list[tuple[list[dict], str]]:
    return [(prompts.closed_book(c["case"]), c["report"]) for c in items]


class _Collate:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows):
        import torch
        n = max(len(r["input_ids"]) for r in rows)
        pad = lambda seq, v: seq + [v] * (n - len(seq))
        return {"input_ids": torch.tensor([pad(r["input_ids"], self.pad_id) for r in rows]),
                "labels": torch.tensor([pad(r["labels"], -100) for r in rows]),
                "attention_mask": torch.tensor([pad([1] * len(r["input_ids"]), 0) for r in rows])}


class _Watch:
    """A training's progress: logs losses, keeps the best adapter, stops early or on CANCEL, gives the
    cores' share at each step, writes progress.json (the app polls it) and calls `progress`."""

    def __init__(self, cfg: Config, out: Path, ts: TrainSettings, progress: Callable[[dict], None] | None):
        self.cfg, self.out, self.ts, self.progress = cfg, out, ts, progress
        self.state = {"status": "training", "step": 0, "max_steps": 0, "epoch": 0.0, "eta_s": None,
                      "history": [], "best_val_loss": None, "best_step": None, "started": time.time()}
        self.bad = 0       # validations in a row without improvement
        self.main = True   # only the first process writes when several train together (accelerate, torchrun)

    def emit(self):
        if self.main:
            write_json(self.out / "progress.json", self.state)
            if self.progress:
                self.progress(self.state)

    def step_begin(self):
        models.use_threads(cores.threads(self.cfg))  # a share of the cores when other jobs run

    def step_end(self, st, control):
        state = self.state
        state.update(step=st.global_step, max_steps=st.max_steps, epoch=round(st.epoch or 0, 3))
        spent = time.time() - state["started"]
        state["eta_s"] = round(spent / st.global_step * (st.max_steps - st.global_step), 1)
        state["paused_s"] = round(cores.paused_s, 2)  # given to visitors' reports so far
        if (self.out / "CANCEL").exists():
            state["status"] = "cancelled"
            control.should_training_stop = True
        self.emit()

    def log(self, st, control, logs: dict, model):
        state, entry = self.state, {"step": st.global_step, "epoch": round(st.epoch or 0, 3)}
        if "loss" in logs:
            state["history"].append({**entry, "split": "train", "loss": round(logs["loss"], 4)})
        if "eval_loss" in logs:
            loss = round(logs["eval_loss"], 4)
            state["history"].append({**entry, "split": "validation", "loss": loss})
            if state["best_val_loss"] is None or loss < state["best_val_loss"]:
                state.update(best_val_loss=loss, best_step=st.global_step)
                if self.main:
                    model.save_pretrained(self.out)  # keep the best adapter as we go
                self.bad = 0
            else:
                self.bad += 1
                if self.ts.early_stopping and self.bad >= self.ts.early_stopping:
                    state["status"] = "stopped early"
                    control.should_training_stop = True
        self.emit()


def _callback(watch: _Watch):
    """`watch` as the Trainer's callback (transformers is imported here: it takes ~4 s to import)."""
    from transformers import TrainerCallback

    class Callback(TrainerCallback):
        def on_train_begin(self, args, st, control, **kw):
            watch.main = st.is_world_process_zero

        def on_step_begin(self, args, st, control, **kw):
            watch.step_begin()

        def on_step_end(self, args, st, control, **kw):
            watch.step_end(st, control)

        def on_log(self, args, st, control, logs=None, **kw):
            watch.log(st, control, logs or {}, kw["model"])
    return Callback()


def train(cfg: Config, out: Path, train_ex, val_ex, ts: TrainSettings, data_file: Path, cutoff: str,
          progress: Callable[[dict], None] | None = None, kind: str = "closed-book",
          start_from: Path | None = None) -> dict:
    """Train a LoRA adapter into `out`; return its manifest. Progress dicts go to `progress`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments, set_seed

    set_seed(ts.seed)
    base = models.base(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "CANCEL").unlink(missing_ok=True)
    model, tok = models.load_generator(cfg, dtype="float32")
    model.config.use_cache = False
    targets = ts.targets if ts.targets == "all-linear" else ts.targets.split(",")
    if start_from:  # continue training an existing adapter
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(start_from), is_trainable=True)
    else:
        model = get_peft_model(model, LoraConfig(r=ts.rank, lora_alpha=ts.alpha, lora_dropout=ts.dropout,
                                                 target_modules=targets, task_type="CAUSAL_LM"))
    cores.checkpoints(cfg, model)  # a visitor's report pauses the training inside a step
    if ts.limit:
        train_ex, val_ex = train_ex[:ts.limit], val_ex[:max(2, ts.limit // 4)]
    enc = lambda exs: [encode(tok, m, t, ts.max_len) for m, t in exs]
    train_rows, val_rows = enc(train_ex), enc(val_ex)
    if not any(label != -100 for r in train_rows for label in r["labels"]):  # a loss of 0.0 that moves nothing
        raise UserError(f"max_len {ts.max_len} ends every training example before its report begins, so there "
                        f"is nothing to learn: raise --max-len (the default is {TrainSettings.max_len})")

    watch = _Watch(cfg, out, ts, progress)
    state = watch.state

    args = TrainingArguments(
        output_dir=str(out / "trainer"), per_device_train_batch_size=ts.batch,
        per_device_eval_batch_size=ts.batch, learning_rate=ts.lr, num_train_epochs=ts.epochs,
        lr_scheduler_type="constant_with_warmup", warmup_steps=3, logging_steps=ts.eval_every,
        logging_first_step=True, eval_strategy="steps", eval_steps=ts.eval_every, eval_on_start=True,
        save_strategy="no", report_to=[], seed=ts.seed, data_seed=ts.seed, disable_tqdm=True,
        dataloader_num_workers=0, remove_unused_columns=False)
    t0 = time.time()
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows,
                      data_collator=_Collate(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id),
                      callbacks=[_callback(watch)])
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)  # Watch reports progress; keep stdout for --json
    with cores.background(cfg, "train"):
        trainer.train()
    if not trainer.is_world_process_zero():
        return {}
    if not ts.early_stopping or state["best_val_loss"] is None:
        model.save_pretrained(out)  # early stopping off: ship the last weights, overfit or not
    if state["status"] == "training":
        state["status"] = "finished"
    manifest = {
        "created": dt.datetime.now().isoformat(timespec="seconds"), "kind": kind,
        "base_model_sha256": base.sha256, "base_model": base.source.name, "base_model_path": str(base.source),
        "data_file": data_file.name, "data_sha256": cases.data_hash(data_file), "data_cutoff": cutoff,
        "train_examples": len(train_rows), "val_examples": len(val_rows), "settings": asdict(ts),
        "steps": state["step"], "epochs": state["epoch"], "status": state["status"],
        "best_val_loss": state["best_val_loss"], "best_step": state["best_step"],
        "kept": "best validation loss" if ts.early_stopping else "last step",
        "history": state["history"], "wall_s": round(time.time() - t0, 1),
        # the training process's peak so far (Linux reports KiB), as bench measures it; Decide quotes it
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None,
        "device": "cuda" if torch.cuda.is_available() else "cpu", "torch_threads": torch.get_num_threads(),
        "started_from": str(start_from) if start_from else None,
    }
    write_json(out / "manifest.json", manifest)
    write_json(out / "progress.json", {**state, "status": state["status"], "done": True})
    import shutil
    shutil.rmtree(out / "trainer", ignore_errors=True)
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model card
    return manifest


def finetune(cfg: Config, name: str, ts: TrainSettings, data_file: Path | None = None, overwrite=False,
             ship=False, progress=None, reader=False) -> dict:
    """Train the closed-book adapter on the shipped case -> report set (or another file), or with
    `reader` the open-book reader adapter on the same cases with research passages."""
    check_name(name)
    data_file = Path(data_file or cases.train_path(cfg))
    if not data_file.is_file():
        raise UserError(f"training data not found: {data_file}")
    out = (SHIPPED if ship else cfg.adapters_dir) / name
    if (out / "manifest.json").exists() and not overwrite:
        raise UserError(f"adapter {name!r} exists at {out}; pick another --name or pass --overwrite")
    data = cases.load_training(cfg, data_file)
    with training_slot(cfg, name):
        if reader:
            from .reader import reader_examples
            tr, va = reader_examples(cfg, data, ts.seed)
            return train(cfg, out, tr, va, ts, data_file, data["cutoff"], progress, kind="reader")
        tr, va = cases.split(data)
        return train(cfg, out, report_examples(tr), report_examples(va), ts, data_file, data["cutoff"], progress)


def continue_on_documents(cfg: Config, adapter: str, files: list[Path], out: Path, epochs: float = 6,
                          progress=None) -> dict:
    """Fine-tuning's fair try at new knowledge (as Ovadia et al. did): keep training the adapter on
    the new documents' plain text, next-token loss on every token."""
    from . import corpus
    texts = []
    for f in files:
        doc = corpus.read(f.name, f.read_bytes(), cfg)
        texts += [c.page_content for c in corpus.chunk(doc, cfg)]
    examples = [(None, t) for t in texts]
    ts = TrainSettings(epochs=epochs, lr=5e-4, eval_every=4, early_stopping=0, batch=4, max_len=256)
    data = cases.train_path(cfg)
    with training_slot(cfg, out.name):
        return train(cfg, out, examples, examples[-2:], ts, data, cases.load_training(cfg)["cutoff"], progress,
                     kind="continued", start_from=adapter_dir(cfg, adapter))


# ---------------------------------------------------------------- background runs (the app's way)

def start(cfg: Config, name: str, ts: TrainSettings, reader: bool = False) -> Path:
    """Train in a separate process so the UI stays responsive; returns the run folder to poll."""
    import subprocess
    import sys
    out = cfg.adapters_dir / check_name(name)
    if (out / "manifest.json").exists() or (SHIPPED / name).exists():
        raise UserError(f"an adapter named {name!r} exists; pick another name")
    with training_slot(cfg, name):  # refuse now, not in the background process's log
        pass
    out.mkdir(parents=True, exist_ok=True)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in asdict(ts).items() if k != "early_stopping"]
    flags += ["--no-early-stopping"] if not ts.early_stopping else [f"--early-stopping={ts.early_stopping}"]
    cmd = [sys.executable, "-m", "rag_vs_ft", "finetune", "--name", name, "--data-dir", str(cfg.data_dir),
           *flags, *(["--reader"] if reader else [])]
    env = {**os.environ, "RAG_VS_FT_MODELS": str(cfg.models_dir), "RAG_VS_FT_CORES": str(cfg.cores_dir),
           "RAG_VS_FT_THREADS": str(cfg.threads or ""),  # the same models and the same share of the cores
           "RAG_VS_FT_BASE": str(cfg.base_model or "")}  # and the same base
    with open(out / "train.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
                                env=env)
    (out / "pid").write_text(str(proc.pid))
    write_json(out / "progress.json", {"status": "starting", "step": 0, "max_steps": 0, "epoch": 0,
                                        "eta_s": None, "history": []})
    return out


def _pid(cfg: Config, name: str) -> int | None:
    """The process of a background run (`start` writes it)."""
    path = cfg.adapters_dir / name / "pid"
    return int(path.read_text()) if path.is_file() else None


def progress_of(cfg: Config, name: str) -> dict:
    """The latest progress of a run; 'failed' when its process died without finishing."""
    out = cfg.adapters_dir / name
    state = json.loads((out / "progress.json").read_text()) if (out / "progress.json").is_file() else {}
    pid = _pid(cfg, name)
    if state and not state.get("done") and pid and not cores.alive(pid):
        state["status"] = "failed"
        state["log"] = (out / "train.log").read_text()[-2000:] if (out / "train.log").is_file() else ""
    return state


def cancel(cfg: Config, name: str) -> None:
    (cfg.adapters_dir / name / "CANCEL").touch()


def wait(cfg: Config, name: str, timeout: float) -> bool:
    """Wait for a background run's process to end (a cancelled one stops after its step); whether it did."""
    pid = _pid(cfg, name)
    deadline = time.time() + timeout
    while pid and cores.alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    return not (pid and cores.alive(pid))
