"""Ingest through the library and the CLI: every file type, updates, removal, bad input, crashes and
concurrent writers. Documents are small and built in tmp_path, so chunk counts are known exactly
(every section is far below the 600-character chunk size: one section = one chunk)."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag_vs_ft import config, corpus, index
from rag_vs_ft.errors import UserError

TODAY = dt.date(2024, 6, 1)


# ---------------------------------------------------------------- building test files

def md(title: str, sections: dict[str, str], published: str | None = None, source: str | None = None,
       heading: bool = True) -> bytes:
    """Markdown with YAML front matter and one '##' section per entry."""
    front = ["---", f'title: "{title}"']
    if published:
        front.append(f"published: {published}")
    if source:
        front.append(f'source: "{source}"')
    front.append("---")
    body = [f"# {title}"] if heading else []
    for name, text in sections.items():
        body += [f"## {name}", text, ""]
    return ("\n".join(front + body) + "\n").encode()


def _pdf_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str], title: str | None = None, created: str | None = None) -> bytes:
    """A real minimal PDF written by hand: one Helvetica text page per entry ("" = no text layer)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            ("<< /Type /Pages /Kids [%s] /Count %d >>"
             % (" ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages))), len(pages))).encode(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        content = b""
        if text:
            shown = " T* ".join(f"({_pdf_escape(line)}) Tj" for line in text.split("\n"))
            content = f"BT /F1 11 Tf 14 TL 72 740 Td {shown} ET".encode("latin-1")
        objs.append(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                     "/Contents %d 0 R >>" % (5 + 2 * i)).encode())
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    info = []
    if title:
        info.append(f"/Title ({_pdf_escape(title)})")
    if created:
        info.append(f"/CreationDate (D:{created.replace('-', '')}120000Z)")
    objs.append(("<< %s >>" % " ".join(info)).encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objs) + 1, len(objs), xref))
    return out.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Secret trial results"]))))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(title: str, sections: dict[str, str], created: dt.datetime | None = None) -> bytes:
    import docx
    d = docx.Document()
    d.add_heading(title, 0)
    for name, text in sections.items():
        d.add_heading(name, 1)
        d.add_paragraph(text)
    d.core_properties.title = title
    if created:
        d.core_properties.created = created
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


SCRIPT_HTML = b"""<!doctype html><html><head><title>Statins in the elderly</title>
<style>body { color: red } /* STYLEMARK-HEAD */</style>
<script>var x = "SCRIPTMARK-HEAD";</script></head>
<body><h1>Statin trial</h1><p>Statins lowered LDL cholesterol in older adults.</p>
<script>document.write("SCRIPTMARK-BODY")</script>
<h2>Safety</h2><p>Muscle symptoms were rare and mild.</p>
<style>p { margin: 0 } .STYLEMARK-BODY {}</style><noscript>NOSCRIPTMARK</noscript>
</body></html>"""


def sections(n: int, tag: str) -> dict[str, str]:
    """n short sections with text unique to `tag` (so no two documents share bytes)."""
    return {f"Part {i}": f"{tag} section {i}: findings on blood pressure, dose {i} mg, cohort {tag}."
            for i in range(n)}


# ---------------------------------------------------------------- helpers on the store

def store(cfg):
    """(chunk ids in Chroma, record manager keys) - they must always be equal."""
    ids = index.vector_store(cfg).get(include=[])["ids"]
    assert len(ids) == len(set(ids))
    return set(ids), set(index.record_manager(cfg).list_keys())


def assert_consistent(cfg, expected: int) -> None:
    ids, keys = store(cfg)
    assert ids == keys
    assert len(ids) == expected
    cat = index.catalog(cfg)["documents"]
    assert not [d for d in cat.values() if d.get("pending")]
    assert sum(d["chunks"] for d in cat.values()) == expected


def chunks(cfg, doc_id):
    return index.chunks_of(cfg, doc_id)


def ingest(cfg, *items, **kw):
    return index.ingest(cfg, list(items), **kw)


def cli(*args, timeout=180, env=None):
    return subprocess.run([sys.executable, "-m", "rag_vs_ft", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------- each file type

def test_markdown_front_matter_and_chunk_metadata(cfg):
    data = md("DAPA-CKD", sections(3, "dapa"), published="2020-10-08", source="NEJM 2020")
    r = ingest(cfg, ("dapa-ckd.md", data))
    assert r.as_dict() == {"added": 3, "updated": 0, "skipped": 0, "deleted": 0, "errors": [],
                           "documents": [{"id": "dapa-ckd", "title": "DAPA-CKD", "source": "NEJM 2020",
                                          "published": "2020-10-08", "chunks": 3}]}
    rows = chunks(cfg, "dapa-ckd")
    assert [c["chunk"] for c in rows] == [0, 1, 2]
    assert [c["section"] for c in rows] == ["Part 0", "Part 1", "Part 2"]
    for i, c in enumerate(rows):
        assert c["doc_id"] == "dapa-ckd" and c["file_name"] == "dapa-ckd.md" and c["title"] == "DAPA-CKD"
        assert c["published"] == "2020-10-08" and c["published_from"] == "front matter"
        assert c["source"] == "NEJM 2020"
        assert c["doc_sha256"] == hashlib.sha256(data).hexdigest()
        assert "page" not in c
        assert c["text"].startswith(f"Part {i}\n"), "each chunk carries its section heading"
        assert f"dapa section {i}:" in c["text"]
    assert_consistent(cfg, 3)


def test_txt_without_title_or_date_is_named_by_file_and_dated_unknown_or_as_given(cfg):
    r = ingest(cfg, ("Lancet note.txt", b"Aspirin for primary prevention: small benefit, more bleeding.\n"))
    assert r.errors == [] and r.added == 1
    assert r.documents == [{"id": "lancet-note", "title": "Lancet note", "source": "uploaded text file",
                            "published": "", "chunks": 1}]
    [c] = chunks(cfg, "lancet-note")
    assert c["published_from"] == "unknown" and c["published_int"] == 0 and c["section"] == ""
    assert c["text"] == "Aspirin for primary prevention: small benefit, more bleeding."
    assert index.retrieve(cfg, "aspirin", as_of="2030-01-01") == []  # never placed in the past
    r = ingest(cfg, ("Lancet note.txt", b"Aspirin for primary prevention: small benefit, more bleeding.\n"),
               given_date=TODAY.isoformat())
    assert r.documents[0]["published"] == "2024-06-01"
    [c] = chunks(cfg, "lancet-note")
    assert c["published_from"] == "given at upload"


def test_pdf_pages_title_and_date_from_metadata(cfg):
    data = make_pdf(["Apixaban reduced stroke (page one).", "", "Bleeding was lower on page three."],
                    title="ARISTOTLE", created="2011-09-15")
    r = ingest(cfg, ("aristotle.pdf", data))
    assert r.errors == [] and r.added == 2
    assert r.documents == [{"id": "aristotle", "title": "ARISTOTLE", "source": "uploaded PDF file",
                            "published": "2011-09-15", "chunks": 2}]
    rows = chunks(cfg, "aristotle")
    assert [(c["chunk"], c["page"]) for c in rows] == [(0, 1), (1, 3)]
    assert rows[0]["text"] == "Apixaban reduced stroke (page one)."
    assert {c["published_from"] for c in rows} == {"pdf metadata"}
    assert {c["doc_sha256"] for c in rows} == {hashlib.sha256(data).hexdigest()}


def test_docx_headings_become_sections(cfg):
    data = make_docx("SPRINT", {"Methods": "Target systolic pressure below 120 mmHg.",
                                "Results": "Fewer cardiovascular events with intensive control."},
                     created=dt.datetime(2015, 11, 9, 10, 0))
    r = ingest(cfg, ("sprint.docx", data))
    assert r.errors == [] and r.added == 2
    assert r.documents == [{"id": "sprint", "title": "SPRINT", "source": "uploaded Word file",
                            "published": "2015-11-09", "chunks": 2}]
    rows = chunks(cfg, "sprint")
    assert [c["section"] for c in rows] == ["Methods", "Results"]
    assert rows[0]["text"] == "Methods\nTarget systolic pressure below 120 mmHg."
    assert {c["published_from"] for c in rows} == {"document metadata"}


# ---------------------------------------------------------------- titles and dates as real documents carry them

PUBMED = b"""Erenumab for migraine prevention after two to four failed preventives: a randomized trial.
Reuter U, Goadsby PJ, Lanteri-Minet M.
Headache. 2024;64(3):212-220.
BACKGROUND: Many adults with episodic migraine stop preventives for lack of effect.
METHODS: Between March 2017 and May 2019 we randomly assigned 246 adults to erenumab or placebo.
CONCLUSIONS: In adults with episodic migraine who failed two to four preventives, erenumab 140 mg monthly halved
migraine days.
"""


def test_pubmed_abstract_title_without_its_full_stop_and_year_from_its_citation(cfg):
    r = ingest(cfg, ("erenumab.txt", PUBMED))
    assert r.errors == []
    [doc] = r.documents
    assert doc["title"] == ("Erenumab for migraine prevention after two to four failed preventives: "
                            "a randomized trial"), "a PubMed title ends in a full stop"
    assert doc["published"] == "2024", "the citation's year, not the study's recruitment dates"
    rows = chunks(cfg, "erenumab")
    assert {c["published_from"] for c in rows} == {"document text"}
    assert {c["published_int"] for c in rows} == {20241231}, "a year alone sits at its end on the timeline"
    assert index.retrieve(cfg, "erenumab migraine", as_of="2024-06-30") == []
    assert index.retrieve(cfg, "erenumab migraine", as_of="2024-12-31")


@pytest.mark.parametrize("citation, year", [("N Engl J Med 2018;378:1865-76.", "2018"), ("Headache, 2021.", "2021"),
                                            ("(c) 2022 The Authors.", "2022")])
def test_a_citation_year_dates_a_document_that_gives_nothing_finer(cfg, citation, year):
    text = f"Colchicine after myocardial infarction\n{citation}\nColchicine 0.5 mg daily lowered events.\n"
    assert corpus.read("colcot.txt", text.encode(), cfg).published == year


def test_front_matter_date_key_is_read(cfg):
    data = b"---\ntitle: Fidaxomicin for recurrence\ndate: 2021-06-14\n---\n# Fidaxomicin\nBody.\n"
    doc = corpus.read("fidaxomicin.md", data, cfg)
    assert (doc.published, doc.published_from) == ("2021-06-14", "front matter")


def test_a_guidelines_long_first_line_is_its_title(cfg):
    title = ("2023 Guideline of the American College of Rheumatology for the Management of Gout in Adults With "
             "Recurrent Flares, Tophi or Radiographic Damage, Including Urate-Lowering Therapy Targets, Prophylaxis "
             "and Monitoring")
    assert len(title) > 200
    doc = corpus.read("acr-gout.md", f"{title}\n\nBottom line: start allopurinol.\n".encode(), cfg)
    assert doc.title.startswith("2023 Guideline of the American College of Rheumatology for the Management of Gout")
    assert len(doc.title) <= corpus.TITLE_CHARS and doc.title.endswith("…")


def test_a_resaved_pdf_is_dated_by_its_first_page_not_its_metadata(cfg):
    data = make_pdf(["Tenecteplase in acute ischaemic stroke\nMay 2020\nTenecteplase 0.25 mg/kg was noninferior."],
                    title="Tenecteplase", created="2026-11-02")
    doc = corpus.read("tenecteplase.pdf", data, cfg)
    assert (doc.published, doc.published_from) == ("2020-05-01", "document text")


def test_a_year_alone_is_never_newer_than_a_full_date_of_that_year():
    from rag_vs_ft import retrieve
    shown = [{"published": "2024", "verdict": "fits", "primary": True},
             {"published": "2024-02-01", "verdict": "fits", "primary": True}]
    assert retrieve.choose(shown) == 1
    assert corpus.timeline_int("2024") > corpus.timeline_int("2024-02-01")


def test_html_drops_scripts_and_styles(cfg):
    r = ingest(cfg, ("statins.html", SCRIPT_HTML))
    assert r.errors == [] and r.added == 2
    assert r.documents[0]["title"] == "Statins in the elderly" and r.documents[0]["chunks"] == 2
    rows = chunks(cfg, "statins")
    assert [c["section"] for c in rows] == ["Statin trial", "Safety"]
    assert rows[0]["text"] == "Statin trial\nStatins lowered LDL cholesterol in older adults."
    assert rows[1]["text"] == "Safety\nMuscle symptoms were rare and mild."
    everything = json.dumps(index.vector_store(cfg).get(include=["documents", "metadatas"]))
    for mark in ("SCRIPTMARK", "STYLEMARK", "NOSCRIPTMARK", "document.write", "color: red"):
        assert mark not in everything


# ---------------------------------------------------------------- updates, removal, folders, reindex

def test_reingest_unchanged_adds_nothing(cfg):
    data = md("Trial A", sections(4, "a"), published="2019-01-01")
    assert ingest(cfg, ("a.md", data)).added == 4
    r = ingest(cfg, ("a.md", data))
    assert (r.added, r.updated, r.skipped, r.deleted, r.errors) == (0, 0, 4, 0, [])
    assert r.documents[0]["chunks"] == 4
    assert_consistent(cfg, 4)


def test_changed_file_replaces_old_chunks(cfg):
    ingest(cfg, ("other.md", md("Other", sections(2, "other"))))
    old = {"Intro": "OLDMARK zebra findings that were later retracted.", **sections(2, "v1")}
    ingest(cfg, ("trial.md", md("Trial", old, published="2018-01-01")))
    assert_consistent(cfg, 5)
    r = ingest(cfg, ("trial.md", md("Trial", sections(2, "v2"), published="2021-01-01")))
    assert (r.added, r.updated, r.skipped, r.deleted, r.errors) == (2, 0, 0, 3, [])
    assert r.documents == [{"id": "trial", "title": "Trial", "source": "uploaded Markdown file",
                            "published": "2021-01-01", "chunks": 2}]
    assert_consistent(cfg, 4)
    vs = index.vector_store(cfg)
    assert vs.get(where_document={"$contains": "OLDMARK"}, include=[])["ids"] == []
    hits = index.retrieve(cfg, "zebra findings that were later retracted", k=4)
    assert len(hits) == 4 and not any("OLDMARK" in d.page_content for d, _ in hits)
    assert [c["published"] for c in chunks(cfg, "trial")] == ["2021-01-01", "2021-01-01"]


def test_remove_deletes_every_chunk(cfg):
    ingest(cfg, ("keep.md", md("Keep", sections(2, "keep"))), ("gone.md", md("Gone", sections(3, "gone"))))
    assert_consistent(cfg, 5)
    assert index.remove(cfg, "gone") == 3
    assert_consistent(cfg, 2)
    assert chunks(cfg, "gone") == []
    assert [d["id"] for d in index.documents(cfg)] == ["keep"]
    with pytest.raises(UserError, match="no document with id 'gone'"):
        index.remove(cfg, "gone")
    assert_consistent(cfg, 2)


def test_ingest_folder(cfg, tmp_path):
    folder = tmp_path / "incoming"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.md").write_bytes(md("One", sections(2, "one"), published="2022-02-02"))
    (folder / "sub" / "two.txt").write_text("Two: plain text research note.\n")
    (folder / "three.html").write_bytes(SCRIPT_HTML)
    (folder / "README.md").write_text("# Not research\nThe folder's own readme.\n")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    r = index.ingest(cfg, index.iter_files([folder]))
    assert r.errors == []
    assert sorted((d["id"], d["chunks"]) for d in r.documents) == [("one", 2), ("three", 2), ("two", 1)]
    assert r.added == 5
    assert_consistent(cfg, 5)


def test_reindex_rebuilds_from_kept_originals(cfg, tmp_path):
    ingest(cfg, ("a.md", md("A", sections(3, "a"), published="2020-01-01")),
           ("b.pdf", make_pdf(["Page one text.", "Page two text."], title="B", created="2019-05-05")),
           ("c.txt", b"Plain note about potassium.\n"))
    before = {d["id"]: d["chunks"] for d in index.documents(cfg)}
    assert before == {"a": 3, "b": 2, "c": 1}
    r = index.reindex(cfg)
    assert r.errors == [] and (r.added, r.deleted) == (6, 0)
    assert {d["id"]: d["chunks"] for d in index.documents(cfg)} == before
    assert_consistent(cfg, 6)
    assert [c["page"] for c in chunks(cfg, "b")] == [1, 2]


# ---------------------------------------------------------------- bad input: clear message, nothing lost

@pytest.fixture
def kept(cfg):
    """A document already in the index; bad input must never touch it."""
    ingest(cfg, ("kept.md", md("Kept", sections(2, "kept"), published="2020-05-05")))
    return cfg


def assert_kept_intact(cfg, extra_docs=(), extra_chunks=0):
    assert sorted(d["id"] for d in index.documents(cfg)) == sorted(["kept", *extra_docs])
    assert [c["section"] for c in chunks(cfg, "kept")] == ["Part 0", "Part 1"]
    assert_consistent(cfg, 2 + extra_chunks)


def rejected(cfg, name, data, reason):
    r = ingest(cfg, (name, data))
    assert (r.added, r.deleted, r.documents) == (0, 0, [])
    assert len(r.errors) == 1, r.errors
    assert reason in r.errors[0]["error"], r.errors
    assert "\n" not in r.errors[0]["error"] and "Traceback" not in r.errors[0]["error"]
    assert_kept_intact(cfg)
    return r.errors[0]


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"], ids=["zero-bytes", "whitespace"])
def test_empty_file(kept, data):
    assert rejected(kept, "empty.txt", data, "the file is empty") == {
        "file": "empty.txt", "error": "empty.txt: the file is empty"}


def test_corrupt_pdf(kept):
    good = make_pdf(["Some real text."])
    rejected(kept, "broken.pdf", good[: len(good) // 2], "cannot read the PDF (damaged or not a PDF)")
    rejected(kept, "fake.pdf", b"%PDF-1.4 this is not really a pdf", "cannot read the PDF")


def test_encrypted_pdf(kept):
    rejected(kept, "locked.pdf", encrypted_pdf(), "the PDF is encrypted (password protected)")


def test_scanned_pdf_without_text_layer(kept):
    rejected(kept, "scan.pdf", make_pdf(["", ""], title="Scanned"), "the PDF has no text layer")


@pytest.mark.parametrize("name", ["setup.exe", "figure.png"])
def test_unsupported_type(kept, name):
    err = rejected(kept, name, b"MZ\x90\x00binary" * 10, "unsupported file type")
    assert err["file"] == name and "PDF" in err["error"] and "Markdown" in err["error"]


def test_file_over_size_limit(kept, monkeypatch):
    monkeypatch.setenv("RAG_VS_FT_MAX_UPLOAD_MB", "0.01")
    cfg = config.load()
    assert cfg.max_upload_mb == 0.01
    rejected(cfg, "big.txt", b"blood pressure " * 2000, "over the 0.01 MB limit")
    assert ingest(cfg, ("small.txt", b"small enough")).added == 1


def test_binary_content_named_txt(kept):
    rejected(kept, "notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
             "looks like binary data, not text")


def test_non_utf8_text_is_decoded(kept):
    data = "Café patients: naïve to warfarin – 42 € per dose.\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    r = ingest(kept, ("cafe.txt", data))
    assert r.errors == [] and r.added == 1
    assert [c["text"] for c in chunks(kept, "cafe")] == ["Café patients: naïve to warfarin – 42 € per dose."]
    assert_kept_intact(kept, ["cafe"], 1)


@pytest.mark.parametrize("name, stored", [
    ("../../../escape.md", "escape.md"),
    ("..\\..\\windows\\escape.md", "escape.md"),
    ("/etc/cron.d/escape.md", "escape.md"),
    ("bad\x00na\x07me\x1b[31m.md", "badname[31m.md"),
    ("line\nbreak\r.md", "linebreak.md"),
])
def test_file_names_are_sanitized(kept, tmp_path, name, stored):
    outside_before = sorted(p for p in tmp_path.rglob("*") if kept.data_dir not in p.parents)
    r = ingest(kept, (name, md("Escape", sections(1, "escape"))))
    assert r.errors == [] and r.added == 1
    [doc] = [d for d in index.catalog(kept)["documents"].values() if d["id"] != "kept"]
    assert doc["file_name"] == stored
    assert {c["file_name"] for c in chunks(kept, doc["id"])} == {stored}
    assert sorted(p for p in tmp_path.rglob("*") if kept.data_dir not in p.parents) == outside_before
    assert not Path("/etc/cron.d/escape.md").exists()
    originals = {d["original"] for d in index.catalog(kept)["documents"].values()}
    assert {p.name for p in kept.uploads_dir.iterdir()} == originals == {doc["sha256"] + ".md", doc["original"],
                                                                         index.catalog(kept)["documents"]["kept"]["original"]}
    assert_kept_intact(kept, [doc["id"]], 1)


@pytest.mark.parametrize("name", ["..", "/", "\x00\x01", " . "])
def test_unusable_file_name(kept, name):
    r = ingest(kept, (name, b"text"))
    assert len(r.errors) == 1 and "the file has no usable name" in r.errors[0]["error"]
    assert_kept_intact(kept)


def test_same_file_twice_in_one_upload(kept):
    data = md("Twice", sections(2, "twice"))
    r = ingest(kept, ("twice.md", data), ("twice.md", data))
    assert (r.added, r.skipped) == (2, 0)
    assert [d["id"] for d in r.documents] == ["twice"]
    assert len(r.errors) == 1 and r.errors[0]["file"] == "twice.md"
    assert "same document as twice.md in this upload" in r.errors[0]["error"]
    # the same bytes under another name in the same upload are caught too
    r = ingest(kept, ("twice.md", data), ("copy of twice.md", data))
    assert (r.added, r.skipped, len(r.documents)) == (0, 2, 1)
    assert [e["file"] for e in r.errors] == ["copy of twice.md"]
    assert_kept_intact(kept, ["twice"], 2)


def rejected_after(cfg, item):
    r = ingest(cfg, item)
    assert (r.added, r.documents) == (0, []) and len(r.errors) == 1
    return r.errors[0]


def test_same_content_under_another_name_later(kept):
    data = md("Original", sections(2, "orig"))
    assert ingest(kept, ("original.md", data)).added == 2
    err = rejected_after(kept, ("renamed.md", data))
    assert err == {"file": "renamed.md", "error": "renamed.md: same content as original.md (already ingested "
                                                  "as original); not ingested twice"}
    assert_kept_intact(kept, ["original"], 2)


def test_impossible_front_matter_date_does_not_abort_the_batch(kept):
    bad = b"---\ntitle: Bad date\npublished: 2020-13-45\n---\nText with a broken date.\n"
    r = ingest(kept, ("bad-date.md", bad), ("good.md", md("Good", sections(1, "good"))))
    assert "good" in [d["id"] for d in r.documents]
    handled = [d for d in r.documents if d["id"] == "bad-date"] or [e for e in r.errors
                                                                    if e["file"] == "bad-date.md"]
    assert len(handled) == 1
    assert "kept" in [d["id"] for d in index.documents(kept)]


# ---------------------------------------------------------------- retrieval

def test_retrieval_as_of_excludes_later_documents(cfg):
    ingest(cfg, ("old.md", md("Old trial", {"Result": "Dapagliflozin slowed kidney decline."},
                              published="2019-03-01")),
           ("new.md", md("New trial", {"Result": "Dapagliflozin slowed kidney decline in more patients.",
                                       "Safety": "Dapagliflozin was safe for the kidney."},
                         published="2023-07-01")))
    assert len(index.retrieve(cfg, "dapagliflozin kidney", k=5)) == 3
    hits = index.retrieve(cfg, "dapagliflozin kidney", k=5, as_of="2020-12-31")
    assert [d.metadata["doc_id"] for d, _ in hits] == ["old"]
    assert index.retrieve(cfg, "dapagliflozin kidney", k=5, as_of="2018-12-31") == []
    assert len(index.retrieve(cfg, "dapagliflozin kidney", k=5, as_of="2023-07-01")) == 3


# ---------------------------------------------------------------- CLI contracts

def test_cli_ingest_json_contract(tmp_path, cfg):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "alpha.md").write_bytes(md("Alpha", sections(2, "alpha"), published="2021-04-04", source="BMJ"))
    (folder / "beta.txt").write_bytes(b"Beta note on sodium intake.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "locked.pdf").write_bytes(encrypted_pdf())
    r = cli("ingest", str(folder), str(tmp_path / "missing.md"), "--json")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert list(out) == ["added", "updated", "skipped", "deleted", "documents", "errors"]
    assert (out["added"], out["updated"], out["skipped"], out["deleted"]) == (3, 0, 0, 0)
    today = ""  # beta.txt states no date
    assert out["documents"] == [
        {"id": "alpha", "title": "Alpha", "source": "BMJ", "published": "2021-04-04", "chunks": 2},
        {"id": "beta", "title": "beta", "source": "uploaded text file", "published": today, "chunks": 1}]
    assert [set(e) for e in out["errors"]] == [{"file", "error"}] * 3
    assert {e["file"]: e["error"] for e in out["errors"]} == {
        "empty.txt": "empty.txt: the file is empty",
        "locked.pdf": "locked.pdf: the PDF is encrypted (password protected)",
        "missing.md": "missing.md: no such file"}
    assert_consistent(cfg, 3)


def test_cli_docs_remove_and_errors(cfg):
    ingest(cfg, ("alpha.md", md("Alpha", sections(2, "alpha"), published="2021-04-04", source="BMJ")),
           ("beta.md", md("Beta", sections(3, "beta"), published="2022-01-01")))
    r = cli("docs", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        {"id": "beta", "title": "Beta", "source": "uploaded Markdown file", "published": "2022-01-01", "chunks": 3},
        {"id": "alpha", "title": "Alpha", "source": "BMJ", "published": "2021-04-04", "chunks": 2}]
    r = cli("remove", "beta", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"deleted": 3}
    assert_consistent(cfg, 2)
    r = cli("remove", "beta", "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert one_line_error(r.stderr) == "error: no document with id 'beta' (see `docs`)"
    assert_consistent(cfg, 2)


def test_cli_reindex_keeps_chunk_count(cfg):
    ingest(cfg, ("a.md", md("A", sections(3, "a"))), ("b.txt", b"B note.\n"))
    r = cli("reindex", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["added"], out["errors"]) == (4, [])
    assert sorted((d["id"], d["chunks"]) for d in out["documents"]) == [("a", 3), ("b", 1)]
    assert_consistent(cfg, 4)


# ---------------------------------------------------------------- crashes and concurrent writers

def write_folder(folder: Path, prefix: str, docs: int, per_doc: int) -> int:
    folder.mkdir(parents=True)
    for i in range(docs):
        (folder / f"{prefix}{i:02d}.md").write_bytes(md(f"{prefix} {i}", sections(per_doc, f"{prefix}{i}"),
                                                        published=f"20{10 + i % 10}-01-01"))
    return docs * per_doc


def record_count(cfg) -> int:
    if not cfg.record_db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{cfg.record_db}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("select count(*) from upsertion_record").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet, or locked for a moment
        return 0


def kill_when(args, ready) -> subprocess.Popen:
    """Run the CLI with `args` and SIGKILL it as soon as `ready()` holds (it must not finish first)."""
    proc = subprocess.Popen([sys.executable, "-m", "rag_vs_ft", *args, "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None, f"{args[0]} finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    return proc


def test_killed_ingest_is_reconciled(cfg, tmp_path):
    total = write_folder(tmp_path / "big", "crash", docs=30, per_doc=10)
    proc = kill_when(["ingest", str(tmp_path / "big")], lambda: record_count(cfg) >= 40)
    assert proc.returncode == -signal.SIGKILL
    with index.write_lock(cfg):
        index.reconcile(cfg)
    ids, keys = store(cfg)
    assert ids == keys
    assert 40 <= len(ids) < total
    committed = index.documents(cfg)
    assert not [d for d in index.catalog(cfg)["documents"].values() if d.get("pending")]
    assert len(ids) == sum(d["chunks"] for d in committed) == 10 * len(committed)

    r = index.ingest(cfg, index.iter_files([tmp_path / "big"]))
    assert r.errors == [] and len(r.documents) == 30
    assert r.added == total - len(ids) and r.skipped == len(ids) and r.deleted == 0
    assert_consistent(cfg, total)
    got = index.vector_store(cfg).get(include=["metadatas"])["metadatas"]
    assert len({(m["doc_id"], m["chunk"]) for m in got}) == total, "no duplicate chunks"


def test_reconcile_repairs_partial_writes(cfg):
    """What a kill can leave: chunks in Chroma never recorded, records whose chunks are gone, and
    documents marked pending. reconcile() must undo or finish each."""
    ingest(cfg, ("a.md", md("A", sections(2, "a"))), ("b.md", md("B", sections(3, "b"))),
           ("c.md", md("C", sections(1, "c"))))
    vs, rm = index.vector_store(cfg), index.record_manager(cfg)
    vs.add_texts(["half-written chunk"], metadatas=[{"doc_id": "ghost", "chunk": 0}], ids=["orphan-id"])
    vs.delete(ids=[sorted(rm.list_keys(group_ids=["b"]))[0]])
    cat = index.catalog(cfg)
    cat["documents"]["c"]["pending"] = "remove"
    cfg.data_dir.joinpath("catalog.json").write_text(json.dumps(cat))
    with index.write_lock(cfg):
        fixed = index.reconcile(cfg)
    assert (fixed["orphans"], fixed["missing"], sorted(fixed["redone"])) == (1, 1, ["b", "c"])
    assert sorted(d["id"] for d in index.documents(cfg)) == ["a", "b"]
    assert [c["chunk"] for c in chunks(cfg, "b")] == [0, 1, 2]
    assert_consistent(cfg, 5)


def test_killed_reindex_forgets_nothing(cfg):
    ingest(cfg, *[(f"r{i:02d}.md", md(f"R {i}", sections(8, f"r{i}"))) for i in range(20)])
    assert_consistent(cfg, 160)
    kill_when(["reindex"], lambda: 2 <= len(index.documents(cfg)) < 20)  # some redone, some pending
    from chromadb.api.shared_system_client import SharedSystemClient
    SharedSystemClient.clear_system_cache()  # look at the store as a fresh process would
    with index.write_lock(cfg):
        index.reconcile(cfg)
    assert len(index.documents(cfg)) == 20
    assert_consistent(cfg, 160)


def test_two_concurrent_ingests(cfg, tmp_path):
    a = write_folder(tmp_path / "a", "alpha", docs=3, per_doc=3)
    b = write_folder(tmp_path / "b", "beta", docs=4, per_doc=2)
    procs = [subprocess.Popen([sys.executable, "-m", "rag_vs_ft", "ingest", str(tmp_path / f), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in ("a", "b")]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert [json.loads(o[0])["added"] for o in outs] == [a, b]
    assert len(index.documents(cfg)) == 7
    assert_consistent(cfg, a + b)


def test_running_app_sees_documents_ingested_by_the_cli(cfg, tmp_path):
    ingest(cfg, ("app.md", md("App upload", {"Note": "Metformin lowers blood glucose."})))
    assert index.retrieve(cfg, "metformin", k=1)[0][0].metadata["doc_id"] == "app"
    (tmp_path / "cli.md").write_bytes(md("CLI upload", {"Note": "Zebrafish regenerate heart muscle."}))
    r = cli("ingest", str(tmp_path / "cli.md"), "--json")
    assert r.returncode == 0, r.stderr
    assert index.count(cfg) == 2
    hits = index.retrieve(cfg, "zebrafish heart regeneration", k=2)
    assert [d.metadata["doc_id"] for d, _ in hits][0] == "cli"


def test_file_names_with_the_same_slug_do_not_replace_each_other(cfg):
    """"Notes (1).md" and "notes-1.md" reduce to the same id; both are kept, and re-uploading either
    replaces only its own chunks."""
    ingest(cfg, ("Notes (1).md", md("First", sections(2, "first"), published="2021-01-01")))
    ingest(cfg, ("notes-1.md", md("Second", sections(3, "second"), published="2022-01-01")))
    docs = {d["file_name"]: d for d in index.documents(cfg)}
    assert {n: d["id"] for n, d in docs.items()} == {"Notes (1).md": "notes-1", "notes-1.md": "notes-1-2"}
    assert_consistent(cfg, 5)
    ingest(cfg, ("notes-1.md", md("Second", sections(1, "changed"), published="2022-01-01")))
    assert {d["id"]: d["chunks"] for d in index.documents(cfg)} == {"notes-1": 2, "notes-1-2": 1}
    assert_consistent(cfg, 3)
    assert all("first" in c["text"].lower() for c in chunks(cfg, "notes-1"))
