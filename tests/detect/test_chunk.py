"""The one chunker: long texts cut in pieces, short strings packed, offsets kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.detect.base import BaseDetector, Entity
from privroute.detect.chunk import detect_many
from privroute.detect.chunk import pieces as cut

pytestmark = pytest.mark.fast


class TestScanning:
    @settings(max_examples=60, deadline=None)
    @given(st.text(alphabet="ab \n", min_size=1, max_size=400), st.integers(20, 80))
    def test_long_text_pieces_cover_it_exactly(self, text: str, size: int) -> None:
        """Pieces are contiguous, in order, and join back to the text."""
        pieces = cut(text, size)
        assert "".join(p for _, p in pieces) == text
        assert all(offset == sum(len(p) for _, p in pieces[:i]) for i, (offset, _) in enumerate(pieces))

    def test_packed_strings_get_their_own_offsets(self) -> None:
        """Short strings scanned together come back with spans in their own coordinates."""
        class Words(BaseDetector):
            name = "words"

            def detect(self, text: str) -> tuple[Entity, ...]:
                found, start = [], text.find("SECRET")
                while start >= 0:
                    found.append(Entity(start, start + 6, "X"))
                    start = text.find("SECRET", start + 1)
                return tuple(found)

        strings = ["a SECRET", "--", "SECRET b", "no"]
        result = detect_many(Words(), (), strings)
        assert result == ((Entity(2, 8, "X"),), (), (Entity(0, 6, "X"),), ())
