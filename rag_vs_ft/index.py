"""The research index: Chroma for chunks, LangChain's record manager for what is in it, and a small
catalog of documents. Every document goes in through LangChain's indexing API, one writer at a time
(the one exception, `add_embedded`, is the bench's synthetic filler). Reads that go below LangChain
(several query vectors at once, every chunk for BM25) are here too, so no other module touches Chroma's
collection.

Crash safety: a document is marked pending in the catalog before its chunks are written and
committed after. `reconcile()` (run under the write lock before every write) finishes or undoes
whatever a killed process left, so the store and the record manager always end up agreeing.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import corpus, cores, models
from .config import Config
from .errors import UserError
from .files import lock, write_json

Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass
class IngestResult:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    documents: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "skipped": self.skipped,
                "deleted": self.deleted, "documents": self.documents, "errors": self.errors}


# ---------------------------------------------------------------- stores

def vector_store(cfg: Config):
    """langchain_chroma over an embedded PersistentClient, or a server when CHROMA_HOST is set."""
    import chromadb
    from chromadb.config import Settings
    from langchain_chroma import Chroma
    settings = Settings(anonymized_telemetry=False)
    if cfg.chroma_host:
        try:
            client = chromadb.HttpClient(host=cfg.chroma_host, port=cfg.chroma_port, settings=settings)
        except Exception as e:  # chromadb raises ValueError for a server it cannot reach
            raise UserError(f"cannot reach the Chroma server at {cfg.chroma_host}:{cfg.chroma_port} "
                            "(CHROMA_HOST/CHROMA_PORT); is it running?") from e
    else:
        cfg.chroma_dir.mkdir(parents=True, exist_ok=True)
        _refresh_if_changed_elsewhere(cfg)
        client = chromadb.PersistentClient(path=str(cfg.chroma_dir), settings=settings)
    return Chroma(client=client, collection_name=cfg.collection, embedding_function=models.load_embedder(cfg),
                  collection_configuration={"hnsw": {"space": "cosine"}})


_seen: dict[str, int] = {}  # chroma dir -> catalog stamp this process's client is current with


def state(cfg: Config) -> int:
    """Changes whenever a document is added, replaced or removed (the catalog's write time): what
    caches of the store (BM25, counts) key on."""
    try:
        return _catalog_path(cfg).stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _refresh_if_changed_elsewhere(cfg: Config) -> None:
    """chromadb caches one client per path, and its in-memory search index misses another
    process's writes (the CLI ingesting while the app runs): reopen when the catalog changed."""
    from chromadb.api.shared_system_client import SharedSystemClient
    key, stamp = str(cfg.chroma_dir), state(cfg)
    if key in _seen and _seen[key] != stamp:
        SharedSystemClient.clear_system_cache()
    _seen[key] = stamp


def record_manager(cfg: Config):
    from langchain_classic.indexes import SQLRecordManager
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    where = f"{cfg.chroma_host}:{cfg.chroma_port}" if cfg.chroma_host else "local"
    rm = SQLRecordManager(f"chroma/{where}/{cfg.collection}", db_url=f"sqlite:///{cfg.record_db}")
    rm.create_schema()
    return rm


@contextlib.contextmanager
def write_lock(cfg: Config):
    """One writer at a time, across threads and processes (two app sessions, app + CLI)."""
    with lock(cfg.data_dir / "write.lock"):
        yield


# ---------------------------------------------------------------- catalog (documents, ingest log)

def _catalog_path(cfg: Config) -> Path:
    return cfg.data_dir / "catalog.json"


def catalog(cfg: Config) -> dict:
    path = _catalog_path(cfg)
    return json.loads(path.read_text()) if path.is_file() else {"documents": {}, "log": []}


def _save(cfg: Config, cat: dict) -> None:
    write_json(_catalog_path(cfg), cat)  # a reader sees the old or the new catalog, never half of one
    if str(cfg.chroma_dir) in _seen:
        _seen[str(cfg.chroma_dir)] = state(cfg)  # our own write: our client is already current


def documents(cfg: Config) -> list[dict]:
    """Committed documents, newest publication first; those of unknown date ("") last."""
    docs = [d for d in catalog(cfg)["documents"].values() if not d.get("pending")]
    return sorted(docs, key=lambda d: (d["published"], d["id"]), reverse=True)


def _keep_original(cfg: Config, name: str, data: bytes, sha: str) -> Path:
    """Content-addressed copy of every ingested file, so `reindex` can rebuild from scratch."""
    cfg.uploads_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.uploads_dir / f"{sha}{Path(name).suffix.lower()}"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- writes

def _index(chunks, rm, vs, cleanup="incremental"):
    from langchain_core.indexing import index
    return index(chunks, rm, vs, cleanup=cleanup, source_id_key="doc_id", key_encoder="sha256")


def _doc_id(cat: dict, name: str) -> str:
    """The id a file name already has, else a slug of it that no other file holds: "Notes (1).txt"
    and "notes-1.md" reduce to the same slug and must not replace each other."""
    file_name = corpus.safe_name(name)
    if own := next((d["id"] for d in cat["documents"].values() if d["file_name"] == file_name), None):
        return own
    base = doc_id = corpus.doc_id_for(name)
    n = 1
    while doc_id in cat["documents"]:
        n += 1
        doc_id = f"{base}-{n}"
    return doc_id


def _ingest_one(cfg, cat, rm, vs, name: str, data: bytes, result: IngestResult, given_date=None) -> None:
    doc_id = _doc_id(cat, name)
    old = cat["documents"].get(doc_id)
    if not given_date and old and old.get("published_from") == "given at upload":
        given_date = old["published"]  # a date the user gave once is kept when the file is re-read
    parsed = corpus.read(name, data, cfg, given_date=given_date, doc_id=doc_id)
    twin = next((d for d in cat["documents"].values()
                 if d["sha256"] == parsed.sha256 and d["id"] != parsed.doc_id), None)
    if twin:  # the same bytes under another name would index the same text twice
        raise UserError(f"{parsed.file_name}: same content as {twin['file_name']} (already ingested as "
                        f"{twin['id']}); not ingested twice")
    chunks = corpus.chunk(parsed, cfg)
    original = _keep_original(cfg, parsed.file_name, data, parsed.sha256)
    entry = {**parsed.summary, "file_name": parsed.file_name, "published_from": parsed.published_from,
             "sha256": parsed.sha256, "original": original.name, "topics": parsed.topics, "flags": parsed.flags,
             "chunks": len(chunks), "ingested_at": old["ingested_at"] if old else None}
    cat["documents"][parsed.doc_id] = {**entry, "pending": "ingest"}
    _save(cfg, cat)
    r = _index(chunks, rm, vs)
    changed = r["num_added"] + r["num_updated"] + r["num_deleted"] > 0 or not old
    if changed:
        entry["ingested_at"] = dt.datetime.now().isoformat(timespec="seconds")
    cat["documents"][parsed.doc_id] = entry
    _save(cfg, cat)
    result.added += r["num_added"]
    result.updated += r["num_updated"]
    result.skipped += r["num_skipped"]
    result.deleted += r["num_deleted"]
    result.documents.append({**parsed.summary, "chunks": len(chunks)})


def _remove_keys(rm, vs, doc_id: str) -> int:
    keys = rm.list_keys(group_ids=[doc_id])
    if keys:
        vs.delete(ids=keys)
        rm.delete_keys(keys)
    return len(keys)


def _log(cfg, cat, action: str, result: dict) -> None:
    cat["log"] = (cat["log"] + [{"at": dt.datetime.now().isoformat(timespec="seconds"),
                                 "action": action, **result}])[-200:]
    _save(cfg, cat)


def iter_files(paths: Iterable[str | Path]) -> Iterable[tuple[str, Path]]:
    """(name, path) for each supported file under the given files and folders, sorted."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in corpus.SUPPORTED and f.name.lower() != "readme.md":
                    yield f.name, f
        else:
            yield p.name, p  # a missing file is reported by ingest()


def ingest(cfg: Config, items: Iterable[tuple[str, bytes | Path]], progress: Progress | None = None,
           given_date: str | None = None) -> IngestResult:
    """Ingest (name, bytes-or-path) items. Bad files go to `errors`; good ones are still ingested.
    `given_date` (YYYY-MM-DD) dates the files whose text and metadata state no publication date."""
    items = list(items)
    result, seen = IngestResult(), {}
    with write_lock(cfg):
        vs, rm = vector_store(cfg), record_manager(cfg)
        reconcile(cfg, vs, rm)
        cat = catalog(cfg)
        for i, (name, data) in enumerate(items):
            cores.pause(cfg)  # a bulk ingest from the command line lets a visitor's report go first
            if progress:
                progress(i, len(items), str(name))
            try:
                if isinstance(data, Path):
                    if not data.is_file():
                        raise UserError(f"{name}: no such file")
                    data = data.read_bytes()
                for key in (corpus.safe_name(name), hashlib.sha256(data).hexdigest()):
                    if key in seen:
                        raise UserError(f"{corpus.safe_name(name)}: same document as {seen[key]} in this "
                                        "upload; ingested once")
                    seen[key] = corpus.safe_name(name)
                _ingest_one(cfg, cat, rm, vs, name, data, result, given_date)
            except UserError as e:
                result.errors.append({"file": _display(name), "error": str(e)})
        if progress:
            progress(len(items), len(items), "done")
        _log(cfg, cat, "ingest", {k: v for k, v in result.as_dict().items() if k != "documents"}
             | {"documents": [d["id"] for d in result.documents]})
    return result


def _display(name) -> str:
    try:
        return corpus.safe_name(name)
    except UserError:
        return repr(str(name))


def remove(cfg: Config, doc_id: str) -> int:
    """Delete every chunk of a document; returns how many."""
    with write_lock(cfg):
        vs, rm = vector_store(cfg), record_manager(cfg)
        reconcile(cfg, vs, rm)
        cat = catalog(cfg)
        if doc_id not in cat["documents"]:
            raise UserError(f"no document with id {doc_id!r} (see `docs`)")
        cat["documents"][doc_id]["pending"] = "remove"
        _save(cfg, cat)
        n = _remove_keys(rm, vs, doc_id)
        del cat["documents"][doc_id]
        _log(cfg, cat, "remove", {"document": doc_id, "deleted": n})
    return n


def reindex(cfg: Config, progress: Progress | None = None) -> IngestResult:
    """Drop the store and the records, then ingest every kept original again. Each document is
    marked pending first, so a reindex killed half-way is finished by the next write."""
    result = IngestResult()
    with write_lock(cfg):
        vector_store(cfg).delete_collection()
        cfg.record_db.unlink(missing_ok=True)
        cat = catalog(cfg)
        for d in cat["documents"].values():
            d["pending"] = "ingest"
        _save(cfg, cat)
        reconcile(cfg, vector_store(cfg), record_manager(cfg), result, progress)
        _log(cfg, catalog(cfg), "reindex", {k: v for k, v in result.as_dict().items() if k != "documents"}
             | {"documents": [d["id"] for d in result.documents]})
    return result


def reconcile(cfg: Config, vs=None, rm=None, result: IngestResult | None = None,
              progress: Progress | None = None) -> dict:
    """Make the store, the record manager and the catalog agree after a crash. Needs the write lock."""
    vs, rm = vs or vector_store(cfg), rm or record_manager(cfg)
    cat = catalog(cfg)
    fixed = {"orphans": 0, "missing": 0, "redone": []}
    store_ids = set(vs.get(include=[])["ids"])
    keys = set(rm.list_keys())
    if orphans := sorted(store_ids - keys):     # written to Chroma, never recorded
        vs.delete(ids=orphans)
        fixed["orphans"] = len(orphans)
    if missing := sorted(keys - store_ids):     # recorded, but not in Chroma
        rm.delete_keys(missing)
        fixed["missing"] = len(missing)
    known = set(cat["documents"])
    for group in _groups(rm) - known:  # chunks of documents never committed
        _remove_keys(rm, vs, group)
    redo = [d for d in cat["documents"].values() if d.get("pending") or (missing and d["chunks"] !=
            len(rm.list_keys(group_ids=[d["id"]])))]
    result = result if result is not None else IngestResult()
    for i, d in enumerate(redo):
        if progress:
            progress(i, len(redo), d["file_name"])
        original = cfg.uploads_dir / d["original"]
        if d.get("pending") == "remove" or not original.is_file():
            _remove_keys(rm, vs, d["id"])
            del cat["documents"][d["id"]]
            if d.get("pending") != "remove":
                result.errors.append({"file": d["file_name"], "error": "its kept original is missing; removed"})
        else:
            try:
                _ingest_one(cfg, cat, rm, vs, d["file_name"], original.read_bytes(), result)
            except UserError as e:  # settings changed since (a smaller size limit, say)
                _remove_keys(rm, vs, d["id"])
                del cat["documents"][d["id"]]
                result.errors.append({"file": d["file_name"], "error": str(e)})
        fixed["redone"].append(d["id"])
    if progress and redo:
        progress(len(redo), len(redo), "done")
    _save(cfg, cat)
    return fixed


def _groups(rm) -> set[str]:
    """Every document id the record manager knows (the indexing API's source ids)."""
    from langchain_classic.indexes._sql_record_manager import UpsertionRecord as R
    with rm._make_session() as session:
        rows = session.query(R.group_id).filter(R.namespace == rm.namespace).distinct()
        return {g for (g,) in rows if g}


# ---------------------------------------------------------------- reads

def as_of_filter(as_of: str | None) -> dict | None:
    """Chroma filter for the knowledge timeline: published by `as_of`; undated documents (0) never."""
    if not as_of:
        return None
    return {"$and": [{"published_int": {"$lte": int(as_of.replace("-", ""))}}, {"published_int": {"$gt": 0}}]}


def retrieve(cfg: Config, query: str, k: int | None = None, as_of: str | None = None, vs=None):
    """Top-k chunks by cosine similarity to one query, optionally only from documents published by
    `as_of`: dense retrieval alone (the bench's baseline, the tests'); reports read `retrieve.passages`."""
    vs = vs or vector_store(cfg)
    hits = vs.similarity_search_with_score(query, k=k or cfg.top_k, filter=as_of_filter(as_of))
    return [(doc, 1.0 - distance) for doc, distance in hits]  # cosine distance -> similarity


def nearest(vs, vectors: list[list[float]], n: int, as_of: str | None = None) -> list[list[str]]:
    """The ids of the `n` nearest chunks to each of several query vectors, in one call."""
    return vs._collection.query(query_embeddings=vectors, n_results=n, where=as_of_filter(as_of),
                                include=[])["ids"]  # ids only: 2 ms less at 50k chunks


def size(vs) -> int:
    """Chunks in the store."""
    return vs._collection.count()


PAGE = 5000  # chunks per read of every chunk: one get() of a large store exceeds SQLite's variable limit


def every_chunk(vs) -> Iterator[tuple[list[str], list[str], list[dict]]]:
    """Every chunk as (ids, texts, metadatas), `PAGE` at a time."""
    for offset in range(0, size(vs), PAGE):
        got = vs._collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
        yield got["ids"], got["documents"], got["metadatas"]


def add_embedded(vs, ids: list[str], vectors, texts: list[str], metadatas: list[dict]) -> None:
    """Chunks with vectors already computed, around the ingest path: only for the bench's synthetic
    filler (embedding 50k chunks for real would take a quarter of an hour on 2 cores)."""
    vs._collection.add(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)


def chunks_of(cfg: Config, doc_id: str) -> list[dict]:
    got = vector_store(cfg).get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
    rows = [{"text": t, **m} for t, m in zip(got["documents"], got["metadatas"])]
    return sorted(rows, key=lambda r: r["chunk"])


def count(cfg: Config) -> int:
    return size(vector_store(cfg))


def seeded(cfg: Config) -> bool:
    return _catalog_path(cfg).exists()


def seed(cfg: Config, progress: Progress | None = None) -> IngestResult | None:
    """Index the shipped research corpus on first use (no catalog yet; an emptied corpus stays empty)."""
    if seeded(cfg):
        return None
    return ingest(cfg, iter_files([cfg.corpus_dir / "research"]), progress)
