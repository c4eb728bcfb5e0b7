"""The two stores side by side, and the proxy with 1, 2 and 3 replicas on one PostgreSQL database.

    python benchmarks/bench_stores.py                  # 300 store calls per contender, 240 proxy requests
    python benchmarks/bench_stores.py --calls 50 --requests 60 --skip-proxy   # a quick look

Same run, same machine: a throw-away PostgreSQL server (tests/pg_server.py: initdb
in a temporary folder, loopback, fsync on as in production) beside a SQLite
file (WAL, synchronous=FULL), interleaved call by call so machine load hits both:

* ``audit append``: one hash-chained, HMAC-signed record with a signed head;
* ``budget check``: the atomic check-and-hold a frontier call makes (``reserve``;
  the hold is released outside the timing).

Then proxy throughput: real ``privroute serve`` processes (real detector) on one
PostgreSQL database, the recording upstream on loopback, ``--clients`` concurrent
clients spreading ``--requests`` requests over the first 1, 2 and 3 replicas;
and one replica on SQLite as the reference. Prints medians, p95 and requests per
second; no prompt text.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402

from privroute.audit import AuditEvent  # noqa: E402
from privroute.stores import SqlStore, open_store  # noqa: E402
from privroute.testing import OpenAIServer, Reply  # noqa: E402
from tests.pg_server import TempPostgres  # noqa: E402

EVENT = AuditEvent(outcome="answered", policy="general", policy_hash="0" * 64, tenant="bench", action="frontier",
                   sensitivity="public", reasons=("none",), entities={"PERSON": 1}, target="frontier",
                   backend="frontier", model="gpt-4o-mini", attempts=1, prompt_tokens=12, completion_tokens=40,
                   cost=0.00002, latency_s=0.01)
KEY = b"bench-key"


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _row(name: str, samples: list[float], reference: list[float] | None = None) -> str:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    extra = f"  ({median / statistics.median(reference):.1f}x SQLite)" if reference else ""
    return f"  {name:<22} p50 {median:8.3f} ms   p95 {p95:8.3f} ms   n={len(samples)}{extra}"


def _stores(calls: int, pg: TempPostgres, folder: Path) -> None:
    stores: dict[str, SqlStore] = {"sqlite": open_store(folder / "bench.db", key=KEY),
                                   "postgresql": open_store(pg.create_database("bench_store"), key=KEY)}
    appends: dict[str, list[float]] = {name: [] for name in stores}
    checks: dict[str, list[float]] = {name: [] for name in stores}
    for store in stores.values():
        store.append(EVENT)  # schema, connection and pool warm-up
    day = next(iter(stores.values())).today()
    for _ in range(calls):
        for name, store in stores.items():
            appends[name].append(_timed(lambda: store.append(EVENT)))
            holds: list[str] = []
            checks[name].append(_timed(lambda: holds.append(store.reserve("bench", day, 60, 0.0, lambda t, c: None))))
            store.release(holds[0])
    print(f"stores: {calls} calls per contender, interleaved, key set")
    print("audit append")
    print(_row("sqlite", appends["sqlite"]))
    print(_row("postgresql", appends["postgresql"], appends["sqlite"]))
    print("budget check (reserve)")
    print(_row("sqlite", checks["sqlite"]))
    print(_row("postgresql", checks["postgresql"], checks["sqlite"]))
    for store in stores.values():
        store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(policy: Path, env: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "privroute.cli", "serve", "--policy", str(policy), "--no-auth",
                                "--port", str(port), "--log-level", "error"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"http://127.0.0.1:{port}", process


def _healthy(base: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"{base} did not start")


def _load(bases: list[str], requests: int, clients: int) -> float:
    """Requests per second over ``bases`` (round robin), every answer checked to be a 200."""
    counter = iter(range(requests))
    lock = threading.Lock()
    failures: list[int] = []

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                body = {"model": "privroute", "messages": [{"role": "user", "content": f"Summarise item {n} "
                                                            "of the release plan for the weekly notes."}]}
                status = http.post(bases[n % len(bases)] + "/v1/chat/completions", json=body).status_code
                if status != 200:
                    failures.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return requests / elapsed


def _proxy(pg: TempPostgres, folder: Path, requests: int, clients: int) -> None:
    with OpenAIServer(lambda body: Reply(content="noted", completion_tokens=16)) as upstream:
        policy = folder / "bench.yaml"
        policy.write_text(yaml.safe_dump({"name": "bench", "extends": "general", "audit": {"required": True},
                                          "frontier": {"model": "test-frontier", "base_url": upstream.url}}))
        env = {k: v for k, v in os.environ.items() if k not in ("PRIVROUTE_AUDIT_DB", "PRIVROUTE_DATABASE_URL")}
        env.update(PYTHONPATH=str(ROOT), PRIVROUTE_AUDIT_KEY=KEY.decode())
        pg_env = {**env, "PRIVROUTE_DATABASE_URL": pg.create_database("bench_proxy")}
        sqlite_env = {**env, "PRIVROUTE_AUDIT_DB": str(folder / "proxy.db")}
        started = [_serve(policy, pg_env) for _ in range(3)] + [_serve(policy, sqlite_env)]
        try:
            for base, _ in started:
                _healthy(base)
            bases = [base for base, _ in started]
            _load(bases, 4 * clients, clients)  # warm every replica
            rates = {f"postgresql, {k} replica{'s' if k > 1 else ''}": _load(bases[:k], requests, clients)
                     for k in (1, 2, 3)}
            rates["sqlite, 1 replica"] = _load(bases[3:], requests, clients)
        finally:
            for _, process in started:
                process.terminate()
            for _, process in started:
                process.wait(timeout=60)
    print(f"proxy: {requests} requests per row, {clients} concurrent clients, real detector, "
          f"{os.cpu_count()} CPUs on this machine")
    for name, rate in rates.items():
        print(f"  {name:<26} {rate:7.1f} requests/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skip-proxy", action="store_true")
    args = parser.parse_args()
    with TempPostgres(durable=True) as pg, tempfile.TemporaryDirectory() as folder:
        _stores(args.calls, pg, Path(folder))
        if not args.skip_proxy:
            _proxy(pg, Path(folder), args.requests, args.clients)


if __name__ == "__main__":
    main()
