"""Search for text shapes that make detection slow, and time the worst ones up to 1 MB.

    python benchmarks/bench_hostile_search.py                    # search, then 1 kB .. 256 kB
    python benchmarks/bench_hostile_search.py --max-size 1048576 # up to 1 MB (minutes)
    python benchmarks/bench_hostile_search.py --quick            # fewer candidates

The candidates are not a list of known troublemakers: every Unicode general
category contributes characters (the first, a middle and the last assigned one),
each repeated on its own, and short patterns are built by pairing a set of seed
characters (letters, digits, every ASCII punctuation mark, white space, emoji,
joiners, combining marks, CJK) and by taking the units of bench_hostile.py.

1. Screen: every candidate at ``--screen`` characters and twice that, against
   ordinary prose (the labelled synthetic texts) of the same length timed beside it.
2. Confirm: the ``--top`` worst (time ratio to prose) at doubling sizes from 1 kB,
   each beside prose of the same size timed just before it.

Printed: per shape, milliseconds at each size, the worst growth per doubling
(linear: about 2; quadratic: about 4) and the worst ratio to prose of the same
length (target: at most 3). No content is printed beyond the shape's repr.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hostile import UNITS  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "presidio_synth_v2.json"
CORE = ("a", "Z", "1", " ", "\n", "\u00e9", "\u0416", "\u4e2d", "\U0001F600", "\u200d", "\u0301")
SEEDS = (*CORE, *string.punctuation)


def category_units() -> dict[str, str]:
    """Three characters of every general category (first, middle, last assigned), each a unit."""
    found: dict[str, list[str]] = {}
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        found.setdefault(unicodedata.category(char), []).append(char)
    units = {}
    for category, chars in sorted(found.items()):
        if category == "Cn":  # unassigned: three are enough to stand for a million
            chars = chars[:: max(1, len(chars) // 3)]
        for char in dict.fromkeys((chars[0], chars[len(chars) // 2], chars[-1])):
            units[f"{category} U+{ord(char):04X}"] = char
    return units


def pair_units(firsts: tuple[str, ...], seconds: tuple[str, ...]) -> dict[str, str]:
    """Two-character units: each of ``firsts`` before each of ``seconds``."""
    return {f"pair {a + b!r}": a + b for a in firsts for b in seconds if a != b}


def candidates(quick: bool) -> dict[str, str]:
    units = {**category_units(), **{f"unit {k}": v for k, v in UNITS.items()}}
    units.update(pair_units(CORE[:4] if quick else CORE, SEEDS))
    units.update({"triple '1/a'": "1/a", "triple 'a.,'": "a.,", "triple '(a)'": "(a)", "triple '&#;'": "&#;",
                  "emoji-zwj": "\U0001F600\u200d", "flag": "\U0001F1FA\U0001F1F8", "keycap": "1\ufe0f\u20e3"})
    return units


def prose(size: int) -> str:
    texts = [record["full_text"] for record in json.loads(DATA.read_text(encoding="utf-8"))]
    joined = "\n".join(texts)
    while len(joined) < size:
        joined += "\n" + joined
    return joined[:size]


def fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def timed(detect, text: str) -> float:
    started = time.perf_counter()
    detect(text)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", default="general")
    parser.add_argument("--screen", type=int, default=2048, help="characters per candidate when screening")
    parser.add_argument("--top", type=int, default=8, help="shapes to confirm at every size")
    parser.add_argument("--max-size", type=int, default=262_144)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    from privroute.policy import load_policy
    from privroute.router import get_router

    detect = get_router(load_policy(args.policy)).detector.detect
    detect("Warm up the pipeline for Jane Roe.")
    units = candidates(args.quick)
    small, large = args.screen, 2 * args.screen
    prose_large = prose(large)
    print(f"screening {len(units)} shapes at {small} and {large} characters, each beside prose of the "
          "same length (a shared machine's load drifts: a ratio is only fair within one moment)")
    screened = []
    for name, unit in units.items():
        first = timed(detect, fill(unit, small))
        second = min(timed(detect, fill(unit, large)) for _ in range(2))
        reference = min(timed(detect, prose_large) for _ in range(2))
        screened.append((second / reference, second / max(first, 1e-3), name))
    screened.sort(reverse=True)
    print(f"{'shape':<28}{'ratio to prose':>16}{'growth':>9}")
    for ratio, growth, name in screened[: args.top * 2]:
        print(f"{name:<28}{ratio:>16.2f}{growth:>9.2f}")
    by_growth = max(screened, key=lambda row: row[1])
    print(f"largest screening growth: {by_growth[1]:.2f} ({by_growth[2]}; at these sizes fixed costs "
          "and load make single figures noisy, the confirmation below decides)")

    sizes = []
    size = 1024
    while size <= args.max_size:
        sizes.append(size)
        size *= 2
    confirm = [name for _, _, name in screened[: args.top]]
    print("\nconfirm: ms at each size, prose of that size timed just before (prose ms / shape ms)")
    print(f"{'shape':<28}" + "".join(f"{s // 1024:>13}k" for s in sizes) + "  growth  ratio")
    worst_growth = worst_ratio = 0.0
    for name in confirm:
        cells, row, ratios = [], [], []
        for size in sizes:
            reference = timed(detect, prose(size))
            ms = timed(detect, fill(units[name], size))
            row.append(ms)
            ratios.append(ms / reference)
            cells.append(f"{reference:.0f}/{ms:.0f}")
        # From 4 kB on: below it fixed costs (the first chunk's set-up) dominate both.
        growth = max((b / max(a, 1e-3) for a, b in zip(row[2:], row[3:])), default=float("nan"))
        ratio = max(ratios[2:], default=float("nan"))
        worst_growth, worst_ratio = max(worst_growth, growth), max(worst_ratio, ratio)
        print(f"{name:<28}" + "".join(f"{cell:>14}" for cell in cells) + f"{growth:>8.2f}{ratio:>7.2f}")
    print(f"\nworst growth per doubling {worst_growth:.2f} (linear: 2); worst ratio to prose {worst_ratio:.2f} "
          "(target: at most 3); sizes under 4 kB left out of both, where fixed costs dominate")


if __name__ == "__main__":
    main()
