"""The same ingest / update / remove contract against a real Chroma server (`chroma run`), selected
with CHROMA_HOST / CHROMA_PORT; nothing may be written to the local embedded store then."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag_vs_ft import config, index
from test_ingest import assert_consistent, cli, ingest, md, one_line_error, sections

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path, data_dir, monkeypatch):
    """A `chroma run` server on 127.0.0.1 with its own data folder; always stopped afterwards."""
    path, port = tmp_path / "chroma-server", free_port()
    log = open(tmp_path / "chroma-server.log", "wb")
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "chroma-server.log").read_text(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "chroma server did not start"
            time.sleep(0.1)
        monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
        monkeypatch.setenv("CHROMA_PORT", str(port))
        yield {"path": path, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def server_count(port: int) -> int:
    import chromadb
    from chromadb.config import Settings
    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False))
    return client.get_collection("research").count()


def test_ingest_update_remove_on_server(chroma_server):
    cfg = config.load()
    assert (cfg.chroma_host, cfg.chroma_port) == ("127.0.0.1", chroma_server["port"])

    v1 = md("Server trial", {"Intro": "OLDMARK zebra findings later retracted.", **sections(2, "v1")},
            published="2018-01-01")
    r = ingest(cfg, ("trial.md", v1), ("note.txt", b"Note on potassium binders.\n"))
    assert (r.added, r.updated, r.skipped, r.deleted, r.errors) == (4, 0, 0, 0, [])
    assert [(d["id"], d["chunks"]) for d in r.documents] == [("trial", 3), ("note", 1)]
    assert_consistent(cfg, 4)
    assert server_count(chroma_server["port"]) == 4
    assert not cfg.chroma_dir.exists(), "nothing may go to the embedded store when a server is set"
    assert any(chroma_server["path"].iterdir())

    r = ingest(cfg, ("trial.md", v1))
    assert (r.added, r.updated, r.skipped, r.deleted, r.errors) == (0, 0, 3, 0, [])

    r = ingest(cfg, ("trial.md", md("Server trial", sections(2, "v2"), published="2021-01-01")))
    assert (r.added, r.updated, r.skipped, r.deleted, r.errors) == (2, 0, 0, 3, [])
    assert_consistent(cfg, 3)
    assert index.vector_store(cfg).get(where_document={"$contains": "OLDMARK"}, include=[])["ids"] == []
    hits = index.retrieve(cfg, "zebra findings later retracted", k=3)
    assert len(hits) == 3 and not any("OLDMARK" in d.page_content for d, _ in hits)
    assert [d.metadata["doc_id"] for d, _ in index.retrieve(cfg, "potassium", k=3, as_of="2020-12-31")] == []

    assert index.remove(cfg, "trial") == 2
    assert_consistent(cfg, 1)
    assert server_count(chroma_server["port"]) == 1
    assert [d["id"] for d in index.documents(cfg)] == ["note"]

    r = index.reindex(cfg)
    assert (r.added, r.errors) == (1, [])
    assert_consistent(cfg, 1)
    assert not cfg.chroma_dir.exists()


def test_cli_uses_the_server(chroma_server, tmp_path):
    cfg = config.load()
    (tmp_path / "cli.md").write_bytes(md("CLI doc", sections(3, "cli"), published="2020-03-03"))
    r = cli("ingest", str(tmp_path / "cli.md"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 3
    assert server_count(chroma_server["port"]) == 3
    assert_consistent(cfg, 3)
    assert index.remove(cfg, "cli") == 3
    assert server_count(chroma_server["port"]) == 0
    assert_consistent(cfg, 0)
    assert not cfg.chroma_dir.exists()


def test_unreachable_server_is_a_one_line_error(data_dir, monkeypatch):
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(free_port()))  # nothing listens there
    r = cli("remove", "anything", "--json", timeout=60)
    assert r.returncode != 0
    line = one_line_error(r.stderr)
    assert line.startswith("error:") and "Chroma" in line and os.environ["CHROMA_PORT"] in line
