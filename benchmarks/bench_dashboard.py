"""Dashboard pages over 100,000 audit records, and audit appends with and without the dashboard reading.

    python benchmarks/bench_dashboard.py                      # 100,000 records on SQLite
    python benchmarks/bench_dashboard.py --postgres           # and the same on a throw-away PostgreSQL
    python benchmarks/bench_dashboard.py --records 20000 --rounds 3   # a quick look

A store is filled with a valid, signed chain of synthetic records (two weeks, four
tenants, three policies, every action, retries, 429/5xx, fallbacks). The dashboard
(``privroute dashboard``'s app on uvicorn, 127.0.0.1) is then asked for each page
``--rounds`` times: median and worst seconds per page, as a browser would get them
(HTML rendered, queries run). The chain view's JSON is timed twice: the first walk
of the whole chain, then an incremental one (only what was appended since).

Then appends: ``--appends`` records appended alone, then the same number while
two clients keep loading dashboard pages; the medians side by side show whether
a dashboard read holds up a write. No prompt text exists anywhere here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from privroute.audit import AuditEvent  # noqa: E402
from privroute.stores import open_store  # noqa: E402
from privroute.stores.chain import NAMES, record_hash, sign_head, sign_record  # noqa: E402
from privroute.stores.sql import event_row  # noqa: E402

PAGES = ("/dashboard", "/dashboard?range=24h", "/dashboard/rules", "/dashboard/frontier", "/dashboard/records",
         "/dashboard/records?tenant=tenant-2&action=block", "/dashboard/records?rule=personal-data",
         "/dashboard/csv/tenants.csv", "/dashboard/csv/records.csv")
KEY = b"bench-dashboard-key"


def _event(rnd: random.Random) -> AuditEvent:
    action = rnd.choices(["local", "redact", "frontier", "block"], weights=[3, 4, 4, 1])[0]
    tenant, policy = f"tenant-{rnd.randint(1, 4)}", rnd.choice(["general", "healthcare", "finance"])
    reasons = tuple(rnd.sample(["personal-data", "government-id", "health-data", "secret-or-credential",
                                "bulk-personal-data", "financial-account"], rnd.randint(0, 2)))
    entities = {t: rnd.randint(1, 3) for t in rnd.sample(["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN",
                                                          "LOCATION", "CREDIT_CARD"], rnd.randint(0, 3))}
    frontier = action in ("redact", "frontier")
    attempts = rnd.choices([1, 2, 3], weights=[20, 3, 1])[0] if frontier else (0 if action == "block" else 1)
    status = rnd.choice([429, 500, 503]) if frontier and rnd.random() < 0.03 else None
    fallback = "frontier failed (FrontierUnavailable)" if status else None
    if action == "block":
        return AuditEvent("blocked", policy, "a" * 64, tenant=tenant, action="block", sensitivity="confidential",
                          reasons=reasons or ("personal-data",), entities=entities, error="Blocked")
    return AuditEvent("answered", policy, "a" * 64, tenant=tenant, action=action, sensitivity="confidential",
                      reasons=reasons, entities=entities, target="local" if status or not frontier else "frontier",
                      backend="openai" if frontier and not status else "local", attempts=attempts,
                      prompt_tokens=rnd.randint(20, 800), completion_tokens=rnd.randint(10, 400),
                      cost=round(rnd.uniform(0.0001, 0.01), 6) if frontier and not status else None,
                      latency_s=rnd.uniform(0.05, 3.0), fallback_reason=fallback, frontier_status=status)


def fill(location: str | Path, count: int) -> None:
    """A valid signed chain of ``count`` records over the last two weeks, in one transaction."""
    store = open_store(location, key=KEY)
    store_id = store.store_id
    rnd = random.Random(17)
    start = datetime.now(timezone.utc) - timedelta(days=14)
    step = timedelta(days=14) / count
    prev = "0" * 64
    with store._tx(write=True) as sql:
        for seq in range(1, count + 1):
            data = event_row(_event(rnd), start + step * seq)
            data["seq"], data["prev_hash"] = seq, prev
            data["hash"] = record_hash(data)
            data["sig"] = sign_record(KEY, data["hash"])
            sql.run(f"INSERT INTO records ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})",
                    tuple(data[n] for n in NAMES))
            prev = data["hash"]
        sql.run("UPDATE head SET seq = ?, hash = ?, sig = ? WHERE id = 1",
                (count, prev, sign_head(KEY, store_id, count, prev)))
    store.close()


def time_pages(base: str, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with httpx.Client(timeout=120) as client:
        for path in PAGES:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = client.get(base + path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
            out[path] = times
        for label in ("chain JSON (first walk)", "chain JSON (incremental)"):
            started = time.perf_counter()
            status = client.get(base + "/dashboard/api/chain.json").json()
            out[label] = [time.perf_counter() - started]
            assert status["ok"], status
    return out


def time_appends(location: str | Path, count: int, base: str | None) -> list[float]:
    store = open_store(location, key=KEY)
    rnd = random.Random(3)
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                for path in PAGES[:5]:
                    client.get(base + path)  # one reader: the dashboard serialises its queries per store

    readers = [threading.Thread(target=load, daemon=True) for _ in range(2)] if base else []
    for reader in readers:
        reader.start()
    times = []
    try:
        time.sleep(0.5 if readers else 0)
        for _ in range(count):
            started = time.perf_counter()
            store.append(_event(rnd))
            times.append(time.perf_counter() - started)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=120)
        store.close()
    return times


def run(name: str, location: str | Path, args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    fill(location, args.records)
    print(f"[{name}] filled {args.records:,} records in {time.perf_counter() - started:.1f}s", flush=True)
    # The dashboard in its own process (``privroute dashboard``), as on an auditor's machine or beside
    # the proxy: what an append shares with it is the database and the machine, not a Python lock.
    port = _free_port()
    option = ["--database-url", str(location)] if isinstance(location, str) else ["--audit-db", str(location)]
    env = {**os.environ, "PRIVROUTE_AUDIT_KEY": KEY.decode(), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "privroute.cli", "dashboard", *option, "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    report: dict[str, object] = {"store": name, "records": args.records}
    try:
        _wait(base, process)
        pages = time_pages(base, args.rounds)
        print(f"[{name}] {'page':<52} {'median s':>9} {'worst s':>9}")
        for path, times in pages.items():
            print(f"[{name}] {path:<52} {statistics.median(times):>9.3f} {max(times):>9.3f}")
        report["pages"] = {p: {"median_s": round(statistics.median(t), 4), "worst_s": round(max(t), 4)}
                           for p, t in pages.items()}
        alone = time_appends(location, args.appends, None)
        loaded = time_appends(location, args.appends, base)
    finally:
        process.terminate()
        process.wait(timeout=30)
    for label, times in (("append alone", alone), ("append while the dashboard reads", loaded)):
        ordered = sorted(times)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(f"[{name}] {label:<52} median {statistics.median(times) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms")
        report[label] = {"median_ms": round(statistics.median(times) * 1000, 3), "p95_ms": round(p95 * 1000, 3)}
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("privroute dashboard exited")
        try:
            httpx.get(base + "/dashboard/static/dashboard.css", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("privroute dashboard did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="also on a throw-away PostgreSQL (tests/pg_server)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        reports.append(run("sqlite", Path(tmp) / "audit.db", args))
        if args.postgres:
            from tests.pg_server import TempPostgres

            with TempPostgres() as server:
                reports.append(run("postgres", server.base_url() + "?schema=bench_dashboard", args))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
