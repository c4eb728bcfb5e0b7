"""``privroute redact --out``: exit codes, usage errors, JSON report, progress only on a TTY."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from privroute.cli import main
from privroute.cli.batch import ProgressBar

from .batch_fixtures import EMAIL, SENTENCE, read_report, write

KEY = "a mapping key long enough"


@pytest.fixture
def tree(tmp_path: Path, warm_router: Any) -> Path:
    write(tmp_path / "in" / "a.txt", SENTENCE)
    write(tmp_path / "in" / "sub" / "b.md", f"Contact: {EMAIL}\n")
    return tmp_path / "in"


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["redact", *args], env=env, catch_exceptions=False)


class TestExitCodes:
    def test_all_documents_done_exits_0_and_prints_the_report_as_json(self, tree: Path, tmp_path: Path) -> None:
        """--json prints report.json's content on stdout; the summary goes to stderr."""
        result = invoke("--out", str(tmp_path / "out"), "--workers", "1", "--json", str(tree))
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data == read_report(tmp_path / "out")
        assert data["done"] == 2 and EMAIL not in result.stdout + result.stderr
        assert "2 done, 0 skipped, 0 failed" in result.stderr

    def test_any_failed_document_exits_1(self, tree: Path, tmp_path: Path) -> None:
        """One bad file: exit 1, the reason on stderr, the good files written."""
        write(tree / "bad.json", "{")
        result = invoke("--out", str(tmp_path / "out"), "--workers", "1", str(tree))
        assert result.exit_code == 1
        assert "bad.json: malformed JSON (line 1, column 2)" in result.stderr
        assert (tmp_path / "out" / "sub" / "b.md").exists()

    @pytest.mark.parametrize("case", ["outdir-in-input", "no-inputs", "mapping-without-key", "short-key",
                                      "unknown-policy", "bad-workers"])
    def test_usage_errors_exit_2_with_one_line_and_no_output(self, case: str, tree: Path, tmp_path: Path) -> None:
        """Nothing is written when the command line is wrong."""
        out = str(tmp_path / "out")
        args = {
            "outdir-in-input": ["--out", str(tree / "o"), str(tree)],
            "no-inputs": ["--out", out],
            "mapping-without-key": ["--out", out, "--mapping", str(tmp_path / "m"), "--key-env", "NOPE_KEY",
                                    str(tree)],
            "short-key": ["--out", out, "--mapping", str(tmp_path / "m"), "--key", "short", str(tree)],
            "unknown-policy": ["--out", out, "--policy", "no-such-policy", str(tree)],
            "bad-workers": ["--out", out, "--workers", "0", str(tree)],
        }[case]
        result = invoke(*args)
        assert result.exit_code == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "out").exists() and not (tree / "o").exists()

    def test_mapping_key_comes_from_the_environment(self, tree: Path, tmp_path: Path) -> None:
        """--consistent --mapping with $PRIVROUTE_MAPPING_KEY set: exit 0, the file exists, encrypted."""
        mapping = tmp_path / "m.enc"
        result = invoke("--out", str(tmp_path / "out"), "--workers", "1", "--consistent", "--mapping", str(mapping),
                        str(tree), env={"PRIVROUTE_MAPPING_KEY": KEY})
        assert result.exit_code == 0, result.stderr
        assert mapping.read_bytes().startswith(b"privroute-mapping v1\n") and EMAIL.encode() not in mapping.read_bytes()

    def test_single_text_redaction_is_unchanged(self, warm_router: Any) -> None:
        """Without --out, redact still takes one text and prints it redacted."""
        result = CliRunner().invoke(main, ["redact", "--json", SENTENCE])
        assert result.exit_code == 0
        assert EMAIL not in json.loads(result.stdout)["text"]


    def test_batch_options_without_out_are_a_usage_error(self, warm_router: Any) -> None:
        """--consistent on a single text is a mistake, not silently ignored."""
        result = CliRunner().invoke(main, ["redact", "--consistent", SENTENCE])
        assert result.exit_code == 2 and "--consistent is a batch option" in result.stderr


class TestProgress:
    def test_no_progress_bar_when_stderr_is_not_a_terminal(self, tree: Path, tmp_path: Path) -> None:
        """Pipes and CI logs get the summary line only."""
        result = invoke("--out", str(tmp_path / "out"), "--workers", "1", str(tree))
        assert "docs/s  ETA" not in result.stderr

    def test_progress_flag_forces_the_bar(self, tree: Path, tmp_path: Path) -> None:
        """--progress draws it anyway, with documents/s and an ETA."""
        result = invoke("--out", str(tmp_path / "out"), "--workers", "1", "--progress", str(tree))
        assert "2/2 docs" in result.stderr and "docs/s  ETA" in result.stderr

    def test_bar_shows_rate_and_eta(self) -> None:
        """Half of 100 documents in 10 s: 5.0 docs/s, 10 s to go."""
        stream = io.StringIO()
        bar = ProgressBar(stream, width=10, min_interval_s=0)
        bar(50, 100, 10.0)
        bar.close()
        assert stream.getvalue() == "\r[#####.....] 50/100 docs  5.0 docs/s  ETA 0:10 \n"

    def test_quiet_prints_nothing(self, tree: Path, tmp_path: Path) -> None:
        """--quiet: no bar, no summary; the exit code and report.json still tell."""
        result = invoke("--out", str(tmp_path / "out"), "--workers", "1", "--quiet", str(tree))
        assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""
