"""Local model throughput: llama.cpp in process vs through the supervised worker, CPU vs GPU, same run.

    python benchmarks/bench_local.py [--model PATH_OR_CATALOG_NAME] [--gpu] [--workers] [--runs N]
                                     [--threads T]

Without options only the CPU (n_gpu_layers=0) is measured, in process. With --workers
the same model, threads and prompt also run through ``LocalWorkerBackend`` (what a
policy gets: the model in a worker process, answers over a pipe), interleaved with the
in-process runs so that load on a shared machine hits both alike; then two workers
with one thread each answer concurrently on the same cores, reported as aggregate
tokens/s. With --gpu the same model is also loaded with n_gpu_layers=-1 (needs a CUDA
build of llama-cpp-python), and a routed regulated prompt is answered through a policy
whose local block sets n_gpu_layers: -1, to show the policy path, not just the backend,
runs on the GPU. Prints no PII.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Any

from privroute import Router
from privroute.backends import Message
from privroute.backends.llamacpp import LlamaCppBackend

PROMPT = ("Summarise in three bullet points how a clinic should triage patients who report chest pain, "
          "shortness of breath or dizziness at the front desk.")


def _one(backend: Any) -> tuple[float, int]:
    started = time.perf_counter()
    completion = backend.complete([Message("user", PROMPT)], max_tokens=128)
    return time.perf_counter() - started, completion.usage.completion_tokens if completion.usage else 0


def _summary(latencies: list[float], tokens: list[int], wall: float | None = None) -> dict[str, float]:
    total = wall if wall is not None else sum(latencies)
    return {"p50_s": statistics.median(latencies), "tokens_per_s": sum(tokens) / total if total else 0.0,
            "completion_tokens": statistics.median(tokens), "answers": len(latencies)}


def measure(backend: Any, runs: int) -> dict[str, float]:
    return measure_interleaved({"only": backend}, runs)["only"]


def measure_interleaved(backends: dict[str, Any], runs: int) -> dict[str, dict[str, float]]:
    """Each backend answers ``runs`` times, taking turns, so drifting load hits them alike."""
    for backend in backends.values():
        backend.complete([Message("user", "warm up")], max_tokens=8)
    samples: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in backends}
    for _ in range(runs):
        for name, backend in backends.items():
            latency, tokens = _one(backend)
            samples[name][0].append(latency)
            samples[name][1].append(tokens)
    return {name: _summary(*sample) for name, sample in samples.items()}


def measure_concurrent(backend: Any, clients: int, runs: int) -> dict[str, float]:
    """``clients`` threads each ask ``runs`` answers at once; tokens/s over the wall time."""
    backend.complete([Message("user", "warm up")], max_tokens=8)
    latencies: list[float] = []
    tokens: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(runs):
            latency, count = _one(backend)
            with lock:
                latencies.append(latency)
                tokens.append(count)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _summary(latencies, tokens, time.perf_counter() - started)


def _print(name: str, row: dict[str, float]) -> None:
    print(f"{name:34s} p50 {row['p50_s'] * 1000:8.1f} ms/answer  {row['tokens_per_s']:8.1f} tok/s "
          f"(median {row['completion_tokens']:.0f} tokens, {row['answers']:.0f} answers)")


def bench_workers(model: str, runs: int, threads: int) -> None:
    from privroute.backends.worker import LocalWorkerBackend
    from privroute.policy import LocalConfig

    rows = measure_interleaved({
        f"in process ({threads} threads)": LlamaCppBackend(model, n_threads=threads, max_output_tokens=128),
        f"worker process ({threads} threads)": LocalWorkerBackend(
            LocalConfig(model=model, n_threads=threads, max_output_tokens=128, seed=1)),
    }, runs)
    for name, row in rows.items():
        _print(name, row)
    inproc, worker = rows.values()
    print(f"worker / in process tokens/s: {worker['tokens_per_s'] / inproc['tokens_per_s']:.3f}")
    pool = LocalWorkerBackend(LocalConfig(model=model, n_threads=max(1, threads // 2), max_output_tokens=128,
                                          seed=2, workers=2))
    _print(f"2 workers x {max(1, threads // 2)} thread, 2 clients", measure_concurrent(pool, 2, max(1, runs // 2)))
    pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--workers", action="store_true", help="also measure through the worker process")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.workers:
        bench_workers(args.model, args.runs, args.threads)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if not args.gpu:
            return
    rows = {"cpu (n_gpu_layers=0)": measure(LlamaCppBackend(args.model, n_gpu_layers=0, max_output_tokens=128),
                                            args.runs)}
    if args.gpu:
        rows["gpu (n_gpu_layers=-1)"] = measure(
            LlamaCppBackend(args.model, n_gpu_layers=-1, max_output_tokens=128), args.runs)
    for name, row in rows.items():
        print(f"{name:24s} p50 {row['p50_s'] * 1000:8.1f} ms/answer  {row['tokens_per_s']:8.1f} tok/s "
              f"(median {row['completion_tokens']:.0f} tokens)")
    if args.gpu:
        router = Router({"name": "gpu-check", "extends": "healthcare",
                         "routes": {"internal": "local"},
                         "local": {"model": args.model, "n_gpu_layers": -1, "max_output_tokens": 64}},
                        detector=_NoDetector())
        result = router.route("Patient with new chest pain and diabetes, next steps?")
        print(f"routed via policy local.n_gpu_layers=-1: action={result.decision.action} backend={result.backend} "
              f"answer_chars={len(result.answer)} sent={result.sent}")


class _NoDetector:
    """The GPU check is about the local backend: health terms alone decide (internal -> local here)."""

    name = "none"

    def detect(self, text: str) -> tuple[()]:
        return ()


if __name__ == "__main__":
    main()
