"""Time ``privroute.redact`` on French and English texts of the same length, side by side.

French: the ECHR judgments (legal_fr_echr_dev); English: the Indian judgments
(legal_en_inlegalner_dev, joined in file order). Both are cut into pieces of the
same length (``--chars``, at a line or space break) and redacted under the same
policy (default ``public-sector``, which reads each in its own pipeline, with
language identification), interleaved piece by piece so both see the same
machine load. Prints timings and counts only, never text.

    python benchmarks/bench_languages.py [--policy public-sector] [--english-policy general] [--chars 2000]
                                         [--pieces 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _pieces(path: Path, chars: int, count: int) -> list[str]:
    from privroute.detect.chunk import pieces

    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: list[str] = []
    for _, piece in pieces("\n".join(texts), chars):
        if len(piece) >= chars * 0.9:
            out.append(piece)
        if len(out) == count:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="public-sector")
    parser.add_argument("--english-policy", default=None,
                        help="Policy for the English pieces (default: --policy); 'general' reads English without "
                             "identifying the language, as before French existed.")
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--pieces", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    import privroute
    from privroute.router import get_router

    french = _pieces(DATA / "legal_fr_echr_dev.jsonl", args.chars, args.pieces)
    english = _pieces(DATA / "legal_en_inlegalner_dev.jsonl", args.chars, args.pieces)
    count = min(len(french), len(english))
    french, english = french[:count], english[:count]
    policies = {"fr": args.policy, "en": args.english_policy or args.policy}
    get_router(policies["fr"]).redact(french[0])  # load both pipelines and the identifier before timing
    get_router(policies["en"]).redact(english[0])
    times: dict[str, list[float]] = {"fr": [], "en": []}
    for _ in range(args.rounds):
        for fr_text, en_text in zip(french, english):
            for code, text in (("fr", fr_text), ("en", en_text)):
                started = time.perf_counter()
                privroute.redact(text, policy=policies[code])
                times[code].append((time.perf_counter() - started) * 1000)
    print(f"policies fr={policies['fr']} en={policies['en']}: {count} pieces of ~{args.chars} characters per "
          f"language, {args.rounds} rounds")
    stats = {code: (statistics.median(v), _percentile(v, 0.95), statistics.fmean(v)) for code, v in times.items()}
    for code in ("en", "fr"):
        print("  {}: p50 {:.1f} ms, p95 {:.1f} ms, mean {:.1f} ms".format(code, *stats[code]))
    print("  French / English: {:.2f}x at p50, {:.2f}x at p95".format(
        *(fr / en for fr, en in zip(stats["fr"][:2], stats["en"][:2], strict=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
