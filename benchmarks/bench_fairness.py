"""One tenant floods the proxy with hostile text: how do another tenant's ordinary requests fare?

    python benchmarks/bench_fairness.py [--requests 40] [--flooders 6] [--hostile-kb 64] [--rounds 3]
                                        [--detect-processes 1]

The proxy (real Presidio/spaCy detector, tenants ``quiet`` and ``noisy``, 4 requests
in flight per tenant, the default 30 s detection budget, ``--detect-processes``
detection workers for long texts) runs on 127.0.0.1 in front of
privroute.testing.OpenAIServer. ``--rounds`` times, interleaved in one run:

1. alone: ``quiet`` sends ``--requests`` ordinary prompts one after another;
2. flooded: the same, while ``--flooders`` clients send ``noisy`` requests of
   ``--hostile-kb`` kB of hostile shapes back to back (6 clients by default, more
   than its 4 places, so some are refused with 429 at once and wait its Retry-After,
   as the OpenAI clients do).

Printed per round: quiet's p50/p95 alone and flooded, the p95 ratio and the 1-minute
load average (the machine may be shared); then the medians over the rounds (target:
p95 within 2x), and the noisy tenant's answers by status. Timings and counts only,
never prompt text. Client, proxy and upstream share this process's GIL, in both runs
alike; the detection workers are processes of their own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml

KEYS = {"quiet": "bench-quiet-key", "noisy": "bench-noisy-key"}
ORDINARY = ("Hi, this is Maria Gonzalez (maria.gonzalez@example.net). Please draft a short reply "
            "to my landlord about the broken heater, request {index}.")
SHAPES = ("(", "1*", "a\t1\t", "\U0001F600\u200d", "Z~", "&#")


def hostile(size: int) -> str:
    share = size // len(SHAPES)
    return "".join((unit * (share // len(unit) + 1))[:share] for unit in SHAPES)


def post(url: str, tenant: str, text: str) -> httpx.Response:
    body = {"model": "privroute", "messages": [{"role": "user", "content": text}], "max_tokens": 16}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=600,
                      headers={"authorization": f"Bearer {KEYS[tenant]}"})


def quiet_latencies(url: str, requests: int) -> list[float]:
    latencies = []
    for index in range(requests):
        started = time.perf_counter()
        response = post(url, "quiet", ORDINARY.format(index=index))
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"the quiet tenant got {response.status_code}")
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def flooded_latencies(url: str, requests: int, flooders: int, text: str, statuses: Counter) -> list[float]:
    """``quiet_latencies`` while ``flooders`` clients send ``text`` as the noisy tenant back to back."""
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            response = post(url, "noisy", text)
            statuses[response.status_code] += 1
            if response.status_code == 429:  # as the OpenAI clients do
                stop.wait(float(response.headers.get("retry-after", "1")))

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(flooders)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # let the flood fill the noisy tenant's places
    try:
        return quiet_latencies(url, requests)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--flooders", type=int, default=6)
    parser.add_argument("--hostile-kb", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alone/flooded pairs, interleaved")
    parser.add_argument("--detect-processes", type=int, default=1,
                        help="serve limits.detect_processes (0: every text detected in the server process)")
    args = parser.parse_args()

    from privroute.backends import FakeBackend
    from privroute.server.config import hash_api_key, load_serve_config
    from privroute.server.app import BackgroundServer, create_app
    from privroute.testing import OpenAIServer

    with OpenAIServer(lambda body: "ok") as upstream, tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        policy = {"name": "bench", "extends": "general", "frontier": {"model": "bench", "base_url": upstream.url}}
        (directory / "bench.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
        limits = {"tenant_concurrency": 4, "detect_processes": args.detect_processes}
        config = {"tenants": [{"name": name, "policy": "bench.yaml", "api_keys": [hash_api_key(key)]}
                              for name, key in KEYS.items()], "limits": limits}
        (directory / "serve.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        app = create_app(load_serve_config(directory / "serve.yaml"), local=FakeBackend("local"))
        text = hostile(args.hostile_kb * 1024)
        rows, statuses = [], Counter()
        with BackgroundServer(app) as server:
            url = server.url + "/v1"
            quiet_latencies(url, 3)  # warm up
            post(url, "noisy", text)  # and the detection workers, if any
            for _ in range(args.rounds):
                load_alone = os.getloadavg()[0]
                alone = quiet_latencies(url, args.requests)
                load_flooded = os.getloadavg()[0]
                flooded = flooded_latencies(url, args.requests, args.flooders, text, statuses)
                rows.append((alone, flooded, load_alone, load_flooded))

    print(f"quiet tenant, {args.requests} ordinary requests per run (ms); detect_processes={args.detect_processes}")
    print(f"{'round':<8}{'alone p50':>10}{'p95':>8}{'flooded p50':>13}{'p95':>8}{'p95 ratio':>11}{'load 1 min':>12}")
    ratios = []
    for index, (alone, flooded, load_alone, load_flooded) in enumerate(rows, 1):
        ratio = percentile(flooded, 0.95) / percentile(alone, 0.95)
        ratios.append(ratio)
        print(f"{index:<8}{statistics.median(alone):>10.0f}{percentile(alone, 0.95):>8.0f}"
              f"{statistics.median(flooded):>13.0f}{percentile(flooded, 0.95):>8.0f}{ratio:>11.2f}"
              f"{load_alone:>7.1f}/{load_flooded:.1f}")
    print(f"median p95 alone {statistics.median(percentile(r[0], 0.95) for r in rows):.0f} ms, flooded "
          f"{statistics.median(percentile(r[1], 0.95) for r in rows):.0f} ms; median p95 ratio "
          f"{statistics.median(ratios):.2f} (target: at most 2)")
    print(f"noisy tenant ({args.flooders} clients, {args.hostile_kb} kB hostile each): "
          + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))


if __name__ == "__main__":
    main()
