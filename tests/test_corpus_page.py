"""The Research corpus page through Streamlit's AppTest: upload several files at once, see errors per
file, browse the table, preview chunks, delete. Uploaded text is data: it must only ever reach the
page through tables and plain text, never through markdown or HTML."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from rag_vs_ft import config, index
from test_ingest import make_pdf, md, sections

TIMEOUT = 180
PAGE = "../pages/corpus.py"
# Element kinds whose text Streamlit renders as markdown (or HTML).
MARKDOWN_KINDS = ["markdown", "caption", "title", "header", "subheader", "error", "warning", "info", "success",
                  "toast", "latex", "html", "code"]


@pytest.fixture
def cfg(data_dir, tmp_path, monkeypatch):
    """An empty seed corpus, so first-start seeding adds nothing and counts stay exact."""
    (tmp_path / "seed" / "research").mkdir(parents=True)
    monkeypatch.setenv("RAG_VS_FT_CORPUS", str(tmp_path / "seed"))
    return config.load()


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def select(at, doc_id: str) -> AppTest:
    ids = list(at.dataframe[0].value["id"])
    at.session_state["docs"] = {"selection": {"rows": [ids.index(doc_id)], "columns": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def delete_buttons(at):
    return [b for b in at.button if b.label.startswith("Delete")]


def rendered_as_markdown(at) -> list[str]:
    out = []
    for kind in MARKDOWN_KINDS:
        out += [str(getattr(e, "value", "")) for e in at.get(kind)]
    out += [b.label for b in at.button] + [s.label for s in at.status] + [e.label for e in at.expander]
    return out


def test_upload_several_files_with_errors_per_file(cfg):
    at = open_page()
    assert [i.value for i in at.info] == ["No documents indexed yet: upload some research above."]
    good = md("Uploaded trial", sections(2, "upl"), published="2022-02-02", source="JAMA")
    at.file_uploader[0].set_value([
        ("trial.md", good, "text/markdown"),
        ("note.txt", b"A short research note on salt.", "text/plain"),
        ("trial.md", good, "text/markdown"),
        ("empty.txt", b"", "text/plain"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", "application/pdf"),
    ])
    [submit] = [b for b in at.button if b.label == "Ingest"]
    submit.click().run()
    assert not at.exception, at.exception
    assert [s.label for s in at.status if s.label.startswith("Added")] == [
        "Added 3, updated 0, skipped 0, deleted 0 chunks"]
    assert [e.value for e in at.error] == ["3 file(s) were not ingested; the others were."]
    errors = at.dataframe[0].value
    assert list(errors.columns) == ["file", "error"]
    assert list(errors["file"]) == ["trial.md", "empty.txt", "broken.pdf"]
    assert "same document as trial.md in this upload" in errors["error"][0]
    assert errors["error"][1] == "empty.txt: the file is empty"
    assert errors["error"][2] == "broken.pdf: cannot read the PDF (damaged or not a PDF)"
    table = at.dataframe[1].value
    assert list(table["id"]) == ["trial", "note"]  # newest publication first; note.txt states no date
    assert list(table["published"]) == ["2022-02-02", "date unknown"]
    assert dict(zip(table["id"], table["chunks"])) == {"trial": 2, "note": 1}
    assert [s.value for s in at.subheader][:1] == ["2 documents"]
    assert index.count(cfg) == 3


def test_preview_and_delete(cfg):
    index.ingest(cfg, [("keep.md", md("Keep", sections(2, "keep"), published="2021-01-01", source="NEJM")),
                       ("scan.pdf", make_pdf(["Page one words.", "Page two words."], title="Scanned trial",
                                             created="2019-09-09")),
                       ("gone.md", md("Gone", sections(3, "gone"), published="2020-01-01"))])
    at = open_page()
    assert list(at.dataframe[0].value["id"]) == ["keep", "gone", "scan"]  # newest publication first
    assert [c.value for c in at.caption] == ["Select a document to preview its chunks or delete it."]
    assert [m.value for m in at.metric] == ["2019-09-09", "2021-01-01"]

    select(at, "scan")
    assert [t.value for t in at.text] == ["Scanned trial — uploaded PDF file, published 2019-09-09 (pdf metadata)"]
    preview = at.dataframe[1].value
    assert list(preview.columns) == ["chunk", "section", "text", "page"]
    assert list(preview["page"]) == [1, 2] and list(preview["text"]) == ["Page one words.", "Page two words."]

    select(at, "gone")
    assert [t.value for t in at.text] == ["Gone — uploaded Markdown file, published 2020-01-01 (front matter)"]
    preview = at.dataframe[1].value
    assert list(preview.columns) == ["chunk", "section", "text"]
    assert list(preview["section"]) == ["Part 0", "Part 1", "Part 2"]
    assert [b.label for b in delete_buttons(at)] == ["Delete gone"]
    delete_buttons(at)[0].click().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.toast] == ["Deleted gone: 3 chunks"]
    assert sorted(at.dataframe[0].value["id"]) == ["keep", "scan"]
    assert index.count(cfg) == 4
    assert index.chunks_of(cfg, "gone") == []
    assert sorted(d["id"] for d in index.documents(cfg)) == ["keep", "scan"]


@pytest.mark.parametrize("which", ["last", "first"])
def test_delete_clears_the_selection(cfg, which):
    index.ingest(cfg, [("a.md", md("A", sections(1, "a"), published="2023-01-01")),
                       ("b.md", md("B", sections(1, "b"), published="2022-01-01")),
                       ("c.md", md("C", sections(1, "c"), published="2021-01-01"))])
    at = open_page()
    target = "c" if which == "last" else "a"
    select(at, target)
    delete_buttons(at)[0].click().run()
    assert not at.exception, at.exception
    assert sorted(d["id"] for d in index.documents(cfg)) == sorted({"a", "b", "c"} - {target})
    assert delete_buttons(at) == [], "no document may be offered for deletion that the user did not select"


def test_uploaded_text_is_shown_as_data(cfg):
    title = "[Click for the cure](https://evil.example/x) <script>alert('title')</script> **bold**"
    body = ("Read [this link](javascript:alert(1)) and <img src=x onerror=alert(2)> "
            "<script>alert('body')</script> # not a heading $x^2$")
    data = (f"---\ntitle: \"{title}\"\nsource: \"<b>Injected</b> [src](https://evil.example)\"\n"
            f"published: 2020-02-02\n---\n## Findings <i>x</i>\n{body}\n").encode()
    r = index.ingest(cfg, [("[x](https:evil.example).md", data)])
    assert r.errors == [] and r.added == 1
    doc_id = r.documents[0]["id"]
    at = open_page()
    select(at, doc_id)
    table = at.dataframe[0].value
    assert list(table["title"]) == [title]
    assert list(table["source"]) == ["<b>Injected</b> [src](https://evil.example)"]
    assert [t.value for t in at.text] == [
        f"{title} — <b>Injected</b> [src](https://evil.example), published 2020-02-02 (front matter)"]
    preview = at.dataframe[1].value
    assert list(preview["text"]) == [f"Findings <i>x</i>\n{body}"]
    for shown in rendered_as_markdown(at):
        for payload in ("evil.example", "<script", "onerror", "javascript:", "<b>", "Click for the cure"):
            assert payload not in shown, shown


def test_upload_limit_is_the_servers_and_the_uploaders(data_dir, tmp_path, monkeypatch):
    """Streamlit refuses bigger files before their bytes arrive: server.maxUploadSize and the uploader's
    own limit equal the configured one; a file over it is refused by size, the others are ingested."""
    import tomllib
    from pathlib import Path
    toml = tomllib.loads((Path(__file__).parent.parent / ".streamlit" / "config.toml").read_text())
    assert toml["server"]["maxUploadSize"] == config.Config().upload_limit_mb == 20
    (tmp_path / "seed" / "research").mkdir(parents=True)
    monkeypatch.setenv("RAG_VS_FT_CORPUS", str(tmp_path / "seed"))
    monkeypatch.setenv("RAG_VS_FT_MAX_UPLOAD_MB", "0.001")  # about 1 KB
    at = open_page()
    assert at.file_uploader[0].proto.max_upload_size_mb == 1  # whole megabytes, rounded up
    at.file_uploader[0].set_value([("big.txt", b"salt " * 400, "text/plain"),
                                   ("small.txt", b"A short note on salt.", "text/plain")])
    [b for b in at.button if b.label == "Ingest"][0].click().run()
    assert not at.exception, at.exception
    errors = at.dataframe[0].value
    assert list(errors["file"]) == ["big.txt"]
    assert errors["error"][0] == "big.txt: 2 KB is over the 0.001 MB limit"
    assert [d["id"] for d in index.documents(config.load())] == ["small"]
