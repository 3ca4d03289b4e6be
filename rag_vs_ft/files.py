"""Writing a JSON file so that a reader, or a process killed half-way, sees the old file or the new
one, never half of one: written beside it under a name of this process and thread, then renamed."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path


def write_json(path: Path, data) -> None:
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.part")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
