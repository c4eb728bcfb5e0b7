"""What reliability costs per call: the retry layer and the audit record, side by side.

    python benchmarks/bench_resilience.py              # 300 calls per contender
    python benchmarks/bench_resilience.py --calls 50   # a quick look

Same run, same loopback OpenAI-compatible server (privroute.testing.OpenAIServer),
same prompt, interleaved in rounds so that machine load hits every contender alike:

* ``direct``: ``OpenAIBackend.complete`` (the reference: one HTTP call, no retry layer);
* ``retry layer``: the same call through ``call_with_retry`` (breaker + watchdog thread);
* ``audit append``: one hash-chained, HMAC-signed SQLite record (WAL, synchronous=FULL),
  against ``sqlite insert``: a plain INSERT of the same row with the same settings.

Prints medians and p95 in milliseconds; no prompt text.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privroute.audit import AuditEvent, AuditStore  # noqa: E402
from privroute.backends import Message  # noqa: E402
from privroute.backends.openai import OpenAIBackend  # noqa: E402
from privroute.resilience import CircuitBreaker, RetrySettings, call_with_retry  # noqa: E402
from privroute.testing import OpenAIServer  # noqa: E402

MESSAGES = [Message("user", "Give me three tips for writing clear release notes.")]
EVENT = AuditEvent(outcome="answered", policy="general", policy_hash="0" * 64, action="frontier",
                   sensitivity="public", reasons=("none",), entities={"PERSON": 1}, target="frontier",
                   backend="frontier", model="gpt-4o-mini", attempts=1, prompt_tokens=12, completion_tokens=40,
                   cost=0.00002, latency_s=0.01)


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _row(name: str, samples: list[float], reference: list[float] | None = None) -> str:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    extra = ""
    if reference:
        extra = f"  (+{median - statistics.median(reference):.3f} ms vs reference)"
    return f"  {name:<16} median {median:8.3f} ms   p95 {p95:8.3f} ms   n={len(samples)}{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    direct: list[float] = []
    retried: list[float] = []
    with OpenAIServer() as server:
        backend = OpenAIBackend("gpt-4o-mini", base_url=server.url, api_key="bench")
        breaker = CircuitBreaker("bench")
        settings = RetrySettings(max_attempts=3, deadline_s=30)
        backend.complete(MESSAGES)  # connection and client warm-up
        for _ in range(args.calls):
            direct.append(_timed(lambda: backend.complete(MESSAGES, timeout=30)))
            retried.append(_timed(lambda: call_with_retry(
                lambda timeout: backend.complete(MESSAGES, timeout=timeout), settings, breaker=breaker)))
    with tempfile.TemporaryDirectory() as folder:
        store = AuditStore(Path(folder) / "audit.db", key=b"bench-key")
        store.append(EVENT)
        plain = sqlite3.connect(str(Path(folder) / "plain.db"), isolation_level=None)
        plain.execute("PRAGMA journal_mode = WAL")
        plain.execute("PRAGMA synchronous = FULL")
        plain.execute("CREATE TABLE t (a TEXT, b TEXT, c INTEGER, d REAL)")
        inserts: list[float] = []
        appends: list[float] = []

        def insert() -> None:
            plain.execute("BEGIN IMMEDIATE")
            plain.execute("INSERT INTO t VALUES (?, ?, ?, ?)", ("general", "frontier", 52, 0.00002))
            plain.execute("COMMIT")

        for _ in range(args.calls):
            inserts.append(_timed(insert))
            appends.append(_timed(lambda: store.append(EVENT)))
        store.close()
        plain.close()
    print(f"bench_resilience: {args.calls} calls per contender, loopback server, interleaved")
    print("frontier call")
    print(_row("direct", direct))
    print(_row("retry layer", retried, direct))
    print("audit record")
    print(_row("sqlite insert", inserts))
    print(_row("audit append", appends, inserts))


if __name__ == "__main__":
    main()
