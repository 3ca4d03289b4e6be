"""Two things every writer of the data dir needs: a JSON file replaced whole, and a lock held across
threads and processes (the app's sessions, the CLI)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from pathlib import Path


@contextlib.contextmanager
def lock(path: Path, wait: bool = True):
    """Hold an exclusive lock on `path` (created if missing); yields the open file, so a holder can
    leave a note in it. With `wait=False`, raises BlockingIOError at once if another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_json(path: Path, data) -> None:
    """Written beside `path` under a name of this process and thread, then renamed: a reader, or a
    process killed half-way, sees the old file or the new one, never half of one."""
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.part")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
