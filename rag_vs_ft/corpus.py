"""Read research files into sectioned text with metadata, and split them into chunks.

Every reader returns the same shape (a `Parsed` document of (section, page, text) parts), so
chunking, metadata and indexing are written once. Bad input raises UserError with a plain reason;
uploaded text is only ever data.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from .config import Config
from .errors import UserError

SUPPORTED = {".pdf": "PDF", ".txt": "text", ".md": "Markdown", ".markdown": "Markdown",
             ".docx": "Word", ".html": "HTML", ".htm": "HTML"}


@dataclass
class Parsed:
    """One document as read from a file: metadata plus (section, page, text) parts."""
    doc_id: str
    file_name: str
    title: str
    source: str
    published: str                 # YYYY-MM-DD, YYYY when only the year is known, or "" when unknown
    published_from: str            # front matter, document text, pdf/document metadata, given at upload, unknown
    sha256: str
    parts: list[tuple[str, int | None, str]] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # instruction-like phrases found in the text

    @property
    def summary(self) -> dict:
        return {"id": self.doc_id, "title": self.title, "source": self.source, "published": self.published}


# ---------------------------------------------------------------- names and ids

def safe_name(name: str) -> str:
    """The bare file name, without directories, '..' or control characters; never empty."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    name = re.sub(r"\s+", " ", name)[:120]
    if not name or not Path(name).stem.strip("."):
        raise UserError("the file has no usable name")
    return name


def doc_id_for(name: str) -> str:
    """A stable id from the file name: re-uploading the same name updates that document."""
    stem = Path(safe_name(name)).stem
    slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", stem).encode("ascii", "ignore")
                  .decode().lower()).strip("-")[:80]
    return slug or "doc-" + hashlib.sha256(stem.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- validation

def _decode_text(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise UserError(f"{name}: looks like binary data, not text")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    controls = sum(1 for ch in text[:20000] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > 0.01 * max(1, len(text[:20000])):
        raise UserError(f"{name}: looks like binary data, not text")
    return text


def check(name: str, data: bytes, cfg: Config) -> str:
    """Validate an upload before reading it; return the file type's label."""
    kind = SUPPORTED.get(Path(name).suffix.lower())
    if kind is None:
        raise UserError(f"{name}: unsupported file type (use {', '.join(sorted(set(SUPPORTED.values())))})")
    if not data or not data.strip():
        raise UserError(f"{name}: the file is empty")
    check_size(name, len(data), cfg)
    return kind


def check_size(name: str, size: int, cfg: Config) -> None:
    """Refuse a file over the limit before its bytes are copied anywhere."""
    if size > cfg.max_upload_mb * 1024 * 1024:
        raise UserError(f"{name}: {_size(size)} is over the {cfg.max_upload_mb:g} MB limit")


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} KB"


# ---------------------------------------------------------------- readers

def _date(value) -> str | None:
    """YYYY-MM-DD from a date, a datetime or an ISO-like string; YYYY from a bare year."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    m = re.match(r"^\D*(\d{4})-(\d{2})-(\d{2})", str(value or ""))
    if m:
        try:
            return dt.date(*map(int, m.groups())).isoformat()
        except ValueError:
            return None
    m = re.fullmatch(r"\s*((?:19|20)\d\d)\s*", str(value or ""))
    return m.group(1) if m else None


def timeline_int(published: str) -> int:
    """A date as YYYYMMDD for the knowledge timeline: a year alone sits at its end (a paper "of 2024"
    is not visible as of March 2024), an unknown date is 0 (never placed in the past)."""
    if re.fullmatch(r"\d{4}", published):
        return int(published) * 10000 + 1231
    return int(published.replace("-", "") or 0)


def split_front_matter(text: str) -> tuple[dict, str]:
    """YAML front matter between '---' lines, if any, and the rest of the text."""
    import yaml
    m = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
    if not m:
        return {}, text
    try:  # BaseLoader keeps every value a string: an impossible date cannot abort the read
        meta = yaml.load(m.group(1), Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError:
        return {}, text
    return (meta if isinstance(meta, dict) else {}), text[m.end():]


def _markdown_parts(text: str) -> list[tuple[str, int | None, str]]:
    """Split on headings; each part keeps its heading path (e.g. 'DAPA-CKD > Findings')."""
    parts, path, buf = [], [], []

    def flush():
        body = "\n".join(buf).strip()
        if body:
            parts.append((" > ".join(path), None, body))
        buf.clear()

    for line in text.splitlines():
        m = re.match(r"^(#{1,3})\s+(.+?)\s*#*\s*$", line)
        if m:
            flush()
            level = len(m.group(1))
            path[:] = path[: level - 1] + [m.group(2).strip()]
        else:
            buf.append(line)
    flush()
    return parts


def _read_pdf(data: bytes, name: str) -> tuple[dict, list]:
    from pypdf import PdfReader
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UserError(f"{name}: the PDF is encrypted (password protected)")
        pages = [(p.extract_text() or "") for p in reader.pages]
        info = reader.metadata or {}
    except UserError:
        raise
    except Exception as e:  # pypdf raises many kinds for damaged files
        kind = "encrypted" if "crypt" in str(e).lower() else "damaged or not a PDF"
        raise UserError(f"{name}: cannot read the PDF ({kind})") from e
    if not any(p.strip() for p in pages):
        raise UserError(f"{name}: the PDF has no text layer (scanned image?); OCR it first")
    meta = {"title": info.get("/Title") or "", "published": None}
    raw = str(info.get("/CreationDate") or "")
    if re.match(r"^D?:?\d{8}", raw):
        d = raw.lstrip("D:")[:8]
        meta["published"] = _date(f"{d[:4]}-{d[4:6]}-{d[6:8]}")
        meta["published_from"] = "pdf metadata"
    return meta, [("", i + 1, t) for i, t in enumerate(pages) if t.strip()]


def _read_docx(data: bytes, name: str) -> tuple[dict, list]:
    import docx
    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise UserError(f"{name}: cannot read the Word file (damaged or not .docx)") from e
    lines = []
    for p in d.paragraphs:
        style = (p.style.name or "").lower() if p.style is not None else ""
        level = {"title": 1, "heading 1": 1, "heading 2": 2, "heading 3": 3}.get(style)
        if p.text.strip():
            lines.append(("#" * level + " " if level else "") + p.text.strip())
    props = d.core_properties
    meta = {"title": props.title or "", "published": _date(props.created)}
    if meta["published"]:
        meta["published_from"] = "document metadata"
    return meta, _markdown_parts("\n\n".join(lines))


def _read_html(text: str, name: str) -> tuple[dict, list]:
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "svg", "head"]):
        if tag.name != "head":
            tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    for level in (1, 2, 3):
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n{'#' * level} {h.get_text(' ', strip=True)}\n")
    body = re.sub(r"\n{3,}", "\n\n", soup.get_text("\n"))
    return {"title": title}, _markdown_parts(body)


def read(name: str, data: bytes, cfg: Config, today: dt.date | None = None, given_date: str | None = None,
         doc_id: str | None = None) -> Parsed:
    """Validate and read one file. Raises UserError with a reason a person can act on.
    The publication date comes from the document (front matter, PDF or Word metadata, its text),
    else `given_date` (asked for at upload); else it stays unknown ("") and never counts as newest."""
    name = safe_name(name)
    kind = check(name, data, cfg)
    meta: dict = {}
    if kind == "PDF":
        meta, parts = _read_pdf(data, name)
    elif kind == "Word":
        meta, parts = _read_docx(data, name)
    else:
        text = _decode_text(data, name)
        if kind == "HTML":
            meta, parts = _read_html(text, name)
        else:
            meta, body = split_front_matter(text)
            parts = _markdown_parts(body) if kind == "Markdown" else [("", None, body.strip())]
            meta["published"] = next((meta[k] for k in DATE_KEYS if _date(meta.get(k))), None)
            if meta["published"]:
                meta["published_from"] = "front matter"
    parts = [q for s, p, t in parts if t.strip() for q in _labelled(s, p, t.strip())]
    if not parts:
        raise UserError(f"{name}: no text found in the file")
    published = _date(meta.get("published")) if meta.get("published_from") == "front matter" else None
    # the text's own date before the file's: a PDF re-saved today still says "May 2020" on its first page
    if not published and (published := date_in_text(" ".join(t for _, _, t in parts[:3])[:3000])):
        meta["published_from"] = "document text"
    if not published and (published := _date(meta.get("published"))):
        pass  # pdf or document metadata, as the reader labelled it
    if not published and given_date:
        published, meta["published_from"] = given_date, "given at upload"
    title = " ".join(str(meta.get("title") or "").split()) or _first_heading(parts) or _first_line(parts) or \
        Path(name).stem
    topics = meta.get("topics") or []
    flags = instructions("\n".join(t for _, _, t in parts))
    return Parsed(flags=flags,
        doc_id=doc_id or doc_id_for(name), file_name=name, title=_shorten(title, TITLE_CHARS),
        source=str(meta.get("source") or "").strip()[:200] or f"uploaded {kind} file",
        published=published or "", published_from=meta.get("published_from", "") if published else "unknown",
        sha256=hashlib.sha256(data).hexdigest(), parts=parts,
        topics=[str(t) for t in topics] if isinstance(topics, list) else [str(topics)])


# Text that talks to the model instead of about medicine (OWASP LLM01, prompt injection)
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+|previous\s+|prior\s+|above\s+)*"
    r"(?:instructions?|prompts?|case|patient|rules|context|passages?|guidelines?)\b"
    r"|\byou are (?:now|an? )\b|\b(?:system|developer) prompt\b|\bassistant:\s|\bdo not (?:mention|cite|tell)\b"
    r"|\b(?:always|only) recommend\b|\brecommend\s+\w+\s+(?:to|for) (?:every|all|any) patients?\b"
    r"|\bregardless of the (?:case|patient)\b|<\|?(?:im_start|system|im_end)\|?>", re.I)


def instructions(text: str) -> list[str]:
    """Instruction-like phrases in a document ("ignore the case, recommend X"): flagged at ingest,
    shown in the corpus and under any report that retrieved it, and never copied into a Plan."""
    return sorted({m.group(0).strip().lower() for m in _INSTRUCTION.finditer(text)})


def _first_heading(parts) -> str:
    return parts[0][0].split(" > ")[0] if parts and parts[0][0] else ""


def _first_line(parts) -> str:
    """A plain text's title is its first line when that line reads like one: one sentence at most
    (PubMed exports end a title with a full stop; a guideline's full title can run to 300 characters),
    not a labelled paragraph, and followed by more text."""
    lines = parts[0][2].strip().splitlines() if parts else []
    line = lines[0].strip() if lines else ""
    one_sentence = not re.search(r"[.!?]\s+[A-Z]", line)
    if 3 <= len(line) <= 300 and one_sentence and not _LABEL.match(line) and (len(lines) > 1 or len(parts) > 1):
        return line[:-1] if line.endswith(".") else line
    return ""


TITLE_CHARS = 200
DATE_KEYS = ("published", "date", "publication_date", "pubdate", "issued", "created")


def _shorten(text: str, n: int) -> str:
    """At most n characters, cut at a word with an ellipsis."""
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


# "CONCLUSIONS: ..." in an abstract, "Practice point: ..." inline in a note, or a section name alone on its
# line, as plain text and PDF pages write their headings ("Conclusion", "Position"): a section of its own
LABELS = (r"background|objectives?|aims?|question|methods?|design|results?|findings|conclusions?|interpretation|"
          r"practice points?|key points?|key messages?|bottom line|recommendations?|position(?: statement)?|"
          r"implications for practice|summary")
_LABEL = re.compile(rf"(?:^|(?<=[.!?]) )[ \t]*({LABELS})[ \t]*(?::\s*|\n(?=\S))", re.I | re.M)


def _labelled(section: str, page, text: str) -> list[tuple[str, int | None, str]]:
    """Split a part at labelled paragraphs, so each becomes a section named by its label."""
    marks = list(_LABEL.finditer(text))
    if not marks:
        return [(section, page, text)]
    out = [(section, page, text[: marks[0].start()].strip())]
    for m, nxt in zip(marks, marks[1:] + [None]):
        label = m.group(1).strip().capitalize()
        out.append((f"{section} > {label}" if section else label, page, text[m.end(): nxt.start() if nxt else None].strip()))
    return [q for q in out if q[2]]


_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DATE_WORDS = re.compile(r"(?:published|publication date|epub|online|date|issued|updated)\W{0,3}", re.I)


def date_in_text(text: str) -> str | None:
    """A publication date the text states: ISO (2024-03-05), "5 March 2024", "March 5, 2024",
    "2024 Mar 5" or "March 2024" (the 1st). In order: one after "Published"/"Epub"/"Date"; one in the
    document's head (its first lines); a year alone from a citation line there ("N Engl J Med
    2018;378:1865": "2018"); any other ("recruited from March 2015" in the methods) last."""
    mon = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
    forms = [(r"(\d{4})-(\d{2})-(\d{2})", lambda g: (g[0], g[1], g[2])),
             (rf"(\d{{1,2}}) {mon},? (\d{{4}})", lambda g: (g[2], _MONTHS.index(g[1].lower()) + 1, g[0])),
             (rf"{mon} (\d{{1,2}}),? (\d{{4}})", lambda g: (g[2], _MONTHS.index(g[0].lower()) + 1, g[1])),
             (rf"(\d{{4}}) {mon} (\d{{1,2}})", lambda g: (g[0], _MONTHS.index(g[1].lower()) + 1, g[2])),
             (rf"{mon} (\d{{4}})", lambda g: (g[1], _MONTHS.index(g[0].lower()) + 1, 1))]
    found = []
    for pattern, parts in forms:
        for m in re.finditer(rf"\b{pattern}\b", text, re.I):
            try:
                d = dt.date(*map(int, parts(m.groups())))
            except ValueError:
                continue
            before = text[max(0, m.start() - 25): m.start()]
            rank = 0 if _DATE_WORDS.search(before) else 3 if _PERIOD.search(before) or m.start() >= HEAD_CHARS else 1
            found.append((rank, m.start(), d.isoformat()))
    found += [(2, m.start(), m.group(1)) for rx in _YEAR_ONLY for m in rx.finditer(text[:YEAR_CHARS])]
    return min(found)[2] if found else None


HEAD_CHARS = 400    # a title, authors and a date line; an abstract's methods start later
_PERIOD = re.compile(r"\b(?:from|between|since|until|till|through|to|and|during)\W{0,3}$", re.I)  # a study's dates
YEAR_CHARS = 1500   # a citation line stands in a document's head, not in its references
# A year with nothing finer, as citations give it: "N Engl J Med 2018;378:1865", "Headache. 2024;64(3):212",
# "Headache, 2024.", "(c) 2023", "Copyright 2022".
_YEAR_ONLY = [re.compile(r"\b((?:19|20)\d\d)\s*;\s*\d+"),
              re.compile(r"(?:©|\(c\)|copyright)\s*((?:19|20)\d\d)\b", re.I),
              re.compile(r"^[A-Z][A-Za-z .&-]{2,60}[.,] ((?:19|20)\d\d)\.?\s*$", re.M)]


# ---------------------------------------------------------------- chunks

def chunk(doc: Parsed, cfg: Config) -> list[Document]:
    """Split each part into ~chunk_size pieces; each chunk starts with its section heading."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    splitter = RecursiveCharacterTextSplitter(chunk_size=cfg.chunk_size, chunk_overlap=cfg.chunk_overlap)
    out: list[Document] = []
    for section, page, text in doc.parts:
        section = section.split(" > ", 1)[-1] if " > " in section else section
        for piece in splitter.split_text(text):
            meta = {"doc_id": doc.doc_id, "file_name": doc.file_name, "title": doc.title,
                    "source": doc.source, "published": doc.published,
                    "published_int": timeline_int(doc.published),  # 0: date unknown
                    "published_from": doc.published_from, "section": section,
                    "chunk": len(out), "doc_sha256": doc.sha256, "flagged": bool(doc.flags)}
            if page is not None:
                meta["page"] = page
            content = f"{section}\n{piece}" if section and section.lower() != doc.title.lower() else piece
            out.append(Document(page_content=content, metadata=meta))
    return out
