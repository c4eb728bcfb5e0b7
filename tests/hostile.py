"""Hostile text the tests share: the shapes benchmarks/bench_hostile_search.py found, and fillers."""

from __future__ import annotations

# Shapes that were quadratic (the issue's) and the worst that the search found (ratio to
# prose of the same length, before the fix).
HOSTILE_SHAPES = ("(", "[", '"', ",", "&#", "\U0001F600\u200d", "1/", "1*", "1^", "1-", "1+", "1\U0001F600",
                  " ;", " )", "Z~", "a,", "a/", "(1) ", "a\t1\t", "\u1fdf", "\uff63", "\u20af", "\u00ad",
                  "\U0001F1FA\U0001F1F8", "\u0416,", "\na", "\u00e9~",
                  # found later, after the sector rules: leader runs (quadratic), connector punctuation
                  "-", "_", ".", "\u2026", "\ufe34", "A1-")
SECRET = "Jane Roe, SSN 536-22-8147"


def fill(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


def hostile(size: int = 64 * 1024) -> str:
    """``size`` characters made of four of the shapes, one after another."""
    units = ("(", "1*", "a\t1\t", "\U0001F600\u200d")
    return "".join(fill(unit, size // len(units)) for unit in units)
