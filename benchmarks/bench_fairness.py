"""One tenant floods the proxy with hostile text: how do another tenant's ordinary requests fare?

    python benchmarks/bench_fairness.py [--requests 40] [--flooders 4] [--hostile-kb 64]

The proxy (real Presidio/spaCy detector, tenants ``quiet`` and ``noisy``, 4 requests
in flight per tenant, the default 30 s detection budget) runs on 127.0.0.1 in
front of privroute.testing.OpenAIServer. In the same run:

1. alone: ``quiet`` sends ``--requests`` ordinary prompts one after another;
2. flooded: the same, while ``--flooders`` clients send ``noisy`` requests of
   ``--hostile-kb`` kB of hostile shapes back to back (6 clients by default, more
   than its 4 places, so some are refused with 429 at once and wait its Retry-After,
   as the OpenAI clients do).

Printed: quiet's p50/p95 alone and flooded, their ratio (target: p95 within 2x), and
the noisy tenant's answers by status. Timings and counts only, never prompt text.
Everything shares this process's GIL (client, proxy, upstream), in both runs alike.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--flooders", type=int, default=6)
    parser.add_argument("--hostile-kb", type=int, default=64)
    args = parser.parse_args()

    from privroute.backends import FakeBackend
    from privroute.server.config import hash_api_key, load_serve_config
    from privroute.server.app import BackgroundServer, create_app
    from privroute.testing import OpenAIServer

    with OpenAIServer(lambda body: "ok") as upstream, tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        policy = {"name": "bench", "extends": "general", "frontier": {"model": "bench", "base_url": upstream.url}}
        (directory / "bench.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
        config = {"tenants": [{"name": name, "policy": "bench.yaml", "api_keys": [hash_api_key(key)]}
                              for name, key in KEYS.items()], "limits": {"tenant_concurrency": 4}}
        (directory / "serve.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        app = create_app(load_serve_config(directory / "serve.yaml"), local=FakeBackend("local"))
        with BackgroundServer(app) as server:
            url = server.url + "/v1"
            quiet_latencies(url, 3)  # warm up
            alone = quiet_latencies(url, args.requests)

            stop, statuses = threading.Event(), Counter()
            text = hostile(args.hostile_kb * 1024)

            def flood() -> None:
                while not stop.is_set():
                    response = post(url, "noisy", text)
                    statuses[response.status_code] += 1
                    if response.status_code == 429:  # as the OpenAI clients do
                        stop.wait(float(response.headers.get("retry-after", "1")))

            flooders = [threading.Thread(target=flood, daemon=True) for _ in range(args.flooders)]
            for thread in flooders:
                thread.start()
            time.sleep(2.0)  # let the flood fill the noisy tenant's places
            try:
                flooded = quiet_latencies(url, args.requests)
            finally:
                stop.set()
                for thread in flooders:
                    thread.join(timeout=600)

    print(f"quiet tenant, {args.requests} ordinary requests (ms)     p50      p95")
    print(f"{'alone':<44}{statistics.median(alone):>8.0f}{percentile(alone, 0.95):>9.0f}")
    print(f"{'while noisy floods':<44}{statistics.median(flooded):>8.0f}{percentile(flooded, 0.95):>9.0f}")
    print(f"p95 ratio flooded/alone: {percentile(flooded, 0.95) / percentile(alone, 0.95):.2f} (target: at most 2)")
    print(f"noisy tenant ({args.flooders} clients, {args.hostile_kb} kB hostile each): "
          + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))


if __name__ == "__main__":
    main()
