"""Format round trips (no detector): what a format extracts and writes back loses nothing."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.batch.formats import Edit, FormatOptions, format_for
from privroute.errors import FormatError

pytestmark = pytest.mark.fast

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def round_trip(suffix: str, data: bytes, edit: object = None) -> bytes:
    fmt = format_for(suffix)
    assert fmt is not None
    extracted = fmt.extract(data, FormatOptions())
    edits = [Edit(edit(s) if callable(edit) else s) for s in extracted.strings]
    return fmt.render(data, extracted, edits)


class TestRoundTrips:
    @settings(max_examples=80, deadline=None)
    @given(json_values, st.booleans())
    def test_json_structure_survives_identity_edits(self, value: object, pretty: bool) -> None:
        """Unchanged strings give back an equal JSON value."""
        data = json.dumps({"v": value}, indent=2 if pretty else None).encode()
        assert json.loads(round_trip(".json", data)) == {"v": value}

    @settings(max_examples=80, deadline=None)
    @given(json_values)
    def test_json_edits_touch_string_values_only(self, value: object) -> None:
        """Upper-casing every string changes strings and value-shaped keys ({"Jane Roe": ...},
        {"4471123": ...}), never field names or other types (an unchanged number stays a number)."""
        from privroute.detect.structured import key_is_value

        def upper(v: object) -> object:
            if isinstance(v, str):
                return v.upper()
            if isinstance(v, list):
                return [upper(x) for x in v]
            if isinstance(v, dict):
                return {(k.upper() if key_is_value(k) else k): upper(x) for k, x in v.items()}
            return v

        def keys_collide(v: object) -> bool:
            if isinstance(v, list):
                return any(keys_collide(x) for x in v)
            if isinstance(v, dict):
                return len({k.upper() if key_is_value(k) else k for k in v}) < len(v) or any(
                    keys_collide(x) for x in v.values())
            return False

        data = json.dumps([value]).encode()
        if keys_collide(value):  # two keys redacted to one: refused, never merged
            with pytest.raises(FormatError, match="collide"):
                round_trip(".json", data, str.upper)
            return
        assert json.loads(round_trip(".json", data, str.upper)) == [upper(value)]

    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                              blacklist_characters="\x00\r"), max_size=8),
                             min_size=2, max_size=2), min_size=1, max_size=5))
    def test_csv_rows_survive_identity_edits(self, rows: list[list[str]]) -> None:
        """Quotes, commas and newlines inside cells come back as the same rows."""
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\n").writerows([["h1", "h2"], *rows])
        data = buffer.getvalue().encode()
        back = list(csv.reader(io.StringIO(round_trip(".csv", data).decode(), newline="")))
        assert back == list(csv.reader(io.StringIO(data.decode(), newline="")))

    @settings(max_examples=60, deadline=None)
    @given(st.sampled_from([";", "\t", "|"]),
           st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                             blacklist_characters="\x00\r"), max_size=8),
                             min_size=3, max_size=3), min_size=1, max_size=5))
    def test_other_delimiters_survive_identity_edits(self, delimiter: str, rows: list[list[str]]) -> None:
        """A ';', tab or '|' file is read with its own delimiter and written back as the same rows."""
        buffer = io.StringIO(newline="")
        csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows([["h1", "h2", "h3"], *rows])
        data = buffer.getvalue().encode()
        fmt = format_for(".csv")
        assert fmt is not None
        assert len(fmt.extract(data, FormatOptions()).strings) == sum(1 for row in rows for cell in row if cell)
        back = round_trip(".csv", data).decode()
        assert list(csv.reader(io.StringIO(back, newline=""), delimiter=delimiter)) == \
            list(csv.reader(io.StringIO(data.decode(), newline=""), delimiter=delimiter))

    def test_semicolon_csv_columns_are_selected_by_name(self) -> None:
        """--columns works on a European ';' export; a ';' inside quotes is not a delimiter."""
        data = 'name;"note; free";city\nJane Roe;"a; b";Boise\n'.encode()
        fmt = format_for(".csv")
        assert fmt is not None
        extracted = fmt.extract(data, FormatOptions(columns=("name", "city")))
        assert extracted.strings == ("Jane Roe", "Boise")
        edits = [Edit("<PERSON_1>"), Edit("<LOCATION_1>")]
        assert fmt.render(data, extracted, edits) == 'name;"note; free";city\n<PERSON_1>;"a; b";<LOCATION_1>\n'.encode()

    def test_tsv_is_tab_separated(self) -> None:
        """.tsv files are read as tab-separated, even with commas in the cells."""
        data = "who\tnote\nJane Roe\tcalls, often\n".encode()
        assert round_trip(".tsv", data) == data
        fmt = format_for(".tsv")
        assert fmt is not None and fmt.extract(data, FormatOptions()).strings == ("Jane Roe", "calls, often")

    def test_text_keeps_bom_and_line_endings(self) -> None:
        """A UTF-8 BOM and CRLF line endings are kept."""
        data = "\ufeffline one\r\nline two\r\n".encode()
        assert round_trip(".txt", data) == data

    def test_jsonl_keeps_blank_lines_and_crlf(self) -> None:
        """Line structure is kept; each line is re-serialised."""
        data = b'{"a": "x"}\r\n\r\n[1, "y"]\n'
        assert round_trip(".jsonl", data) == data


    def test_jsonl_line_separator_inside_a_string_is_not_a_record_break(self) -> None:
        """U+2028 is legal raw inside a JSON string; only newline ends a record."""
        data = '{"a": "x\u2028y"}\n{"b": 1}\n'.encode()
        assert round_trip(".jsonl", data).decode().split("\n")[0] == '{"a": "x\u2028y"}'
