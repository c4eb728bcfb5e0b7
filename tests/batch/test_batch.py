"""Batch redaction: formats, bad inputs, safety of the input tree, resume, report.

Everything runs the real Presidio + spaCy detector, in process (workers=1); the
process pool and Ray engines have their own tests (test_batch_engines.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from privroute.batch import BatchUsageError, atomic_write

from .batch_fixtures import (
    EMAIL,
    EMAIL_2,
    PII,
    SENTENCE,
    SSN,
    all_output_bytes,
    make_docx,
    make_pdf,
    read_report,
    run_batch,
    tree_digest,
    write,
)

run = run_batch


@pytest.fixture
def corpus(tmp_path: Path, warm_router: Any) -> Path:
    root = tmp_path / "corpus"
    write(root / "notes" / "a.txt", f"First line.\n{SENTENCE}\n\nLast paragraph stays.\n")
    write(root / "readme.md", f"# Title\n\n- contact: {EMAIL_2}\n- status: open\n")
    write(root / "people.csv", f"name,email,note\nJR,{EMAIL},ok\nMG,{EMAIL_2},\"ssn {SSN}\"\n")
    write(root / "data.json", json.dumps({"owner": {"mail": EMAIL, "age": 41, "tags": [f"ssn {SSN}", "x"]},
                                          "active": True, "n": None}, indent=2) + "\n")
    write(root / "rows.jsonl", json.dumps({"m": EMAIL}) + "\n\n" + json.dumps([EMAIL_2, 3]) + "\n")
    write(root / "memo.docx", make_docx())
    write(root / "scan.pdf", make_pdf([f"Contact {EMAIL} now.", f"SSN {SSN} on file."]))
    write(root / "image.png", b"\x89PNG\r\n\x1a\n....")
    return root


class TestFormats:
    def test_every_format_is_redacted_and_no_value_reaches_an_output(self, corpus: Path, tmp_path: Path) -> None:
        """Seven documents of six types come out with no PII value and a complete report."""
        out = tmp_path / "out"
        report = run([corpus], out)
        assert report.failed == ()
        assert report.done == 7
        outputs = all_output_bytes(out)
        for value in PII:
            assert value.encode() not in outputs
        data = read_report(out)
        assert data["entities"]["EMAIL_ADDRESS"] >= 8
        assert data["skipped_files"] == [{"path": str(corpus / "image.png"), "reason": "unsupported type '.png'"}]

    def test_text_outside_the_values_is_kept_byte_for_byte(self, corpus: Path, tmp_path: Path) -> None:
        """Plain text keeps every other character, line and paragraph."""
        out = tmp_path / "out"
        run([corpus / "notes" / "a.txt"], out)
        text = (out / "a.txt").read_text("utf-8")
        assert text.startswith("First line.\nPlease email <EMAIL_ADDRESS_1> about the claim; her ")
        assert text.endswith(" is <US_SSN_1>.\n\nLast paragraph stays.\n")

    def test_csv_keeps_header_and_shape(self, corpus: Path, tmp_path: Path) -> None:
        """Header untouched, same rows and columns, cells redacted."""
        out = tmp_path / "out"
        run([corpus / "people.csv"], out)
        rows = list(csv.reader(io.StringIO((out / "people.csv").read_text("utf-8"))))
        assert rows[0] == ["name", "email", "note"]
        assert [len(r) for r in rows] == [3, 3, 3]
        assert rows[1][1].startswith("<EMAIL_ADDRESS_") and rows[2][1].startswith("<EMAIL_ADDRESS_")
        assert rows[1][1] != rows[2][1]

    def test_csv_column_selection_redacts_only_those_columns(self, tmp_path: Path, warm_router: Any) -> None:
        """--columns note: the email column is left as is, the note column is redacted."""
        src = write(tmp_path / "in" / "t.csv", f"email,note\n{EMAIL},\"mail {EMAIL_2} today\"\n")
        out = tmp_path / "out"
        assert run([src], out, columns=("note",)).failed == ()
        rows = list(csv.reader(io.StringIO((out / "t.csv").read_text("utf-8"))))
        assert rows[1][0] == EMAIL
        assert EMAIL_2 not in rows[1][1]

    def test_csv_unknown_column_fails_the_file_naming_the_column(self, tmp_path: Path, warm_router: Any) -> None:
        """A selected column missing from the header is a per-file failure."""
        src = write(tmp_path / "in" / "t.csv", "a,b\n1,2\n")
        report = run([src], tmp_path / "out", columns=("nope",))
        assert report.failed == ((str(src), "column(s) not in the CSV header: nope"),)

    def test_json_and_jsonl_keep_their_structure(self, corpus: Path, tmp_path: Path) -> None:
        """Same keys, numbers, booleans and nulls; blank JSONL lines stay."""
        out = tmp_path / "out"
        run([corpus / "data.json", corpus / "rows.jsonl"], out)
        data = json.loads((out / "data.json").read_text("utf-8"))
        assert data["owner"]["age"] == 41 and data["active"] is True and data["n"] is None
        assert data["owner"]["mail"] == "<EMAIL_ADDRESS_1>"
        assert data["owner"]["tags"][1] == "x"
        lines = (out / "rows.jsonl").read_text("utf-8").split("\n")
        assert lines[1] == "" and json.loads(lines[2])[1] == 3 and len(lines) == 4

    def test_docx_is_edited_in_place_keeping_run_formatting(self, corpus: Path, tmp_path: Path) -> None:
        """A value split over bold and italic runs becomes one token in the bold run."""
        import docx

        out = tmp_path / "out"
        run([corpus / "memo.docx"], out)
        document = docx.Document(str(out / "memo.docx"))
        runs = document.paragraphs[0].runs
        assert [r.text for r in runs] == ["Write to ", "<EMAIL_ADDRESS_1>", "", " today."]
        assert runs[1].bold is True and runs[2].italic is True
        assert SSN not in document.tables[0].cell(0, 1).text
        assert EMAIL_2 not in document.sections[0].header.paragraphs[0].text
        assert document.core_properties.author == "" and EMAIL_2 not in document.core_properties.title
        links = [r.target_ref for r in document.part.rels.values() if r.is_external]
        assert links and all(EMAIL not in link for link in links)

    def test_pdf_becomes_redacted_text_and_the_report_says_so(self, corpus: Path, tmp_path: Path) -> None:
        """scan.pdf -> scan.pdf.txt, listed under converted."""
        out = tmp_path / "out"
        run([corpus / "scan.pdf"], out)
        text = (out / "scan.pdf.txt").read_text("utf-8")
        assert "Contact <EMAIL_ADDRESS_1> now." in text and SSN not in text
        assert read_report(out)["converted"][0]["output"] == "scan.pdf.txt"


class TestBadInputs:
    def test_each_bad_file_fails_alone_with_a_clear_reason(self, tmp_path: Path, warm_router: Any) -> None:
        """Binary, invalid UTF-8, empty, 200 MB, FIFO, loops, malformed CSV/JSON/DOCX/PDF: the good file completes."""
        root = tmp_path / "in"
        write(root / "good.txt", SENTENCE)
        write(root / "binary.txt", b"abc\x00\x01\x02")
        write(root / "latin1.txt", "caf\u00e9 Jane".encode("latin-1"))
        write(root / "empty.txt", b"")
        with open(write(root / "huge.txt", b""), "r+b") as handle:
            handle.truncate(200 * 1000 * 1000)  # sparse: costs no disk
        os.mkfifo(root / "pipe.txt")
        os.symlink(root / "loop_b.txt", root / "loop_a.txt")
        os.symlink(root / "loop_a.txt", root / "loop_b.txt")
        os.symlink(root, root / "sub_link")
        write(root / "bad.csv", f'a,b\n"{EMAIL}"x,1\n')
        write(root / "bad.json", f'{{"mail": "{EMAIL}",}}')
        write(root / "bad.jsonl", '{"ok": 1}\n{"mail": ' + f'"{EMAIL}"\n')
        write(root / "dup.json", '{"a": "x", "a": "y"}')
        write(root / "bad.docx", b"PK\x03\x04" + EMAIL.encode())
        write(root / "bad.pdf", b"%PDF-1.4\n" + EMAIL.encode() + b"\n%%EOF")
        out = tmp_path / "out"
        report = run([root], out)
        reasons = dict(report.failed)
        expected = {
            "binary.txt": "binary content (NUL bytes) in a text file",
            "latin1.txt": "invalid UTF-8 at byte 3",
            "empty.txt": "empty file",
            "huge.txt": "file too large (190.7 MiB; the limit is 100.0 MiB)",
            "pipe.txt": "not a regular file",
            "loop_a.txt": "symlink loop",
            "loop_b.txt": "symlink loop",
            "sub_link": "symlink loop (a directory link points back to its parent)",
            "bad.csv": "malformed CSV at line 2",
            "bad.json": "malformed JSON (line 1, column 33)",
            "bad.jsonl": "malformed JSON on line 2 (column 32)",
            "dup.json": "JSON object with a duplicate key (a value would be lost)",
            "bad.docx": "malformed DOCX (not a readable Word document)",
            "bad.pdf": "malformed PDF (text could not be extracted)",
        }
        assert {Path(p).name: r for p, r in reasons.items()} == expected
        assert report.done == 1 and report.exit_code == 1
        assert (out / "good.txt").exists()
        assert not any(value.encode() in (out / "report.json").read_bytes() for value in PII)

    def test_unreadable_file_is_reported(self, tmp_path: Path, warm_router: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
        """Permission denied (simulated: tests run as root) fails that file only."""
        root = tmp_path / "in"
        secret = write(root / "secret.txt", SENTENCE)
        write(root / "ok.txt", SENTENCE)
        original = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self == secret:
                raise PermissionError(13, "Permission denied")
            return original(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
        report = run([root], tmp_path / "out")
        assert report.failed == ((str(secret), "unreadable (permission denied)"),)
        assert report.done == 1

    def test_missing_input_and_empty_glob_are_failures_not_crashes(self, tmp_path: Path, warm_router: Any) -> None:
        """A typo in one input does not stop the others."""
        good = write(tmp_path / "in" / "a.txt", SENTENCE)
        report = run([good, tmp_path / "nope.txt", tmp_path / "*.nothing"], tmp_path / "out")
        assert dict(report.failed) == {str(tmp_path / "nope.txt"): "no such file or directory",
                                       str(tmp_path / "*.nothing"): "no file matches this pattern"}
        assert report.done == 1


class TestInputSafety:
    def test_outdir_inside_an_input_directory_is_refused_before_any_work(self, corpus: Path) -> None:
        """Nothing is created, nothing is read."""
        before = tree_digest(corpus)
        with pytest.raises(BatchUsageError, match="inside the input directory"):
            run([corpus], corpus / "out")
        with pytest.raises(BatchUsageError, match="inside the input directory"):
            run([corpus], corpus)
        assert tree_digest(corpus) == before

    def test_an_output_that_would_overwrite_an_input_is_refused(self, tmp_path: Path, warm_router: Any) -> None:
        """OUTDIR = the folder of an input file: refused, the input is intact."""
        src = write(tmp_path / "d" / "a.txt", SENTENCE)
        with pytest.raises(BatchUsageError, match="overwrite an input"):
            run([src], tmp_path / "d")
        assert src.read_text("utf-8") == SENTENCE

    def test_mapping_file_inside_the_inputs_is_refused(self, corpus: Path, tmp_path: Path) -> None:
        """The encrypted mapping is an output too: not inside an input tree."""
        with pytest.raises(BatchUsageError, match="inside the inputs"):
            run([corpus], tmp_path / "out", mapping=corpus / "map.enc", mapping_key="k" * 20)
        assert not (corpus / "map.enc").exists() and not (tmp_path / "out").exists()

    def test_unknown_or_invalid_options_are_usage_errors(self, corpus: Path, tmp_path: Path) -> None:
        """A typo in an option name or a bad value stops the run before it starts."""
        with pytest.raises(BatchUsageError, match="consistant"):
            run([corpus], tmp_path / "out", consistant=True)
        with pytest.raises(BatchUsageError, match="engine"):
            run([corpus], tmp_path / "out", engine="spark")
        assert not (tmp_path / "out").exists()

    def test_inputs_are_never_modified(self, corpus: Path, tmp_path: Path) -> None:
        """Every input byte is the same after a run."""
        before = tree_digest(corpus)
        run([corpus], tmp_path / "out")
        assert tree_digest(corpus) == before

    def test_output_tree_mirrors_inputs_and_globs(self, tmp_path: Path, warm_router: Any) -> None:
        """Two directories keep their names under their common parent; a glob picks files."""
        write(tmp_path / "in" / "x" / "deep" / "a.txt", SENTENCE)
        write(tmp_path / "in" / "y" / "b.md", SENTENCE)
        write(tmp_path / "in" / "y" / "c.txt", SENTENCE)
        out = tmp_path / "out"
        run([tmp_path / "in" / "x", tmp_path / "in" / "y" / "*.md"], out)
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                         and ".privroute" not in p.parts)
        assert written == ["report.json", "x/deep/a.txt", "y/b.md"]


class TestAtomicWrites:
    def test_a_failed_write_leaves_the_old_file_and_no_temporary(self, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        """A crash between write and rename never exposes a partial output."""
        target = write(tmp_path / "o" / "a.txt", "old")

        def boom(*_args: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises(OSError):
            atomic_write(target, b"new content")
        assert target.read_text() == "old"
        assert [p.name for p in target.parent.iterdir()] == ["a.txt"]

    def test_write_replaces_whole_file(self, tmp_path: Path) -> None:
        """The new bytes, complete, under the final name."""
        target = tmp_path / "o" / "deep" / "a.txt"
        atomic_write(target, b"first")
        atomic_write(target, b"second, longer")
        assert target.read_bytes() == b"second, longer"
        assert len(list(target.parent.iterdir())) == 1


class TestResume:
    def test_rerun_skips_finished_documents_and_redoes_changed_ones(self, corpus: Path, tmp_path: Path) -> None:
        """Unchanged -> skipped; edited input or deleted output -> redone; --force redoes all."""
        out = tmp_path / "out"
        first = run([corpus], out)
        second = run([corpus], out)
        assert (second.done, second.skipped) == (0, first.done + 1)
        write(corpus / "notes" / "a.txt", f"Changed. {SENTENCE}")
        (out / "readme.md").unlink()
        third = run([corpus], out)
        assert third.done == 2
        assert (out / "notes" / "a.txt").read_text("utf-8").startswith("Changed. ")
        assert run([corpus], out, force=True).done == first.done

    def test_a_different_policy_redoes_everything(self, corpus: Path, tmp_path: Path) -> None:
        """Outputs made under another policy are not reused."""
        out = tmp_path / "out"
        run([corpus / "notes"], out)
        again = run([corpus / "notes"], out, policy="finance")
        assert again.done == 1 and again.skipped == 0


class TestReport:
    def test_report_has_the_documented_keys(self, corpus: Path, tmp_path: Path) -> None:
        """done, skipped, failed[{path, reason}], entities{type: n}."""
        write(corpus / "empty.txt", b"")
        out = tmp_path / "out"
        report = run([corpus], out)
        data = read_report(out)
        assert {"done", "skipped", "failed", "entities"} <= set(data)
        assert data["done"] == report.done == 7 and data["skipped"] == 1
        assert data["failed"] == [{"path": str(corpus / "empty.txt"), "reason": "empty file"}]
        assert all(isinstance(n, int) and n > 0 for n in data["entities"].values())
        assert "PLACEHOLDER" not in data["entities"]

    def test_progress_callback_counts_every_document_up_to_the_total(self, corpus: Path, tmp_path: Path) -> None:
        """progress(finished, total, elapsed) rises by one per document and ends at the total."""
        calls: list[tuple[int, int]] = []
        run([corpus], tmp_path / "out", progress=lambda done, total, _elapsed: calls.append((done, total)))
        assert [done for done, _ in calls] == list(range(1, 9))
        assert {total for _, total in calls} == {8}

