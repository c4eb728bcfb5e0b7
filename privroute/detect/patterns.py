"""privroute's pattern recognizers (filled in below)."""
from __future__ import annotations
PATTERN_TYPES: tuple[str, ...] = ("ACCOUNT_NUMBER",)
PATTERN_FINDERS: tuple = ()
