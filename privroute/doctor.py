"""``privroute doctor``: does everything a route needs work on this machine, under this policy?

Each check is one line: ``ok``, ``fail`` (with what to do) or ``skip`` (not needed
by this policy, or blocked by an earlier failure). Checks that run compiled code
which can kill its process (spaCy/thinc, llama.cpp: SIGILL on a CPU that lacks an
instruction the build uses, a segfault) run in a child process, so the doctor
reports the crash instead of dying of it:

* ``policy``    the policy loads;
* ``detector``  the policy's detector (spaCy + Presidio) loads and runs (child);
* ``model``     the GGUF file is there with the catalog's sha256;
* ``gpu``       llama.cpp was built with GPU offload, when ``local.n_gpu_layers != 0`` (child);
* ``llama``     a local model worker loads the model and decodes a token (the worker
                process is the child, exactly as for a route);
* ``local``     the trusted local server answers, when ``local.base_url`` is set;
* ``audit``     the audit store takes a record;
* ``frontier``  the frontier endpoint answers, when one is configured.

Nothing here prints or sends prompt text; the detector check runs on a made-up sample.
Frontends (the CLI) render a ``Report``; this module has no click.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import PrivrouteError

__all__ = ["Check", "Report", "run_doctor"]

Status = Literal["ok", "fail", "skip"]

SAMPLE = "Please call Alex Example at 555-0134 about the invoice."
"""Made-up text for the detector check: a name and a phone number, no real person."""

_PROBE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status.upper() if self.status == 'fail' else self.status:4s}  {self.name:9s} {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    policy: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.status == "fail")

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "policy": self.policy, "checks": [check.as_dict() for check in self.checks]}


# ---------------------------------------------------------------- child processes

def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _probe(kind: str, *args: str, timeout: float = _PROBE_TIMEOUT_S) -> tuple[dict[str, Any] | None, str]:
    """Run ``python -m privroute.doctor --probe KIND ARGS``: (its JSON answer, "") or (None, why not).

    Why not is one line: the child's own error, the signal that ended it, a timeout.
    """
    from .backends.worker import child_env

    try:
        done = subprocess.run([sys.executable, "-m", "privroute.doctor", "--probe", kind, *args],
                              capture_output=True, text=True, timeout=timeout, env=child_env(), check=False)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:g} s"
    if done.returncode < 0:
        name = _signal_name(done.returncode)
        if name == "SIGILL":
            from .backends.build import rebuild_command

            return None, (f"crashed with SIGILL (illegal instruction): a compiled dependency uses CPU "
                          f"instructions this machine lacks; for llama.cpp: {rebuild_command()}")
        return None, f"crashed with {name}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return None, f"exited with code {done.returncode} and no answer"
    answer = json.loads(lines[-1])
    if "error" in answer:
        return None, str(answer["error"])
    return answer, ""


def _probe_detector(policy_ref: str) -> dict[str, Any]:
    from .router import Router

    router = Router(policy_ref)
    started = time.monotonic()
    decision = router.classify(SAMPLE)
    return {"entities": dict(decision.entity_counts), "seconds": round(time.monotonic() - started, 2),
            "detector": getattr(router.detector, "name", type(router.detector).__name__)}


def _probe_gpu() -> dict[str, Any]:
    try:
        import llama_cpp
    except ImportError:
        return {"error": "llama-cpp-python is not installed; install it with: pip install 'privroute[local]'"}
    return {"gpu_offload": bool(llama_cpp.llama_supports_gpu_offload())}


_PROBES: dict[str, Callable[..., dict[str, Any]]] = {"detector": _probe_detector, "gpu": _probe_gpu}


def _probe_main(argv: list[str]) -> int:
    kind, args = argv[0], argv[1:]
    try:
        answer = _PROBES[kind](*args)
    except PrivrouteError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one line back to the doctor, which says what failed
        answer = {"error": f"{type(exc).__name__}"}
    print(json.dumps(answer))
    return 0


# ---------------------------------------------------------------- the checks

def _check_detector(policy_ref: str) -> Check:
    answer, why = _probe("detector", policy_ref)
    if answer is None:
        return Check("detector", "fail", f"the detector did not run: {why}")
    found = ", ".join(sorted(answer["entities"])) or "nothing"
    return Check("detector", "ok", f"{answer['detector']} loaded and ran in {answer['seconds']} s "
                                   f"(found {found} in a made-up sample)")


def _check_model(policy: Any) -> Check:
    from .models import resolve_model, verify_checksum

    try:
        model = resolve_model(policy.local.model)
        verify_checksum(model)
    except PrivrouteError as exc:
        return Check("model", "fail", str(exc))
    sha = "sha256 matches the catalog" if model.entry and model.entry.sha256 else "no checksum in the catalog"
    return Check("model", "ok", f"{model.name}: {model.path} ({sha})")


def _check_gpu(policy: Any) -> Check:
    layers = policy.local.n_gpu_layers
    if layers == 0:
        return Check("gpu", "skip", "local.n_gpu_layers is 0 (CPU)")
    answer, why = _probe("gpu")
    if answer is None:
        return Check("gpu", "fail", f"llama.cpp could not be asked about GPU offload: {why}")
    if not answer["gpu_offload"]:
        from .backends.build import rebuild_command

        return Check("gpu", "fail", f"local.n_gpu_layers is {layers} but this llama-cpp-python build has no GPU "
                                    f"offload; rebuild it: {rebuild_command('cuda')}, or set n_gpu_layers: 0")
    return Check("gpu", "ok", f"llama.cpp has GPU offload (local.n_gpu_layers {layers})")


def _check_llama(policy: Any) -> Check:
    from .backends import Message, local_from_config

    # One worker is enough to know the model loads and decodes; the pool is the same code.
    backend: Any = local_from_config(policy.local.model_copy(update={"workers": 1}))
    started = time.monotonic()
    try:
        completion = backend.complete([Message("user", "Say OK.")], max_tokens=1, timeout=policy.local.deadline_s)
    except PrivrouteError as exc:
        return Check("llama", "fail", str(exc))
    finally:
        backend.close()
    seconds = time.monotonic() - started
    return Check("llama", "ok", f"a worker loaded {backend.model} and decoded {completion.usage.completion_tokens} "
                                f"token(s) in {seconds:.1f} s")


def _check_http(name: str, backend: Any) -> Check:
    import httpx

    url = (getattr(backend, "base_url", None) or "https://api.openai.com/v1").rstrip("/") + "/models"
    key = getattr(backend, "_api_key", None)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        return Check(name, "fail", f"{url} is not reachable ({type(exc).__name__})")
    if response.status_code in (401, 403):
        return Check(name, "fail", f"{url} refused the API key (HTTP {response.status_code})")
    if response.status_code >= 500:
        return Check(name, "fail", f"{url} answered HTTP {response.status_code}")
    return Check(name, "ok", f"{url} answered (HTTP {response.status_code})")


def _check_frontier(policy: Any) -> Check:
    from .backends import frontier_from_config

    try:
        backend = frontier_from_config(policy.frontier)
    except PrivrouteError as exc:
        return Check("frontier", "skip", f"not configured ({exc}); prompts routed to redact or frontier "
                                         f"will be refused")
    return _check_http("frontier", backend)


def _check_audit(policy: Any) -> Check:
    from .audit import open_audit, resolve_path

    if not policy.audit.enabled:
        return Check("audit", "skip", "audit.enabled is false")
    try:
        open_audit(policy.audit).check_writable()
    except PrivrouteError as exc:
        return Check("audit", "fail", str(exc))
    return Check("audit", "ok", f"{resolve_path(policy.audit.path)} takes records")


def run_doctor(policy_ref: str = "general") -> Report:
    """Every check, in order; a failed prerequisite turns what depends on it into a skip."""
    from .policy import load_policy

    try:
        policy = load_policy(policy_ref)
    except PrivrouteError as exc:
        return Report(policy_ref, (Check("policy", "fail", str(exc)),))
    checks = [Check("policy", "ok", f"{policy.name} loads"), _check_detector(policy_ref)]
    if policy.local.base_url:
        from .backends import local_from_config

        checks.append(_check_http("local", local_from_config(policy.local)))
    else:
        model = _check_model(policy)
        gpu = _check_gpu(policy)
        checks += [model, gpu]
        if model.status == "fail" or gpu.status == "fail":
            checks.append(Check("llama", "skip", f"needs the {'model' if model.status == 'fail' else 'gpu'} check"))
        else:
            checks.append(_check_llama(policy))
    checks += [_check_audit(policy), _check_frontier(policy)]
    return Report(policy_ref, tuple(checks))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        sys.exit(_probe_main(sys.argv[2:]))
    sys.exit("usage: privroute doctor [--policy P] [--json]")
