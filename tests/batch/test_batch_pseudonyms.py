"""Batch placeholders: consistent pseudonyms, the encrypted mapping, --verify, token bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.batch.engines import residual_pii
from privroute.batch.formats import _apply_to_segments
from privroute.batch.mapping import MappingError, load_mapping
from privroute.batch.run import BatchUsageError, _edit
from privroute.detect.base import Entity
from privroute.vault import Vault

from .batch_fixtures import (
    EMAIL,
    EMAIL_2,
    SSN,
    all_output_bytes,
    read_report,
    run_batch,
    write,
)

KEY = "correct horse battery staple"


run = run_batch


@pytest.fixture
def two_docs(tmp_path: Path, warm_router: Any) -> Path:
    root = tmp_path / "in"
    write(root / "a.txt", f"Write to {EMAIL_2} first, then to {EMAIL}.")
    write(root / "b.txt", f"Only {EMAIL} was copied.")
    return root


class TestConsistentPseudonyms:
    def test_same_value_gets_same_placeholder_in_every_document(self, two_docs: Path, tmp_path: Path) -> None:
        """--consistent: EMAIL is one token across files; without it each file numbers from 1."""
        out = tmp_path / "c"
        run([two_docs], out, consistent=True)
        a, b = (out / "a.txt").read_text(), (out / "b.txt").read_text()
        token = a.split("then to ")[1].rstrip(".")
        assert b == f"Only {token} was copied."
        assert token == "<EMAIL_ADDRESS_2>"
        plain = tmp_path / "p"
        run([two_docs], plain)
        assert (plain / "b.txt").read_text() == "Only <EMAIL_ADDRESS_1> was copied."

    def test_placeholder_lookalikes_in_an_input_cannot_forge_a_value(self, tmp_path: Path,
                                                                    warm_router: Any) -> None:
        """A later document typing an issued token gets it wrapped, and it is not counted as PII."""
        root = tmp_path / "in"
        write(root / "a.txt", f"Mail {EMAIL} now.")
        write(root / "b.txt", "Literal <EMAIL_ADDRESS_1> here.")
        out = tmp_path / "out"
        report = run([root], out, consistent=True)
        assert (out / "b.txt").read_text() == "Literal <PLACEHOLDER_1> here."
        assert report.entities == {"EMAIL_ADDRESS": 1}

    def test_mapping_is_encrypted_and_opens_only_with_the_key(self, two_docs: Path, tmp_path: Path) -> None:
        """The file holds no clear value; the right key gives token -> value; a wrong key is refused."""
        mapping = tmp_path / "map.enc"
        run([two_docs], tmp_path / "out", consistent=True, mapping=mapping, mapping_key=KEY)
        raw = mapping.read_bytes()
        assert EMAIL.encode() not in raw and b"EMAIL_ADDRESS" not in raw
        tokens = load_mapping(mapping, KEY)["tokens"]
        assert tokens["<EMAIL_ADDRESS_2>"] == {"type": "EMAIL_ADDRESS", "value": EMAIL}
        with pytest.raises(MappingError, match="does not open"):
            load_mapping(mapping, "another key of enough length")

    def test_resumed_consistent_run_continues_the_same_placeholders(self, two_docs: Path, tmp_path: Path) -> None:
        """A document added later gets the tokens the first run gave the same values."""
        out, mapping = tmp_path / "out", tmp_path / "map.enc"
        run([two_docs], out, consistent=True, mapping=mapping, mapping_key=KEY)
        write(two_docs / "c.txt", f"Cc {EMAIL_2} and {SSN}.")
        report = run([two_docs], out, consistent=True, mapping=mapping, mapping_key=KEY)
        assert (report.done, report.skipped) == (1, 2)
        assert (out / "c.txt").read_text().startswith("Cc <EMAIL_ADDRESS_1> and ")
        assert set(load_mapping(mapping, KEY)["tokens"]) >= {"<EMAIL_ADDRESS_1>", "<EMAIL_ADDRESS_2>"}

    def test_force_and_mode_changes_never_drop_an_existing_mapping(self, two_docs: Path, tmp_path: Path) -> None:
        """--force keeps (and continues) the tokens; switching --consistent off on the same file is refused."""
        out, mapping = tmp_path / "out", tmp_path / "map.enc"
        run([two_docs], out, consistent=True, mapping=mapping, mapping_key=KEY)
        before = load_mapping(mapping, KEY)["tokens"]
        assert run([two_docs / "b.txt"], tmp_path / "other", consistent=True, force=True, mapping=mapping,
                   mapping_key=KEY).done == 1
        assert (tmp_path / "other" / "b.txt").read_text() == "Only <EMAIL_ADDRESS_2> was copied."
        assert load_mapping(mapping, KEY)["tokens"] == before
        with pytest.raises(BatchUsageError, match="with --consistent"):
            run([two_docs], out, mapping=mapping, mapping_key=KEY)
        assert load_mapping(mapping, KEY)["tokens"] == before

    def test_per_document_mapping_is_kept_per_output(self, two_docs: Path, tmp_path: Path) -> None:
        """Without --consistent the mapping is one table per output file."""
        mapping = tmp_path / "map.enc"
        run([two_docs], tmp_path / "out", mapping=mapping, mapping_key=KEY)
        documents = load_mapping(mapping, KEY)["documents"]
        assert documents["b.txt"] == {"<EMAIL_ADDRESS_1>": {"type": "EMAIL_ADDRESS", "value": EMAIL}}

    def test_short_key_is_refused(self, two_docs: Path, tmp_path: Path) -> None:
        """A mapping key under 16 characters is a usage error, and no output is written."""
        with pytest.raises(MappingError, match="at least 16"):
            run([two_docs], tmp_path / "out", consistent=True, mapping=tmp_path / "m", mapping_key="short")
        assert not (tmp_path / "out").exists() and not (tmp_path / "m").exists()


class TestVerify:
    def test_verified_run_passes_and_is_recorded(self, two_docs: Path, tmp_path: Path) -> None:
        """Clean outputs pass --verify."""
        report = run([two_docs], tmp_path / "out", verify=True)
        assert report.failed == () and report.done == 2

    def test_output_still_holding_pii_fails_and_is_not_written(self, two_docs: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """If redaction missed a value (simulated), --verify catches it and writes nothing for that file."""
        original = Vault.redact

        def leaky(self: Vault, text: str, entities: Any) -> Any:
            return original(self, text, [e for e in entities if e.type != "EMAIL_ADDRESS" or "Only" not in text])

        monkeypatch.setattr(Vault, "redact", leaky)
        out = tmp_path / "out"
        report = run([two_docs], out, verify=True)
        assert report.failed == ((str(two_docs / "b.txt"),
                                  "verify: output still holds detectable PII (EMAIL_ADDRESS x1); not written"),)
        assert not (out / "b.txt").exists() and (out / "a.txt").exists()
        assert EMAIL.encode() not in all_output_bytes(out)

    def test_placeholders_are_not_counted_as_residual_pii(self, warm_router: Any) -> None:
        """Tokens alone are clean; a real value next to them is not."""
        clean = "Call <PERSON_1> at <PHONE_NUMBER_2> about <EMAIL_ADDRESS_1>."
        dirty = f"Call <PERSON_1> at {EMAIL}."
        found = [warm_router.detector.detect(clean), warm_router.detector.detect(dirty)]
        assert residual_pii([clean], [found[0]]) == ()
        assert residual_pii([dirty], [found[1]]) == (("EMAIL_ADDRESS", 1),)


class TestTokenBookkeeping:
    @settings(max_examples=60, deadline=None)
    @given(st.text(alphabet="ab <>_\n", min_size=1, max_size=40), st.data())
    def test_edit_replacements_rebuild_the_redacted_text(self, text: str, data: st.DataObject) -> None:
        """Applying the recovered (start, end, token) spans to the text gives exactly Redaction.text."""
        cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=6)))
        spans = [Entity(a, b, "PERSON") for a, b in zip(cuts[::2], cuts[1::2]) if a < b]
        edit = _edit(Vault().redact(text, spans))
        rebuilt, cursor = [], 0
        for start, end, token in edit.replacements:
            rebuilt += [text[cursor:start], token]
            cursor = end
        assert "".join(rebuilt) + text[cursor:] == edit.text

    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.text(alphabet="xy\t", max_size=6), min_size=1, max_size=6), st.data())
    def test_run_level_edits_equal_whole_string_edits(self, pieces: list[str], data: st.DataObject) -> None:
        """However a paragraph is split into runs, editing the runs gives the same text as editing the whole."""
        whole = "".join(pieces)
        cuts = sorted(data.draw(st.sets(st.integers(0, len(whole)), max_size=6)))
        spans = [(a, b, f"<T_{i}>") for i, (a, b) in enumerate(zip(cuts[::2], cuts[1::2])) if a < b]

        class Node:
            def __init__(self, text: str) -> None:
                self.text = text

            def set(self, *_: Any) -> None:
                pass

        segments = [[Node(p), p] for p in pieces]
        _apply_to_segments(segments, spans)
        expected, cursor = [], 0
        for a, b, token in spans:
            expected += [whole[cursor:a], token]
            cursor = b
        assert "".join(node.text for node, _ in segments) == "".join(expected) + whole[cursor:]


def test_report_never_holds_a_value(two_docs: Path, tmp_path: Path) -> None:
    """Report and manifest carry paths, reasons and counts only."""
    out = tmp_path / "out"
    run([two_docs], out, consistent=True)
    for name in ("report.json", ".privroute/manifest.jsonl"):
        text = (out / name).read_text("utf-8")
        assert EMAIL not in text and EMAIL_2 not in text
    assert read_report(out)["entities"] == {"EMAIL_ADDRESS": 3}
    assert json.loads((out / ".privroute" / "manifest.jsonl").read_text().splitlines()[0])["output"] == "a.txt"
