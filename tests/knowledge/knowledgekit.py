"""Helpers of the knowledge tests: files of every supported type built here (no binary
fixtures in the repository), and a deterministic embedder with no model behind it."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF with one Helvetica text line per page, written with pypdf's object model."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    with path.open("wb") as out:
        writer.write(out)
    return path


def write_docx(path: Path, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    """A minimal WordprocessingML package, as Word writes it (document.xml + content types)."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def para(text: str) -> str:
        runs = "".join(
            f'<w:r><w:t xml:space="preserve">{part}</w:t></w:r>'
            + ("<w:r><w:tab/></w:r>" if i < text.count("\t") else "")
            for i, part in enumerate(text.split("\t"))
        )
        return f"<w:p>{runs}</w:p>"

    body = "".join(para(p) for p in paragraphs)
    if table:
        rows = "".join(
            "<w:tr>" + "".join(f"<w:tc>{para(c)}</w:tc>" for c in row) + "</w:tr>" for row in table
        )
        body += f"<w:tbl>{rows}</w:tbl>"
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>'
    types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/document.xml", document)
    path.write_bytes(buffer.getvalue())
    return path


_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag of words hashed into 64 buckets, plus synonyms mapped to one bucket: vectors that
    make "similar" mean "shares words or synonyms", so vector tests can assert exact ranks."""

    name = "test:hash64"
    dimensions = 64
    SYNONYMS: ClassVar[dict[str, str]] = {
        "waterway": "river",
        "stream": "river",
        "summit": "peak",
        "automobile": "car",
    }

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            vec = [0.0] * self.dimensions
            for word in _WORD.findall(text.lower()):
                word = self.SYNONYMS.get(word, word)
                vec[hashlib.blake2b(word.encode(), digest_size=2).digest()[0] % self.dimensions] += 1.0
            out.append(vec)
        return out
