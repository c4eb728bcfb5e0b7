"""Re-identification: placeholders are consistent, unforgeable, and restore exactly."""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute import Entity, StreamRestorer, Vault
from privroute.vault import LOOKALIKE_TYPE

pytestmark = pytest.mark.fast

TOKEN = re.compile(r"<[A-Z_]+_\d+>")


def spans(text: str, *values_and_types: tuple[str, str]) -> list[Entity]:
    found = []
    for value, type_ in values_and_types:
        start = text.index(value)
        found.append(Entity(start, start + len(value), type_))
    return found


class TestConsistency:
    def test_same_value_same_placeholder_across_messages(self) -> None:
        """One vault gives a value the same token in every message of a conversation."""
        vault = Vault()
        first = vault.redact("Ask Jane Roe.", spans("Ask Jane Roe.", ("Jane Roe", "PERSON")))
        second = vault.redact("Jane Roe replied.", spans("Jane Roe replied.", ("Jane Roe", "PERSON")))
        assert first.text == "Ask <PERSON_1>."
        assert second.text == "<PERSON_1> replied."

    def test_different_values_never_share_a_placeholder(self) -> None:
        """Two people get two tokens."""
        text = "Jane Roe met John Doe."
        redaction = Vault().redact(text, spans(text, ("Jane Roe", "PERSON"), ("John Doe", "PERSON")))
        assert redaction.text == "<PERSON_1> met <PERSON_2>."

    def test_vaults_are_independent(self) -> None:
        """A token from one conversation means nothing in another."""
        first, second = Vault(), Vault()
        first.redact("Jane Roe", [Entity(0, 8, "PERSON")])
        assert second.restore("<PERSON_1>") == "<PERSON_1>"

    def test_thread_safe_under_contention(self) -> None:
        """32 threads redacting distinct values into one vault get distinct tokens."""
        vault = Vault()
        tokens: dict[int, str] = {}

        def work(i: int) -> None:
            value = f"person number {i:03d}"
            tokens[i] = vault.redact(value, [Entity(0, len(value), "PERSON")]).text

        threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(tokens.values())) == 32
        assert all(vault.restore(tokens[i]) == f"person number {i:03d}" for i in range(32))


class TestUnforgeable:
    def test_lookalike_in_input_is_never_issued(self) -> None:
        """A token the user typed is reserved: the vault issues a different one."""
        text = "Compare <PERSON_1> with Jane Roe."
        redaction = Vault().redact(text, spans(text, ("Jane Roe", "PERSON")))
        assert "<PERSON_2>" in redaction.text
        assert redaction.restore("<PERSON_1> and <PERSON_2>") == "<PERSON_1> and Jane Roe"

    def test_lookalike_of_issued_token_comes_back_literal(self) -> None:
        """A later message imitating an issued token is wrapped, never restored to the value."""
        vault = Vault()
        vault.redact("Jane Roe", [Entity(0, 8, "PERSON")])
        second = vault.redact("What is <PERSON_1> really?", [])
        assert "<PERSON_1>" not in second.text
        assert second.entities[0].type == LOOKALIKE_TYPE
        assert vault.restore(second.text) == "What is <PERSON_1> really?"

    def test_text_a_token_turns_into_a_lookalike_comes_back_literal(self) -> None:
        """'PERSON_1_1' with its last '_' redacted would read 'PERSON_1<...>1': that text is wrapped too."""
        text = "0 and PERSON_1_1"
        entities = [Entity(0, 1, "PERSON"), Entity(14, 15, "PERSON")]
        redaction = Vault().redact(text, entities)
        assert "PERSON_1<" not in redaction.text
        assert redaction.restore(redaction.text) == text

    def test_new_token_shapes_next_to_tokens_are_reserved(self) -> None:
        """A shape that only appears once a token sits beside it is never issued later."""
        vault = Vault()
        text = "see PERSON_5x"
        vault.redact(text, [Entity(12, 13, "PERSON")])  # 'x' redacted: 'PERSON_5<...>'
        for index in range(6):
            vault.redact(f"person {index}", [Entity(0, 8, "PERSON")])
        assert "<PERSON_5>" not in vault.tokens()
        assert "<PERSON_7>" in vault.tokens()

    def test_unknown_placeholder_is_kept_and_reported(self) -> None:
        """A token the model invented stays as is and is listed."""
        vault = Vault()
        vault.redact("Jane Roe", [Entity(0, 8, "PERSON")])
        report = vault.restore_report("<PERSON_1> and <PERSON_7> and <EMAIL_ADDRESS_1>")
        assert report.text == "Jane Roe and <PERSON_7> and <EMAIL_ADDRESS_1>"
        assert report.unknown == ("<PERSON_7>", "<EMAIL_ADDRESS_1>")


class TestTolerantRestore:
    def setup_method(self) -> None:
        self.vault = Vault()
        text = "Mail jane@example.com about Jane Roe"
        self.vault.redact(text, spans(text, ("jane@example.com", "EMAIL_ADDRESS"), ("Jane Roe", "PERSON")))

    def test_case_markdown_and_entities(self) -> None:
        """Lower case, markdown escapes, bold, HTML entities and bare tokens restore."""
        answer = ("<person_1>, **<PERSON_1>**, <EMAIL\\_ADDRESS\\_1>, &lt;PERSON_1&gt;, "
                  "[PERSON_1], < PERSON_1 >, PERSON_1.")
        assert self.vault.restore(answer) == (
            "Jane Roe, **Jane Roe**, jane@example.com, Jane Roe, Jane Roe, Jane Roe, Jane Roe.")

    def test_values_with_regex_metacharacters_restore_verbatim(self) -> None:
        """Backslashes and group references in values are not interpreted."""
        vault = Vault()
        value = r"C:\new\1 $1 \g<0> (a+)*"
        vault.redact(value, [Entity(0, len(value), "PATH")])
        assert vault.restore("see <PATH_1> now") == f"see {value} now"


class TestStreaming:
    def test_placeholder_split_across_chunks(self) -> None:
        """A token cut between chunks is held back and restored whole."""
        vault = Vault()
        vault.redact("Jane Roe", [Entity(0, 8, "PERSON")])
        restorer = StreamRestorer(vault)
        out = [restorer.feed(c) for c in ["Hello <PER", "SON", "_1", "> how", " are you"]] + [restorer.flush()]
        assert "".join(out) == "Hello Jane Roe how are you"
        assert out[0] == "Hello "

    def test_plain_text_is_not_delayed(self) -> None:
        """Lower-case text with no token start is released at once."""
        restorer = StreamRestorer(Vault())
        assert restorer.feed("hello there, ") == "hello there, "

    @settings(max_examples=200, deadline=None)
    @given(cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=12))
    def test_any_chunking_equals_whole_restore(self, cuts: list[int]) -> None:
        """However the answer is chunked, the streamed result equals restoring it whole."""
        vault = Vault()
        text = "Jane Roe wrote to jane@example.com"
        vault.redact(text, spans(text, ("Jane Roe", "PERSON"), ("jane@example.com", "EMAIL_ADDRESS")))
        answer = "Dear <PERSON_1>, we wrote to <EMAIL_ADDRESS_1> and <PERSON_9>; thanks <person_1>!"
        bounds = sorted({c for c in cuts if c < len(answer)} | {0, len(answer)})
        chunks = [answer[a:b] for a, b in zip(bounds, bounds[1:])]
        restorer = StreamRestorer(vault)
        streamed = "".join(restorer.restore_all(chunks))
        assert streamed == vault.restore(answer)


_alphabet = st.characters(blacklist_categories=("Cs",))
_lookalike = st.sampled_from(["<PERSON_1>", "<person_2>", "PERSON_1", "[EMAIL_ADDRESS_1]", "&lt;PERSON_1&gt;",
                              "<PERSON\\_1>", "<", ">", "_1"])


@st.composite
def text_with_spans(draw: st.DrawFn) -> tuple[str, list[Entity]]:
    parts = draw(st.lists(st.one_of(st.text(_alphabet, max_size=12), _lookalike), min_size=1, max_size=10))
    text = "".join(parts)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=8)))
    entities = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        if a < b:
            entities.append(Entity(a, b, draw(st.sampled_from(["PERSON", "EMAIL_ADDRESS", "US_SSN"]))))
    return text, entities


class TestRoundTrip:
    @settings(max_examples=300, deadline=None)
    @given(case=text_with_spans())
    def test_restore_of_redact_is_identity(self, case: tuple[str, list[Entity]]) -> None:
        """restore(redact(x)) == x, including inputs holding placeholder look-alikes."""
        text, entities = case
        vault = Vault()
        redaction = vault.redact(text, entities)
        assert redaction.restore(redaction.text) == text

    @settings(max_examples=100, deadline=None)
    @given(first=text_with_spans(), second=text_with_spans())
    def test_round_trip_across_a_conversation(self, first: tuple[str, list[Entity]],
                                              second: tuple[str, list[Entity]]) -> None:
        """A second message in the same vault still round-trips, look-alikes included."""
        vault = Vault()
        vault.redact(*first)
        redaction = vault.redact(*second)
        assert vault.restore(redaction.text) == second[0]

    def test_repr_has_no_values(self) -> None:
        """Reprs of vault, redaction and entities show counts, not data."""
        vault = Vault()
        redaction = vault.redact("Jane Roe", [Entity(0, 8, "PERSON")])
        for obj in (vault, redaction, redaction.entities[0], vault.restore_report("<PERSON_1>")):
            assert "Jane" not in repr(obj)
