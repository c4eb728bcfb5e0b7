"""Proxy overhead: `privroute serve` in front of an instant upstream vs the upstream directly.

    python benchmarks/bench_proxy.py [--requests 300] [--concurrency 50] [--load-requests 1000] [--json]

Three processes on loopback, so the numbers are not one GIL's: the upstream (a
minimal Starlette app on uvicorn that echoes the last message at once, like
privroute.testing.OpenAIServer; that server's http.server answers in two TCP
writes and so pays a ~40 ms delayed-ACK stall per call, which would hide the
proxy's cost), the proxy (`privroute serve` with a real tenant key and the real
Presidio/spaCy detector), and this client.

* Added latency: the same client sends, interleaved, a redact request through the
  proxy and the equivalent already-redacted request straight to the upstream;
  added = proxy - direct, at p50 and p95 (also for a prompt with no PII), in the
  same run for: chat completions, a tool-calling round trip (the request offers a
  tool, the upstream calls it with the placeholders it got, the proxy restores the
  arguments), and the Responses API (``/v1/responses``, translated to chat).
* Throughput: N requests from ``--concurrency`` concurrent clients, through the
  proxy and directly; requests/s and latency under load.

Target (issue 14): added p50 at most 12 ms for a redact request, including
detection. Output holds timings and counts only, never prompt text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

KEY = "bench-proxy-key"
REDACT_PROMPT = ("Hi, this is Maria Gonzalez (maria.gonzalez@example.net, 555-867-5309). "
                 "Please draft a short reply to my landlord about the broken heater.")
PLAIN_PROMPT = "Please draft a short, polite reply to a landlord about a broken heater."
TARGET_MS = 12
TOOL = {"type": "function", "function": {"name": "send_email", "description": "Send an email.", "parameters": {
    "type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}}}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a benchmark server exited early (code {process.returncode})")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {url}")


def _upstream_app() -> Any:
    """An instant OpenAI-compatible upstream: echoes the last message, no I/O, no delay."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import re

    async def chat(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        content = f"You said: {body['messages'][-1]['content']}"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        finish = "stop"
        if body.get("tools"):  # call the tool with the placeholders received, as an agent's model would
            tokens = re.findall(r"<[A-Z_]+_\d+>", body["messages"][-1]["content"]) or ["nobody"]
            arguments = json.dumps({"to": tokens[0], "body": "Hello " + " and ".join(tokens)})
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "send_email", "arguments": arguments}}]}
            finish = "tool_calls"
        return JSONResponse({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 20, "total_tokens": 40}})

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "test-frontier", "object": "model"}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])


def _start(workdir: Path, *, audit: bool) -> tuple[list[subprocess.Popen[bytes]], str, str]:
    up_port, proxy_port = _free_port(), _free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(up_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream_url = f"http://127.0.0.1:{up_port}/v1"
    policy = {"name": "bench", "extends": "general", "audit": {"enabled": audit},
              "frontier": {"model": "test-frontier", "base_url": upstream_url}}
    (workdir / "bench.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    from privroute.server.config import hash_api_key

    config = {"port": proxy_port, "tenants": [{"name": "bench", "policy": "bench.yaml",
                                               "api_keys": [hash_api_key(KEY)]}]}
    (workdir / "serve.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PRIVROUTE_AUDIT_DB": str(workdir / "audit.db")}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(name, None)
    proxy = subprocess.Popen([sys.executable, "-m", "privroute.cli", "serve", "--config", str(workdir / "serve.yaml"),
                              "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    processes = [upstream, proxy]
    try:
        _wait(upstream_url + "/models", upstream)
        _wait(f"http://127.0.0.1:{proxy_port}/healthz", proxy)
    except BaseException:
        for process in processes:
            process.terminate()
        raise
    return processes, upstream_url, f"http://127.0.0.1:{proxy_port}/v1"


def _body(prompt: str, model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}]}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _checked(response: httpx.Response, *, tool_value: str | None = None) -> None:
    response.raise_for_status()
    if tool_value is not None:  # the round trip must have restored the value into the tool call
        call = response.json()["choices"][0]["message"]["tool_calls"][0]
        if tool_value not in call["function"]["arguments"] or "<" in call["function"]["arguments"]:
            raise SystemExit("the tool call's arguments were not restored")


def latency(proxy_url: str, upstream_url: str, requests: int, redacted: str, router: Any) -> dict[str, Any]:
    """Interleaved: straight to the upstream, through the proxy, and ``Router.route`` in this process.

    proxy - direct is what the proxy adds; route - direct is the routing work
    itself (detection, redaction, retries, audit, the openai client); proxy - route
    is the HTTP serving layer.
    """
    from privroute.backends.base import ToolSpec

    auth = {"authorization": f"Bearer {KEY}"}
    spec = ToolSpec((TOOL,))
    report: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        action = client.post(f"{proxy_url}/chat/completions", json=_body(REDACT_PROMPT, "privroute"),
                             headers=auth).headers.get("x-privroute-action")
        if action != "redact":
            raise SystemExit(f"the benchmark prompt was routed {action!r}, not redact")

        def direct(body: dict[str, Any]) -> None:
            client.post(f"{upstream_url}/chat/completions", json=body).raise_for_status()

        # label: (prompt, what the upstream gets, the proxy call, the in-process route)
        cases: dict[str, tuple[str, str, Any, Any]] = {
            "redact": (REDACT_PROMPT, redacted, lambda prompt: _checked(client.post(
                f"{proxy_url}/chat/completions", json=_body(prompt, "privroute"), headers=auth)),
                lambda prompt: router.route(prompt)),
            "frontier": (PLAIN_PROMPT, PLAIN_PROMPT, lambda prompt: _checked(client.post(
                f"{proxy_url}/chat/completions", json=_body(prompt, "privroute"), headers=auth)),
                lambda prompt: router.route(prompt)),
            "tools": (REDACT_PROMPT, redacted, lambda prompt: _checked(client.post(
                f"{proxy_url}/chat/completions", json={**_body(prompt, "privroute"), "tools": [TOOL]},
                headers=auth), tool_value="@example.net"), lambda prompt: router.route(prompt, tools=spec)),
            "responses": (REDACT_PROMPT, redacted, lambda prompt: _checked(client.post(
                f"{proxy_url}/responses", json={"model": "privroute", "input": prompt}, headers=auth)),
                lambda prompt: router.route(prompt)),
        }
        for label, (prompt, sent, through_proxy, in_process) in cases.items():
            direct_body = _body(sent, "test-frontier") | ({"tools": [TOOL]} if label == "tools" else {})
            calls = {"direct": lambda: direct(direct_body), "proxy": lambda: through_proxy(prompt),
                     "route": lambda: in_process(prompt)}
            order = list(calls)
            times: dict[str, list[float]] = {name: [] for name in calls}
            for index in range(requests + 20):
                for name in order[index % 3:] + order[: index % 3]:
                    started = time.perf_counter()
                    calls[name]()
                    if index >= 20:  # the first 20 warm connections and caches
                        times[name].append((time.perf_counter() - started) * 1000)
            p50 = {name: _pct(values, 0.5) for name, values in times.items()}
            p95 = {name: _pct(values, 0.95) for name, values in times.items()}
            report[label] = {
                "direct_p50_ms": round(p50["direct"], 2), "direct_p95_ms": round(p95["direct"], 2),
                "proxy_p50_ms": round(p50["proxy"], 2), "proxy_p95_ms": round(p95["proxy"], 2),
                "added_p50_ms": round(p50["proxy"] - p50["direct"], 2),
                "added_p95_ms": round(p95["proxy"] - p95["direct"], 2),
                "route_in_process_p50_ms": round(p50["route"], 2),
                "http_layer_p50_ms": round(p50["proxy"] - p50["route"], 2),
                "requests": requests,
            }
    return report


async def _load(url: str, body: dict[str, Any], headers: dict[str, str], total: int,
                concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            for _ in remaining:
                started = time.perf_counter()
                try:
                    response = await client.post(f"{url}/chat/completions", json=body, headers=headers)
                    failures += response.status_code != 200
                except httpx.TransportError:
                    failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"requests": total, "failures": failures, "requests_per_s": round(total / wall, 1),
            "p50_ms": round(statistics.median(latencies), 2), "p95_ms": round(_pct(latencies, 0.95), 2)}


def throughput(proxy_url: str, upstream_url: str, total: int, concurrency: int, redacted: str) -> dict[str, Any]:
    auth = {"authorization": f"Bearer {KEY}"}
    return {
        "concurrency": concurrency,
        "proxy_redact": asyncio.run(_load(proxy_url, _body(REDACT_PROMPT, "privroute"), auth, total, concurrency)),
        "direct": asyncio.run(_load(upstream_url, _body(redacted, "test-frontier"), {}, total, concurrency)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per path (latency)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--load-requests", type=int, default=1000, help="requests in the throughput run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-audit", action="store_true",
                        help="turn the audit log off in the proxy's policy (it is on by default)")
    parser.add_argument("--serve-upstream", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream is not None:
        import uvicorn

        uvicorn.run(_upstream_app(), host="127.0.0.1", port=args.serve_upstream, log_level="warning",
                    access_log=False)
        return
    with tempfile.TemporaryDirectory() as tmp:
        processes, upstream_url, proxy_url = _start(Path(tmp), audit=not args.no_audit)
        try:
            from privroute.router import Router

            os.environ["PRIVROUTE_AUDIT_DB"] = str(Path(tmp) / "audit-in-process.db")
            router = Router(str(Path(tmp) / "bench.yaml"))
            redacted = router.prepare(REDACT_PROMPT).messages[0].content  # what the upstream receives
            lat = latency(proxy_url, upstream_url, args.requests, redacted, router)
            load = throughput(proxy_url, upstream_url, args.load_requests, args.concurrency, redacted)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    report = {"latency": lat, "throughput": load, "target_added_p50_ms": TARGET_MS, "cpus": os.cpu_count(),
              "audit": not args.no_audit}
    if args.json:
        print(json.dumps(report))
        return
    print(f"proxy overhead vs direct upstream (loopback, {os.cpu_count()} CPUs, sequential, ms; "
          f"audit log {'off' if args.no_audit else 'on'})")
    print(f"{'request':<10}{'direct p50':>12}{'proxy p50':>11}{'added p50':>11}{'direct p95':>12}"
          f"{'proxy p95':>11}{'added p95':>11}")
    for label, row in lat.items():
        print(f"{label:<10}{row['direct_p50_ms']:>12}{row['proxy_p50_ms']:>11}{row['added_p50_ms']:>11}"
              f"{row['direct_p95_ms']:>12}{row['proxy_p95_ms']:>11}{row['added_p95_ms']:>11}")
    print("where it goes (p50): Router.route in process / HTTP serving layer (proxy - route)")
    for label, row in lat.items():
        print(f"{label:<10}{row['route_in_process_p50_ms']:>12}{row['http_layer_p50_ms']:>11}")
    verdict = "meets" if lat["redact"]["added_p50_ms"] <= TARGET_MS else "misses"
    print(f"redact added p50 {lat['redact']['added_p50_ms']} ms: {verdict} the {TARGET_MS} ms target")
    print(f"\nthroughput at {args.concurrency} concurrent clients ({args.load_requests} requests each run)")
    for label in ("proxy_redact", "direct"):
        row = load[label]
        print(f"{label:<14}{row['requests_per_s']:>8} req/s   p50 {row['p50_ms']} ms   p95 {row['p95_ms']} ms   "
              f"failures {row['failures']}")


if __name__ == "__main__":
    main()
