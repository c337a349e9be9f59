"""Text out of an uploaded file, chosen by its extension (else its content type).

Blocking (files may be large, PDFs slow): callers run :func:`parse_file` in a thread.
Every failure is a :class:`ParseError` whose message names the file and says what is
wrong, since it is shown to the user as the vector-store file's ``last_error``.

DOCX is read with the standard library (a .docx is a zip of WordprocessingML): the
``python-docx`` package would add lxml (about 5 MB installed) to extract the same
paragraph text.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path, PurePath
from xml.etree import ElementTree

from agentdown.knowledge.base import ParseError

__all__ = ["SUPPORTED_EXTENSIONS", "parse_file"]

_CONTENT_TYPES = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/json": ".json",
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
_ALIASES = {".markdown": ".md", ".htm": ".html", ".text": ".txt"}
SUPPORTED_EXTENSIONS = (".txt", ".md", ".html", ".json", ".csv", ".pdf", ".docx")

# A .docx's document.xml beyond this is refused: a zip bomb, not a document.
_MAX_DOCX_XML_BYTES = 256 * 1024 * 1024


def parse_file(path: Path, filename: str, content_type: str | None = None) -> str:
    """The text of the file at ``path``, uploaded as ``filename`` with ``content_type``."""
    kind = _kind(filename, content_type)
    try:
        return _PARSERS[kind](path, filename)
    except ParseError:
        raise
    except OSError as exc:
        raise ParseError(f"cannot read {filename}: {exc.strerror or exc}") from exc


def _kind(filename: str, content_type: str | None) -> str:
    suffix = PurePath(filename).suffix.lower()
    suffix = _ALIASES.get(suffix, suffix)
    if suffix in SUPPORTED_EXTENSIONS:
        return suffix
    media = (content_type or "").split(";")[0].strip().lower()
    # A generic type says nothing about the content; only a specific one can stand in
    # for a missing or unknown extension.
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    shown = f"'{suffix}'" if suffix else "(none)"
    raise ParseError(
        f"unsupported file type {shown} ({filename}): supported are {' '.join(SUPPORTED_EXTENSIONS)}"
    )


def _decode(data: bytes, filename: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if b"\x00" in data[:8192]:
            raise ParseError(f"{filename} is not a text file (it holds binary data)") from exc
        # Not UTF-8 but text: the likeliest legacy encoding, which decodes any byte.
        return data.decode("cp1252", errors="replace")


def _text(path: Path, filename: str) -> str:
    return _decode(path.read_bytes(), filename)


def _json(path: Path, filename: str) -> str:
    raw = _text(path, filename)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{filename} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return json.dumps(value, indent=2, ensure_ascii=False)


def _csv(path: Path, filename: str) -> str:
    raw = _text(path, filename)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(raw[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(raw), dialect))
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    # Each row names its columns, so a chunk holding rows far from the header still
    # says what its values are.
    lines = [" | ".join(header)]
    for row in body:
        cells = [
            f"{header[i] if i < len(header) else f'column {i + 1}'}: {cell}"
            for i, cell in enumerate(row)
            if cell
        ]
        if cells:
            lines.append("; ".join(cells))
    return "\n".join(lines)


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "footer",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "pre",
            "blockquote",
            "title",
            "dt",
            "dd",
            "hr",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._title = True
        elif tag in self._SKIP:
            self._skipping += 1
        if tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._title = False
        elif tag in self._SKIP and self._skipping:
            self._skipping -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        # The title is worth keeping though it sits in <head>, which is skipped.
        if self._title or not self._skipping:
            self.parts.append(data)


def _html(path: Path, filename: str) -> str:
    parser = _HTMLText()
    parser.feed(_text(path, filename))
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _pdf(path: Path, filename: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(f"{filename} is an encrypted PDF; upload it without a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"{filename} is not a readable PDF: {exc}") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise ParseError(
            f"{filename} has no extractable text (a scanned PDF holds images of text; run OCR on it first)"
        )
    return text


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(path: Path, filename: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("word/document.xml")
            except KeyError:
                raise ParseError(f"{filename} is not a Word document (no word/document.xml inside)") from None
            if info.file_size > _MAX_DOCX_XML_BYTES:
                raise ParseError(f"{filename} is too large to index ({info.file_size} bytes of document XML)")
            with archive.open(info) as xml:
                root = ElementTree.parse(xml).getroot()
    except zipfile.BadZipFile as exc:
        raise ParseError(f"{filename} is not a valid .docx file (not a zip archive)") from exc
    except ElementTree.ParseError as exc:
        raise ParseError(f"{filename} is not a valid .docx file: {exc}") from exc
    paragraphs: list[str] = []
    for para in root.iter(f"{_W}p"):
        parts: list[str] = []
        for node in para.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag == f"{_W}tab":
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
        paragraphs.append("".join(parts))
    return _tidy("\n".join(paragraphs))


_PARSERS: dict[str, Callable[[Path, str], str]] = {
    ".txt": _text,
    ".md": _text,
    ".html": _html,
    ".json": _json,
    ".csv": _csv,
    ".pdf": _pdf,
    ".docx": _docx,
}
