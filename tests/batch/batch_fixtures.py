"""Shared helpers for the batch tests: documents in every format, holding known PII."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

# Values the default detector finds in context; every test asserts they never reach an output.
EMAIL = "jane.roe@example.com"
EMAIL_2 = "maria.garcia@example.org"
PERSON = "Jane Roe"
SSN = "078-05-1120"
PII = (EMAIL, EMAIL_2, SSN)

SENTENCE = f"Please email {EMAIL} about the claim; her social security number is {SSN}."
END = "END-OF-DOCUMENT"


@pytest.fixture(scope="session")
def warm_router() -> Any:
    """The general policy's router with its detector loaded once for the session."""
    from privroute.router import get_router

    router = get_router("general")
    router.detector.detect(SENTENCE)
    return router


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, "utf-8")
    else:
        path.write_bytes(data)
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root`` (to prove inputs were not touched)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def all_output_bytes(out: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())


def read_report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text("utf-8"))


def make_docx(with_link: bool = True) -> bytes:
    """A .docx with PII split across formatted runs, in a table, a header, a link and metadata."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    paragraph = document.add_paragraph()
    paragraph.add_run("Write to ")
    bold = paragraph.add_run("jane.roe@")
    bold.bold = True
    italic = paragraph.add_run("example.com")
    italic.italic = True
    paragraph.add_run(" today.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Contact"
    table.cell(0, 1).text = f"Her SSN is {SSN} on file."
    document.sections[0].header.paragraphs[0].text = f"Prepared for {EMAIL_2}"
    document.core_properties.author = PERSON
    document.core_properties.title = f"Notes about {EMAIL_2}"
    if with_link:
        rel_id = paragraph.part.relate_to(f"mailto:{EMAIL}", RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), rel_id)
        run = OxmlElement("w:r")
        text = OxmlElement("w:t")
        text.text = "mail her"
        run.append(text)
        link.append(run)
        document.add_paragraph()._p.append(link)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica, no dependencies)."""
    content = "BT /F1 11 Tf 50 750 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*" for line in lines
    ) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def run_batch(inputs: list[Path], out: Path, **options: Any) -> Any:
    """redact_files under the general policy, in process unless ``workers`` says otherwise."""
    import privroute

    options.setdefault("workers", 1)
    options.setdefault("policy", "general")
    return privroute.redact_files([str(p) for p in inputs], out_dir=str(out), **options)
