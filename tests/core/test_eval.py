"""`privroute eval`: input formats, metric definitions, CLI output and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from privroute.cli import main
from privroute.errors import InputError
from privroute.evaluate import Example, LabelRoles, Span, evaluate, load_examples
from tests.paths import REPO, SHARED_DATA

SECRET_NAME = "Xanthippe Okonkwo-Lindqvist"
SECRET_MAIL = "xanthippe.ol@example.org"


def _spans_jsonl(tmp_path: Path) -> Path:
    text = f"Please ask {SECRET_NAME} at {SECRET_MAIL} about the invoice."
    records = [
        {"text": text, "spans": [
            {"label": "PERSON", "start": text.index(SECRET_NAME), "end": text.index(SECRET_NAME) + len(SECRET_NAME)},
            {"label": "EMAIL_ADDRESS", "start": text.index(SECRET_MAIL), "end": text.index(SECRET_MAIL) + len(SECRET_MAIL)},
        ]},
        {"text": "What is the capital of the moon?", "spans": []},
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


class TestFormats:
    def test_presidio_research_json(self, tmp_path: Path) -> None:
        """The presidio-research array format is read with its offsets."""
        text = f"Mail {SECRET_MAIL} now"
        start = text.index(SECRET_MAIL)
        path = tmp_path / "synth.json"
        path.write_text(json.dumps([{"full_text": text, "spans": [
            {"entity_type": "EMAIL_ADDRESS", "entity_value": SECRET_MAIL, "start_position": start,
             "end_position": start + len(SECRET_MAIL)}]}]), encoding="utf-8")
        [example] = load_examples(path)
        assert example.spans == (Span("EMAIL_ADDRESS", start, start + len(SECRET_MAIL)),)

    def test_jsonl_spans_and_adversarial(self, tmp_path: Path) -> None:
        """JSONL with spans and JSONL with pii_values are both accepted."""
        assert len(load_examples(_spans_jsonl(tmp_path))) == 2
        adv = tmp_path / "adv.jsonl"
        adv.write_text(json.dumps({"text": f"hi {SECRET_NAME}", "pii_values": [SECRET_NAME], "category": "x"}),
                       encoding="utf-8")
        assert load_examples(adv)[0].values == (SECRET_NAME,)

    @pytest.mark.parametrize("content,message", [
        ('{"text": "abc", "spans": [{"label": "X", "start": 2, "end": 9}]}', "outside the text"),
        ('{"text": "abc", "pii_values": ["zzz"]}', "do not occur"),
        ("{not json", "not valid JSON"),
        ('{"foo": 1}', "expected"),
        ("", "no examples"),
    ])
    def test_malformed_input_is_a_clear_error(self, tmp_path: Path, content: str, message: str) -> None:
        """Bad records raise InputError naming the line, never with the text in it."""
        path = tmp_path / "bad.jsonl"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_examples(path)

    def test_repr_holds_no_text(self) -> None:
        """An Example prints sizes, not contents."""
        assert SECRET_NAME not in repr(Example(SECRET_NAME))


class TestMetrics:
    def test_fully_redacted_values_do_not_leak(self, tmp_path: Path) -> None:
        """Name and e-mail are caught: no verbatim or word leak, clean text unchanged."""
        report = evaluate(load_examples(_spans_jsonl(tmp_path)), "general")
        assert report.verbatim_leak == 0.0 and report.token_leak == 0.0
        assert report.recall == pytest.approx(1.0)
        assert report.clean_changed == 0.0
        assert report.over_redaction is not None and report.over_redaction < 0.2
        assert report.p50_ms > 0

    def test_missed_value_counts_as_leak(self) -> None:
        """A labeled span over ordinary words (never detected) shows up as a full leak."""
        text = "the blue bicycle was fast"
        report = evaluate([Example(text, (Span("SECRET", 4, 16),))], "general")
        assert report.verbatim_leak == 1.0 and report.token_leak == 1.0 and report.recall == 0.0

    def test_adversarial_caught_share(self) -> None:
        """An obfuscated value is caught; an ordinary phrase labeled as a value is not."""
        caught = Example("reply to anna.berg at gmail dot com", values=("anna.berg at gmail dot com",))
        missed = Example("the weather is nice", values=("weather",))
        report = evaluate([caught, missed], "general", categories=["email", "control"])
        assert report.caught == 0.5
        assert report.per_category == {"control": {"values": 1, "caught": 0}, "email": {"values": 1, "caught": 1}}


class TestCommand:
    def test_json_output_has_the_contract_keys_and_no_pii(self, tmp_path: Path) -> None:
        """--json prints one object with the documented keys and none of the values."""
        result = CliRunner().invoke(main, ["eval", "--policy", "general", str(_spans_jsonl(tmp_path)), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        for key in ("recall", "precision", "verbatim_leak", "token_leak", "over_redaction", "p50_ms", "p95_ms"):
            assert key in data
        assert SECRET_NAME not in result.output and SECRET_MAIL not in result.output
        assert "Okonkwo" not in result.output

    def test_table_output(self, tmp_path: Path) -> None:
        """Without --json a readable table with per-type rows, still without values."""
        result = CliRunner().invoke(main, ["eval", str(_spans_jsonl(tmp_path))])
        assert result.exit_code == 0
        assert "token_leak" in result.output and "EMAIL_ADDRESS" in result.output
        assert SECRET_MAIL not in result.output

    @pytest.mark.parametrize("args", [["missing.jsonl"], ["--policy", "no-such-policy", "DATA"]])
    def test_errors_are_one_line_and_non_zero(self, tmp_path: Path, args: list[str]) -> None:
        """A missing file or unknown policy: one line on stderr, non-zero exit, no traceback."""
        data = _spans_jsonl(tmp_path)
        args = [str(data) if a == "DATA" else str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
        result = CliRunner().invoke(main, ["eval", *args])
        assert result.exit_code != 0
        assert "Traceback" not in result.output
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1

    def test_adversarial_dev_meets_target(self) -> None:
        """The shared adversarial dev set: at least 90% of values caught."""
        path = SHARED_DATA / "adversarial_dev.jsonl"
        result = CliRunner().invoke(main, ["eval", str(path), "--json"])
        assert result.exit_code == 0
        assert json.loads(result.output)["caught"] >= 0.9


class TestLabelRoles:
    TEXT = "Justice Okafor heard Xanthippe Okonkwo-Lindqvist in the Supreme Court."

    def _example(self) -> Example:
        judge = self.TEXT.index("Okafor")
        party = self.TEXT.index("Xanthippe")
        return Example(self.TEXT, (Span("JUDGE", judge, judge + len("Okafor")),
                                   Span("PARTY", party, party + len(SECRET_NAME))))

    @pytest.mark.parametrize("spec", ["redact=PARTY;keep=JUDGE", " keep = JUDGE ; redact = PARTY "])
    def test_inline_spec(self, spec: str) -> None:
        roles = LabelRoles.parse(spec)
        assert roles.must_redact("PARTY") and not roles.must_redact("JUDGE")
        assert roles.must_redact("UNNAMED")  # a forgotten label never hides a leak

    def test_file_spec_and_errors(self, tmp_path: Path) -> None:
        path = tmp_path / "labels.yaml"
        path.write_text("redact: [PARTY]\nkeep: [JUDGE]\n", encoding="utf-8")
        assert LabelRoles.parse(str(path)) == LabelRoles(frozenset({"PARTY"}), frozenset({"JUDGE"}))
        for bad in ("redact=A;keep=A", "drop=A", str(tmp_path / "missing.yaml")):
            with pytest.raises(InputError):
                LabelRoles.parse(bad)

    def test_kept_label_is_not_a_leak_and_its_destruction_is_counted(self) -> None:
        """A redacted judge is 'destroyed'; only the party counts for recall and words left."""
        roles = LabelRoles.parse("redact=PARTY;keep=JUDGE")
        report = evaluate([self._example()], "general", roles=roles)
        assert report.per_type["JUDGE"]["role"] == "keep"
        assert report.per_type["JUDGE"]["destroyed"] == 1.0  # the general policy redacts judges
        assert report.per_type["PARTY"]["role"] == "redact"
        assert report.protected_words_left == 0.0 and report.recall == pytest.approx(1.0)
        # "Okafor" is a kept label's word that was replaced: counted among other words destroyed.
        assert report.other_words_destroyed is not None and report.other_words_destroyed > 0
        without = evaluate([self._example()], "general")
        assert without.recall == pytest.approx(1.0)

    def test_words_left_in_place(self) -> None:
        """protected_words_left counts words of a value that no redaction touched."""
        text = "the blue bicycle was fast"
        report = evaluate([Example(text, (Span("SECRET", 4, 16),))], "general", roles=LabelRoles())
        assert report.protected_words_left == 1.0

    def test_misses_only_on_request_and_not_in_repr(self) -> None:
        roles = LabelRoles.parse("redact=PARTY;keep=JUDGE")
        assert evaluate([self._example()], "general", roles=roles).misses == ()
        report = evaluate([self._example()], "general", roles=roles, show_misses=True)
        kinds = {m.kind for m in report.misses}
        assert kinds == {"destroyed"}
        assert "Okafor" in report.misses[0].context and "Okafor" not in repr(report.misses[0])
        assert "Okafor" not in repr(report)


class TestSectorCommand:
    @pytest.mark.parametrize("name,policy,labels", [
        ("legal_en_inlegalner_dev.jsonl", "legal", "legal_en_inlegalner.yaml"),
        ("finance_en_sec_loans_dev.jsonl", "finance", "finance_en_sec_loans.yaml"),
    ])
    def test_slice_of_sector_data(self, name: str, policy: str, labels: str) -> None:
        """--labels on a slice of the sector files: the role columns and both word shares."""
        labels_path = REPO / "benchmarks" / "labels" / labels
        result = CliRunner().invoke(main, ["eval", "--policy", policy, "--labels", str(labels_path), "--limit", "12",
                                           str(SHARED_DATA / name), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert 0 <= data["protected_words_left"] <= 0.5
        assert 0 <= data["other_words_destroyed"] <= 0.6
        roles = {row.get("role") for row in data["per_type"].values()}
        assert {"keep", "redact"} <= roles

    def test_show_misses_prints_contexts(self, tmp_path: Path) -> None:
        path = tmp_path / "d.jsonl"
        text = TestLabelRoles.TEXT
        start = text.index("Okafor")
        path.write_text(json.dumps({"text": text, "spans": [{"label": "JUDGE", "start": start,
                                                             "end": start + 6}]}) + "\n", encoding="utf-8")
        result = CliRunner().invoke(main, ["eval", "--labels", "keep=JUDGE", "--show-misses", "3", str(path)])
        assert result.exit_code == 0, result.output
        assert "redacted outside them: 2" in result.output and "[[Okafor]]" in result.output

    def test_bad_labels_spec_is_one_line(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(main, ["eval", "--labels", "nonsense", str(_spans_jsonl(tmp_path))])
        assert result.exit_code == 1
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_core_does_not_import_click() -> None:
    """The evaluate module is core: the command lives in eval_cli."""
    import ast

    import privroute.evaluate as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "click" not in imported
