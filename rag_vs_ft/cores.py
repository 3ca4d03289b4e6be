"""One owner of the cores: the app's heavy jobs share the machine through small files in the data dir.

On 2 cores, llama.cpp's threads and torch's spin against each other: a report written beside a
training, each taking every core, took 5x as long (decode at 0.19x idle; `bench --policies`). So a
visitor's report comes first. While one is being written, the background jobs (a training, an
evaluation, a bench run, a bulk ingest: from the app or the command line) stop at their next
checkpoint (a decoder layer of a training step, forward or backward; a report or a token of an
evaluation; a document of an ingest) and go on when it ends. Background jobs that run together split
the cores between them. `bench` measures what this costs each side (`under_load`).

Each job is a file `DATA/cores/KIND.PID.N` (a scratch store shares its parent's: `config.scratch`); a
visitor's report touches its file as it streams. A file whose process is gone, or a visitor's that
stopped streaming a while ago, counts for nothing, so a crash never blocks anyone.
"""
from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import os
import time
from pathlib import Path

from .config import Config

VISITOR = "report"                 # the kind of an interactive report
SERVE = "serve"                    # the app's process, while it holds a model (says so to the CLI)
STALE_S = 30.0                     # a visitor's file untouched this long is a report left unfinished
POLL_S = 0.05                      # how often a paused job looks again
_background: contextvars.ContextVar[str | None] = contextvars.ContextVar("background", default=None)
_count = itertools.count()
paused_s = 0.0                     # this process's time spent paused for visitors (the bench reports it)


def total(cfg: Config) -> int:
    return cfg.threads or os.cpu_count() or 1


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a finished child of ours is a zombie until reaped: reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def jobs(cfg: Config) -> list[dict]:
    """The live jobs: kind, pid, and since when; files of dead processes are removed."""
    found = []
    folder = cfg.cores_dir
    if not folder.is_dir():
        return found
    now = time.time()
    for entry in os.scandir(folder):
        kind, _, rest = entry.name.partition(".")
        pid = rest.partition(".")[0]
        if not pid.isdigit():
            continue
        if not alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
            continue
        try:
            touched = entry.stat().st_mtime
        except OSError:  # ended while we looked
            continue
        if kind == VISITOR and now - touched > STALE_S:
            continue
        found.append({"kind": kind, "pid": int(pid), "touched": touched})
    return found


@contextlib.contextmanager
def _job(cfg: Config, kind: str):
    folder = cfg.cores_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.{os.getpid()}.{next(_count)}"
    path.write_text(json.dumps({"kind": kind, "pid": os.getpid(), "since": time.time()}))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def announce(cfg: Config, kind: str = SERVE) -> None:
    """Mark this process as `kind` for as long as it lives (the app: a model is loaded and serving)."""
    folder = cfg.cores_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{kind}.{os.getpid()}.0").write_text(json.dumps({"kind": kind, "pid": os.getpid()}))


def in_background() -> str | None:
    """The kind of background job this thread works for, or None for a visitor's request."""
    return _background.get()


@contextlib.contextmanager
def background(cfg: Config, kind: str):
    """Run the block as a background job of `kind`: it gives way to visitors and shares the cores."""
    token = _background.set(kind)
    try:
        with _job(cfg, kind):
            yield
    finally:
        _background.reset(token)


@contextlib.contextmanager
def visitor(cfg: Config):
    """Mark a visitor's report as being written; `beat()` the yielded path as it streams."""
    if in_background():
        yield None
        return
    with _job(cfg, VISITOR) as path:
        yield path


def beat(path: Path | None) -> None:
    """A visitor's report is still streaming (so its file is not taken for a left-over one)."""
    if path is not None:
        with contextlib.suppress(OSError):
            os.utime(path)


def visitors(cfg: Config, others_only: bool = False) -> bool:
    """Whether a visitor's report is being written (`others_only`: by another process)."""
    me = os.getpid()
    return any(j["kind"] == VISITOR and not (others_only and j["pid"] == me) for j in jobs(cfg))


def pause(cfg: Config, others_only: bool = False) -> float:
    """A background job's checkpoint: wait while a visitor's report is being written; seconds waited.
    A job that holds something a visitor of its own process needs (the model's lock) passes
    `others_only`, and gives way to its own process's visitors where it holds nothing."""
    global paused_s
    if not in_background():
        return 0.0
    start = time.perf_counter()
    while visitors(cfg, others_only):
        time.sleep(POLL_S)
    waited = time.perf_counter() - start
    paused_s += waited
    return waited


def threads(cfg: Config) -> int:
    """This job's share: every core for a visitor (the others pause), else the cores split evenly
    among the background jobs running now."""
    if not in_background():
        return total(cfg)
    n = sum(j["kind"] not in (VISITOR, SERVE) for j in jobs(cfg))
    return max(1, total(cfg) // max(1, n))


def serving(cfg: Config) -> list[int]:
    """Processes of the app serving from this data dir, other than this one."""
    return sorted({j["pid"] for j in jobs(cfg) if j["kind"] == SERVE and j["pid"] != os.getpid()})


def checkpoints(cfg: Config, model) -> None:
    """Give way to visitors inside a training step: before every decoder layer, forward and backward
    (a step of the shipped training takes ~7-10 s, far longer than a report)."""
    layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")] or [model]

    def after_grad(grad):
        pause(cfg)

    def before(module, args, kwargs):
        pause(cfg)
        hidden = args[0] if args else kwargs.get("hidden_states")
        if getattr(hidden, "requires_grad", False):  # backward reaches this layer's input: pause there too
            hidden.register_hook(after_grad)
    for layer in layers:
        layer.register_forward_pre_hook(before, with_kwargs=True)
