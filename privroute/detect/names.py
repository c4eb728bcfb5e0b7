"""privroute's name recognizers (filled in below)."""
from __future__ import annotations
NAME_TYPES: tuple[str, ...] = ("PERSON",)
NAME_FINDERS: tuple = ()
