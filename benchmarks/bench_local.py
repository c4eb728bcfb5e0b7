"""Local model throughput through privroute's llama.cpp backend, CPU vs GPU, same run.

    python benchmarks/bench_local.py [--model PATH_OR_CATALOG_NAME] [--gpu] [--runs N]

Without --gpu only the CPU (n_gpu_layers=0) is measured. With --gpu the same model is
also loaded with n_gpu_layers=-1 (needs a CUDA build of llama-cpp-python), and a routed
regulated prompt is answered through a policy whose local block sets n_gpu_layers: -1,
to show the policy path, not just the backend, runs on the GPU. Prints no PII.
"""

from __future__ import annotations

import argparse
import statistics
import time

from privroute import Router
from privroute.backends import Message
from privroute.backends.llamacpp import LlamaCppBackend

PROMPT = ("Summarise in three bullet points how a clinic should triage patients who report chest pain, "
          "shortness of breath or dizziness at the front desk.")


def measure(backend: LlamaCppBackend, runs: int) -> dict[str, float]:
    backend.complete([Message("user", "warm up")], max_tokens=8)
    latencies, tokens = [], []
    for _ in range(runs):
        started = time.perf_counter()
        completion = backend.complete([Message("user", PROMPT)], max_tokens=128)
        latencies.append(time.perf_counter() - started)
        tokens.append(completion.usage.completion_tokens if completion.usage else 0)
    total = sum(latencies)
    return {"p50_s": statistics.median(latencies), "tokens_per_s": sum(tokens) / total if total else 0.0,
            "completion_tokens": statistics.median(tokens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

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
