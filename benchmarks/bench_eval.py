"""Leak and over-redaction figures for privroute and vanilla Presidio, side by side, in one run.

Both are scored by the same code (``privroute.evaluate``) on the same files:
presidio_synth_v2 (spans) and adversarial_dev (values). Prints figures only,
never text.

    python benchmarks/bench_eval.py [--policy general] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_redact import vanilla_redactor  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = ("presidio_synth_v2.json", "adversarial_dev.jsonl")
METRICS = ("token_leak", "verbatim_leak", "over_redaction", "clean_changed", "recall", "precision", "caught",
           "p50_ms", "p95_ms")


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if key.endswith("_ms") else f"{value * 100:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="general")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)

    from privroute.evaluate import categories_of, evaluate, evaluate_redactor, load_examples

    presidio = vanilla_redactor()
    for name in FILES:
        path = args.data_dir / name
        examples = load_examples(path)
        categories = categories_of(path) if any(e.values for e in examples) else []
        ours = evaluate(examples, args.policy, categories=categories).as_dict()
        theirs = evaluate_redactor(examples, presidio, categories=categories).as_dict()
        print(f"{name} ({len(examples)} texts)")
        print(f"  {'metric':<16}{'privroute':>12}{'presidio':>12}")
        for key in METRICS:
            if ours[key] is None and theirs[key] is None:
                continue
            print(f"  {key:<16}{_fmt(key, ours[key]):>12}{_fmt(key, theirs[key]):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
