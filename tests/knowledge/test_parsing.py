"""Text out of each supported file type, and precise errors for the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from knowledgekit import write_docx, write_pdf

from agentdown.knowledge import ParseError, parse_file


def test_text_and_markdown(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain text\nline two", encoding="utf-8")
    (tmp_path / "b.markdown").write_bytes("\ufeff# Title\n\nSome *markdown*.".encode())
    assert parse_file(tmp_path / "a.txt", "a.txt") == "plain text\nline two"
    assert parse_file(tmp_path / "b.markdown", "b.markdown") == "# Title\n\nSome *markdown*."


def test_legacy_encoding_and_utf16(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_bytes("café".encode("cp1252"))
    (tmp_path / "u.txt").write_bytes("naïve".encode("utf-16"))
    assert parse_file(tmp_path / "l.txt", "l.txt") == "café"
    assert parse_file(tmp_path / "u.txt", "u.txt") == "naïve"


def test_binary_in_a_text_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_bytes(b"\x00\xff\xfe\x00" * 10 + b"\xc3\x28")
    with pytest.raises(ParseError, match=r"x\.txt is not a text file"):
        parse_file(tmp_path / "x.txt", "x.txt")


def test_html_drops_scripts_and_styles(tmp_path: Path) -> None:
    html = """<html><head><title>The Title</title><style>body{color:red}</style>
    <script>var secret = 1;</script></head><body><h1>Heading</h1><p>First &amp; foremost.</p>
    <ul><li>one</li><li>two</li></ul><script>alert('x')</script><noscript>no</noscript></body></html>"""
    (tmp_path / "p.htm").write_text(html)
    text = parse_file(tmp_path / "p.htm", "p.htm")
    assert text.splitlines() == [
        "The Title",
        "",
        "Heading",
        "",
        "First & foremost.",
        "",
        "one",
        "",
        "two",
    ] or ("Heading" in text and "First & foremost." in text and "The Title" in text)
    for hidden in ("color:red", "secret", "alert", "no\n"):
        assert hidden not in text


def test_json_is_pretty_printed(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"name": "Zorblat", "items": [1, 2], "ü": "ö"}))
    text = parse_file(tmp_path / "d.json", "d.json")
    assert text == json.dumps({"name": "Zorblat", "items": [1, 2], "ü": "ö"}, indent=2, ensure_ascii=False)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ParseError, match=r"bad\.json is not valid JSON: .* at line 1 column 2"):
        parse_file(tmp_path / "bad.json", "bad.json")


def test_csv_rows_name_their_columns(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("city,country,population\nQuenmar,Zorland,120000\nVell,Ostia,\n")
    assert parse_file(tmp_path / "t.csv", "t.csv").splitlines() == [
        "city | country | population",
        "city: Quenmar; country: Zorland; population: 120000",
        "city: Vell; country: Ostia",
    ]


def test_pdf(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "r.pdf", ["The Zorblat river (page one)", "Second page text"])
    text = parse_file(path, "r.pdf")
    assert "The Zorblat river (page one)" in text
    assert "Second page text" in text
    assert text.index("Zorblat") < text.index("Second")


def test_pdf_without_text_and_corrupt_pdf(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "blank.pdf", [""])
    with pytest.raises(ParseError, match=r"blank\.pdf has no extractable text"):
        parse_file(path, "blank.pdf")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(ParseError, match=r"bad\.pdf"):
        parse_file(tmp_path / "bad.pdf", "bad.pdf")


def test_docx(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "w.docx",
        ["Quarterly report", "Revenue grew\tten percent."],
        table=[["Region", "Sales"], ["North", "42"]],
    )
    lines = parse_file(path, "w.docx").splitlines()
    assert lines[:2] == ["Quarterly report", "Revenue grew ten percent."]
    assert {"Region", "Sales", "North", "42"} <= set(lines)


def test_docx_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "n.docx").write_bytes(b"PK not a zip")
    with pytest.raises(ParseError, match=r"n\.docx is not a valid \.docx file"):
        parse_file(tmp_path / "n.docx", "n.docx")
    import zipfile

    with zipfile.ZipFile(tmp_path / "e.docx", "w") as archive:
        archive.writestr("other.xml", "<x/>")
    with pytest.raises(ParseError, match=r"no word/document\.xml inside"):
        parse_file(tmp_path / "e.docx", "e.docx")


def test_unsupported_type_names_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "report.xyz").write_text("data")
    with pytest.raises(ParseError) as info:
        parse_file(tmp_path / "report.xyz", "report.xyz")
    assert str(info.value) == (
        "unsupported file type '.xyz' (report.xyz): supported are .txt .md .html .json .csv .pdf .docx"
    )
    with pytest.raises(ParseError, match=r"unsupported file type \(none\) \(README\)"):
        parse_file(tmp_path / "report.xyz", "README", "application/octet-stream")


def test_content_type_stands_in_for_a_missing_extension(tmp_path: Path) -> None:
    (tmp_path / "blob").write_text("<p>hello <b>there</b></p>")
    assert parse_file(tmp_path / "blob", "upload", "text/html; charset=utf-8") == "hello there"
    # The extension wins over the content type.
    assert parse_file(tmp_path / "blob", "page.txt", "text/html") == "<p>hello <b>there</b></p>"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"cannot read gone\.txt"):
        parse_file(tmp_path / "gone.txt", "gone.txt")
