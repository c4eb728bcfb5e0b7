"""The evasion generator: seeded, composable rewrites whose label spans stay aligned."""

from __future__ import annotations

import html
import json
import re
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.mutate import TRANSFORMS, mutate_text, transform_names

pytestmark = pytest.mark.fast

TEXT = "Call Jane Roe at 212-555-0147 or jane.roe@example.com; card 4111 1111 1111 1111, born 1968-03-14."
SPANS = [("PERSON", 5, 13), ("PHONE_NUMBER", 17, 29), ("EMAIL_ADDRESS", 33, 53), ("CREDIT_CARD", 60, 79),
         ("DATE_TIME", 86, 96)]
CHAINS = [*TRANSFORMS, "case+homoglyph", "leetspeak+zero_width", "separators+base64", "spacing+line_split"]


@st.composite
def labeled_texts(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, int]]]:
    """Random text with random non-overlapping labeled spans."""
    pieces = draw(st.lists(st.tuples(st.text(max_size=8), st.text(min_size=1, max_size=20),
                                     st.sampled_from(["PERSON", "EMAIL_ADDRESS", "CREDIT_CARD", "GPE"])),
                           max_size=5))
    text, spans = "", []
    for gap, value, label in pieces:
        text += gap
        spans.append((label, len(text), len(text) + len(value)))
        text += value
    return text + draw(st.text(max_size=8)), spans


class TestAlignment:
    @settings(max_examples=150, deadline=None)
    @given(labeled_texts(), st.sampled_from(CHAINS), st.integers(0, 10_000))
    def test_every_span_is_its_rewritten_value(self, labeled: tuple, chain: str, seed: int) -> None:
        text, spans = labeled
        mutated = mutate_text(text, spans, chain, seed)
        assert len(mutated.spans) == len(spans)
        pieces, cursor = [], 0
        for (label, start, end), span in zip(spans, mutated.spans):
            assert span.label == label
            value = mutated.text[span.start:span.end]
            pieces.append((text[cursor:start], value))
            cursor = end
            if span.mutated:
                assert value != text[start:end]
            else:
                assert value == text[start:end]
        # Outside the spans nothing moved: the text is the old gaps around the new values.
        rebuilt = "".join(gap + value for gap, value in pieces) + text[cursor:]
        assert rebuilt == mutated.text

    @pytest.mark.parametrize("chain", CHAINS)
    def test_seeded_and_applied(self, chain: str) -> None:
        first = mutate_text(TEXT, SPANS, chain, 7)
        assert first == mutate_text(TEXT, SPANS, chain, 7)
        assert any(span.mutated for span in first.spans)

    def test_types_outside_direct_identifiers_are_kept(self) -> None:
        mutated = mutate_text("I live in Kenya.", [("GPE", 10, 15)], "case", 1)
        assert mutated.text == "I live in Kenya." and not mutated.spans[0].mutated

    def test_transforms_do_what_they_say(self) -> None:
        def one(chain: str, label: str, value: str) -> str:
            span = mutate_text(value, [(label, 0, len(value))], chain, 3).spans[0]
            return mutate_text(value, [(label, 0, len(value))], chain, 3).text[span.start:span.end]

        assert "@" not in one("email_words", "EMAIL_ADDRESS", "jane.roe@example.com")
        assert set(one("spelled_digits", "US_SSN", "536-22-8147").replace(",", " ").replace("-", " ").split()) <= {
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
        assert bytes.fromhex(one("hex", "PERSON", "Jane Roe").replace("0x", "").replace("\\x", "").replace(
            " ", "")).decode() == "Jane Roe"
        assert one("fullwidth", "PERSON", "Jane") == "Ｊａｎｅ"
        assert one("separators", "DATE_TIME", "1968-03-14") == "1968-03-14"  # a date's digits are not re-spaced

    def test_names_are_checked(self) -> None:
        assert transform_names("all") == tuple(TRANSFORMS)
        assert transform_names("hex, case+homoglyph") == ("hex", "case+homoglyph")
        with pytest.raises(ValueError, match="unknown transform"):
            transform_names("case+rot13")


def test_eval_mutate_refuses_unknown_transforms(tmp_path) -> None:
    from click.testing import CliRunner

    from privroute.cli.main import main

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": TEXT, "spans": [{"label": lab, "start": s, "end": e} for lab, s, e in SPANS]})
                    + "\n", encoding="utf-8")
    bad = CliRunner().invoke(main, ["eval", "--mutate", "rot13", str(data)])
    assert bad.exit_code == 2 and "unknown transform" in bad.output


def _undo_hex(out: str) -> str:
    return bytes.fromhex(out.removeprefix("0x").replace("\\x", "").replace(" ", "")).decode()


def _undo_base64(out: str) -> str:
    import base64

    return base64.b64decode(out + "=" * (-len(out) % 4)).decode()


def _undo_spelled(out: str) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return "".join(str(words.index(w)) for w in re.findall(r"[a-z]+", out) if w in words)


def _undo_email(out: str) -> str | None:
    for at in (" at ", " [at] ", " (at) ", "[at]", " AT ", " {at} ", "(a)"):
        if at in out:
            local, domain = out.split(at, 1)
            for dot in (" dot ", " [dot] ", " (dot) ", "[.]", " DOT ", " . "):
                if dot in domain:
                    return f"{local}@{domain.replace(dot, '.')}"
    return None


def _undo_leet(value: str, out: str) -> bool:
    leet = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
    return len(out) == len(value) and all(a == b or leet.get(a.lower()) == b for a, b in zip(value, out))


# Per transform: a value it applies to, and a check that the rewrite is that value in that disguise.
UNDO = {
    "separators": ("4111 1111 1111 1111", lambda v, o: re.sub(r"\D", "", o) == re.sub(r"\D", "", v)),
    "spacing": ("Jane Roe", lambda v, o: o.replace(" ", "") == v.replace(" ", "") and len(o) > len(v)),
    "case": ("Jane Roe", lambda v, o: o.lower() == v.lower() and o != v),
    "homoglyph": ("Jane Roe", lambda v, o: len(o) == len(v) and 1 <= sum(a != b for a, b in zip(v, o)) <= 3),
    "fullwidth": ("Jane Roe", lambda v, o: unicodedata.normalize("NFKC", o) == v and o != v),
    "zero_width": ("Jane Roe", lambda v, o: "".join(c for c in o if unicodedata.category(c) != "Cf") == v),
    "leetspeak": ("Jane Roe", _undo_leet),
    "spelled_digits": ("536-22-8147", lambda v, o: _undo_spelled(o) == "536228147" and not re.search(r"\d", o)),
    "email_words": ("jane.roe@example.com", lambda v, o: "@" not in o and _undo_email(o) == v),
    "line_split": ("Jane Roe", lambda v, o: "\n" in o and re.sub(r"-?\r?\n", "", o).replace(" ", "")
                   == v.replace(" ", "")),
    "cell_split": ("Jane Roe", lambda v, o: re.sub(r"\s*(?:\|\||\||;|\t)\s*", "", o) == v.replace(" ", "")),
    "percent": ("Jane Roe", lambda v, o: unquote(o) == v and "%" in o),
    "html": ("Jane Roe", lambda v, o: html.unescape(o) == v and "&#" in o),
    "hex": ("Jane Roe", lambda v, o: _undo_hex(o) == v),
    "base64": ("Jane Roe", lambda v, o: _undo_base64(o) == v),
}


def test_every_transform_has_a_check() -> None:
    assert set(UNDO) == set(TRANSFORMS)


@pytest.mark.parametrize("name", list(TRANSFORMS))
@pytest.mark.parametrize("seed", range(6))
def test_each_transform_is_its_value_in_disguise(name: str, seed: int) -> None:
    """Each transform rewrites a value it applies to into something that still *is* that value."""
    value, undo = UNDO[name]
    mutated = mutate_text(f"x {value} y", [("PII", 2, 2 + len(value))], name, seed)
    span = mutated.spans[0]
    out = mutated.text[span.start:span.end]
    assert span.mutated and out != value
    assert undo(value, out), (name, seed)
    assert mutated.text.startswith("x ") and mutated.text.endswith(" y")


def test_transforms_that_do_not_apply_leave_the_value() -> None:
    for name, value in (("separators", "Jane Roe"), ("spelled_digits", "Jane Roe"), ("email_words", "Jane Roe"),
                        ("separators", "1968-03-14")):
        label = "DATE_TIME" if value[0].isdigit() else "PERSON"
        mutated = mutate_text(value, [(label, 0, len(value))], name, 1)
        assert mutated.text == value and not mutated.spans[0].mutated


def test_a_data_set_is_seeded_per_text_and_per_seed() -> None:
    from privroute.mutate import mutate_all

    texts = [(TEXT, SPANS)] * 3
    first, again, other = mutate_all(texts, "case+homoglyph", 5), mutate_all(texts, "case+homoglyph", 5), \
        mutate_all(texts, "case+homoglyph", 6)
    assert first == again and first != other
    assert len({m.text for m in first}) > 1  # each text gets its own draw
