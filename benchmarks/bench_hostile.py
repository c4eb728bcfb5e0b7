"""Detection time on hostile text: does it grow linearly with the length?

    python benchmarks/bench_hostile.py                # 10, 20 and 40 kB of each
    python benchmarks/bench_hostile.py --sizes 20000 80000

Each row is one repeated unit ("a." -> "a.a.a.a...", "Ab-" -> "Ab-Ab-Ab-..."), shaped
to make a regular expression backtrack: a word class that also takes dots, hyphens or
apostrophes, runs of digits and separators, token look-alikes, base64, quotes. The
reference is linear growth, so the last column (time at the largest size over time at
the one before) should stay near the size ratio (2 by default); about 4 per doubling is
quadratic, which on a 100 kB prompt means minutes. Only timings are printed.
"""

from __future__ import annotations

import argparse
import time

UNITS = {
    "dots": "a.", "digits-dash": "1-", "token-look-alike": "PERSON_1_", "base64": "QUJD",
    "hyphen-newline": "A-\n", "parens": "(1) ", "at-dots": "b.@", "capitals": "Ab ", "digits": "1",
    "letters": "a", "plus-digits": "+1 ", "colon-quote": 'a: "', "percent": "%41", "hyphens": "-",
    "upper-words": "ABC ", "mixed-id": "A1-", "json-pairs": '"k": "v", ', "honorific": "Dr. ",
    "house-numbers": "12 Main ", "email-like": "a@b", "slashes": "1/", "surname-commas": "Smith, ",
    "abbreviations": "Ab. ", "hyphen-word": "Ab-", "apostrophe": "O'", "tabs": "a\t1\t", "pipes": "a|1|",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    parser.add_argument("--policy", default="general")
    args = parser.parse_args()

    from privroute.policy import load_policy
    from privroute.router import get_router

    detector = get_router(load_policy(args.policy)).detector
    detector.detect("Warm up the pipeline for Jane Roe.")
    sizes = sorted(args.sizes)
    print(f"{'unit':<18}" + "".join(f"{size:>10} ch" for size in sizes) + f"{'growth':>9}  (ms)")
    worst = 0.0
    for name, unit in UNITS.items():
        timings = []
        for size in sizes:
            text = unit * (size // len(unit))
            started = time.perf_counter()
            detector.detect(text)
            timings.append((time.perf_counter() - started) * 1000)
        growth = timings[-1] / max(timings[-2], 1e-3) if len(timings) > 1 else float("nan")
        worst = max(worst, growth)
        print(f"{name:<18}" + "".join(f"{ms:>13.0f}" for ms in timings) + f"{growth:>9.2f}")
    if len(sizes) > 1:
        print(f"largest growth {worst:.2f} for a size ratio of {sizes[-1] / sizes[-2]:.2f} (linear: about equal)")


if __name__ == "__main__":
    main()
