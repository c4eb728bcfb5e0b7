"""The real SmolLM2 through supervised worker processes: crashes, hangs, parallel workers, overflow.

Each test builds its own pool (a distinct ``seed`` keeps it apart from the session's
shared one), so killing a worker here never disturbs another test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privroute import ContextOverflow, LocalTimeout, LocalWorkerError, Router
from privroute.backends import Message, local_from_config
from privroute.backends.worker import LocalWorkerBackend
from privroute.backends.worker_main import HANG_ENV
from privroute.errors import ConfigurationError
from privroute.policy import LocalConfig
from privroute.testing import Reply
from tests.paths import REPO

from tests.faults_fixtures import PHI_PROMPT, PHI_VALUES, Stopwatch, fault_policy, use

pytestmark = pytest.mark.slow

QUESTION = [Message("user", "Name three colours of the rainbow.")]
_seeds = iter(range(1000, 2000))


def zombies() -> list[int]:
    """Child processes of this test process that exited and were never reaped."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z" and int(ppid) == os.getpid():
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def pool(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Builds worker backends with their own pools; stops every one of them afterwards."""
    made: list[LocalWorkerBackend] = []

    def build(**settings: Any) -> LocalWorkerBackend:
        settings.setdefault("max_output_tokens", 24)
        settings.setdefault("seed", next(_seeds))
        backend = local_from_config(LocalConfig(**settings))
        assert isinstance(backend, LocalWorkerBackend)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()
    assert zombies() == []


@pytest.fixture
def hang_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workers started after this see the hook; writing the file makes the next request hang."""
    path = tmp_path / "hang"
    monkeypatch.setenv(HANG_ENV, str(path))
    return path


def wait_for(condition: Any, limit_s: float = 60.0) -> None:
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class TestCrash:
    def test_kill_9_mid_stream_fails_that_call_and_the_next_works(self, pool: Any) -> None:
        backend = pool()
        stream = backend.stream([Message("user", "Write a long story about a lighthouse keeper.")])
        first = next(stream)
        assert first
        (victim,) = backend.worker_pids()
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(LocalWorkerError) as caught:
            for _ in stream:
                pass
        assert caught.value.signal == "SIGKILL" and "SIGKILL" in str(caught.value)
        assert not alive(victim) and zombies() == []
        answer = backend.complete(QUESTION)
        assert answer.text.strip() and answer.usage.completion_tokens > 0
        (replacement,) = backend.worker_pids()
        assert replacement != victim

    def test_kill_9_during_a_blocking_call(self, pool: Any, hang_file: Path) -> None:
        """complete() waits in the worker (hook holds it there); kill -9 -> LocalWorkerError, then it recovers."""
        backend = pool()
        backend.complete(QUESTION)  # loaded; the hook is armed only now
        hang_file.write_text("30")
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["value"] = backend.complete(QUESTION)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcome["error"] = exc

        thread = threading.Thread(target=call)
        thread.start()
        wait_for(lambda: not hang_file.exists())  # the worker took the request and is "answering"
        (victim,) = backend.worker_pids()
        os.kill(victim, signal.SIGKILL)
        thread.join(30)
        assert isinstance(outcome.get("error"), LocalWorkerError)
        assert zombies() == []
        assert backend.complete(QUESTION).text.strip()

    def test_sigill_names_the_portable_rebuild(self, pool: Any) -> None:
        """What a CPU without an instruction llama.cpp uses looks like: SIGILL, reported with the fix."""
        backend = pool()
        stream = backend.stream([Message("user", "Describe the sea at night in detail.")])
        next(stream)
        (victim,) = backend.worker_pids()
        os.kill(victim, signal.SIGILL)
        with pytest.raises(LocalWorkerError) as caught:
            list(stream)
        message = str(caught.value)
        assert caught.value.signal == "SIGILL"
        assert "-DGGML_NATIVE=OFF" in message and "--force-reinstall" in message
        assert backend.complete(QUESTION).text.strip()

    def test_router_stream_killed_then_route_answers(self, pool: Any, frontier: Any) -> None:
        """Through the router: the regulated call fails typed and audited, PII-free; the next one answers."""
        backend = pool(max_output_tokens=48)
        router = Router(fault_policy("healthcare", frontier.url), local=backend)
        stream = router.stream(PHI_PROMPT)
        deltas = iter(stream)
        next(deltas)
        os.kill(backend.worker_pids()[0], signal.SIGKILL)
        with pytest.raises(LocalWorkerError) as caught:
            list(deltas)
        assert not any(value in str(caught.value) for value in PHI_VALUES)
        result = router.route(PHI_PROMPT)
        assert result.backend == "local" and result.answer.strip() and result.sent is None
        assert frontier.requests == []


class TestDeadline:
    def test_hung_worker_times_out_within_deadline_plus_one(self, pool: Any, hang_file: Path) -> None:
        backend = pool()
        backend.complete(QUESTION)
        (hung,) = backend.worker_pids()
        hang_file.write_text("600")
        with Stopwatch() as watch, pytest.raises(LocalTimeout) as caught:
            backend.complete(QUESTION, timeout=2.0)
        assert watch.elapsed < 2.0 + 1.0
        assert isinstance(caught.value, TimeoutError) and "2 s" in str(caught.value)
        assert not alive(hung) and zombies() == []
        assert backend.complete(QUESTION).text.strip()

    def test_hung_stream_times_out(self, pool: Any, hang_file: Path) -> None:
        backend = pool()
        backend.complete(QUESTION)
        hang_file.write_text("600")
        with Stopwatch() as watch, pytest.raises(LocalTimeout):
            list(backend.stream(QUESTION, timeout=1.5))
        assert watch.elapsed < 1.5 + 1.0
        assert "".join(backend.stream(QUESTION)).strip()

    def test_policy_deadline_bounds_the_local_fallback(self, pool: Any, hang_file: Path, server: Any) -> None:
        """Frontier fails, fallback: local; the local worker hangs -> LocalTimeout, the whole route within
        frontier.deadline_s + local.deadline_s + 1 (the documented bound)."""
        seed = next(_seeds)
        warm = pool(seed=seed)
        warm.complete(QUESTION)  # the same pool the router's backend uses, loaded
        use(server, Reply(status=500))
        policy = fault_policy("general", server.url, max_attempts=1, fallback="local", deadline_s=2.0)
        policy["local"] = {"max_output_tokens": 24, "seed": seed, "deadline_s": 3.0}
        router = Router(policy)
        hang_file.write_text("600")
        with Stopwatch() as watch, pytest.raises(LocalTimeout, match="3 s"):
            router.route("Give me three tips for writing release notes.")
        assert watch.elapsed < 2.0 + 3.0 + 1.0
        assert len(server.requests) == 1  # the frontier was tried (and failed) first: this was the fallback
        assert warm.complete(QUESTION).text.strip()  # its replacement answers


class TestParallel:
    def test_two_workers_answer_two_prompts_at_once(self, pool: Any) -> None:
        """Both streams are open together: with one worker the second could not start."""
        backend = pool(workers=2, n_threads=1)
        prompts = [[Message("user", "Name three fruits.")], [Message("user", "Name three rivers.")]]
        expected = [backend.complete(p).text for p in prompts]  # deterministic (temperature 0)
        first, second = (backend.stream(p) for p in prompts)
        heads = [next(first), next(second)]  # the second starts while the first is mid-answer
        assert len(set(backend.worker_pids())) == 2
        texts = [heads[0] + "".join(first), heads[1] + "".join(second)]
        assert texts == expected

    def test_threads_share_the_pool(self, pool: Any) -> None:
        backend = pool(workers=2, n_threads=1)
        prompts = [[Message("user", f"Name three {kind}.")] for kind in ("birds", "trees", "stars", "cars")]
        results: dict[int, str] = {}
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, backend.complete(prompts[i]).text))
                   for i in range(len(prompts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert sorted(results) == [0, 1, 2, 3] and all(text.strip() for text in results.values())

    def test_one_worker_busy_means_the_next_call_waits_within_its_deadline(self, pool: Any) -> None:
        backend = pool(workers=1)
        stream = backend.stream([Message("user", "Write a long story about a lighthouse keeper.")])
        next(stream)
        with pytest.raises(LocalTimeout, match="no local model worker became free"):
            backend.complete(QUESTION, timeout=0.5)
        stream.close()  # cancelled in the worker, which serves the next call without a restart
        pid = backend.worker_pids()
        assert backend.complete(QUESTION).text.strip()
        assert backend.worker_pids() == pid


LONG = " ".join(f"Paragraph {i}: the committee reviewed the quarterly figures and the zebracorn budget."
                for i in range(120))


class TestOverflow:
    def test_overlong_prompt_is_refused_with_token_counts(self, pool: Any) -> None:
        backend = pool(n_ctx=512, max_output_tokens=64)
        with pytest.raises(ContextOverflow) as caught:
            backend.complete([Message("user", LONG)])
        error = caught.value
        assert error.fits == 512 - 64 and error.prompt_tokens > error.fits and error.n_ctx == 512
        assert f"{error.prompt_tokens} tokens" in str(error) and "fits 448" in str(error)
        assert "zebracorn" not in str(error)
        assert backend.complete(QUESTION).text.strip()  # the worker is fine

    def test_keep_recent_cuts_and_says_so(self, pool: Any) -> None:
        backend = pool(n_ctx=512, max_output_tokens=64, on_overflow="keep_recent")
        answer = backend.complete([Message("system", "Answer briefly."), Message("user", LONG),
                                   Message("assistant", "Noted."), Message("user", LONG + " Summarise.")])
        assert answer.input_truncated and answer.text.strip()
        assert answer.usage.prompt_tokens <= 512 - 64
        stream = backend.stream([Message("user", LONG)])
        assert "".join(stream).strip() and stream.input_truncated
        assert backend.complete(QUESTION).input_truncated is False

    def test_keep_recent_keeps_the_system_message_and_the_end(self) -> None:
        """The engine the worker runs (in process here): oldest turns go first, then the start of the last."""
        from privroute.backends.llamacpp import LlamaCppBackend

        engine = LlamaCppBackend(n_ctx=512, max_output_tokens=64, on_overflow="keep_recent", seed=next(_seeds))
        last = LONG + " Finally, summarise the zebracorn budget."
        fitted = engine.fit([Message("system", "Answer briefly."), Message("user", LONG),
                             Message("assistant", "Noted."), Message("user", last)], 64)
        assert fitted.input_truncated and fitted.prompt_tokens <= 512 - 64
        assert [m["role"] for m in fitted.messages] == ["system", "user"]
        assert fitted.messages[0]["content"] == "Answer briefly."
        kept = fitted.messages[1]["content"].strip()
        assert 100 < len(kept) < len(last) and last.endswith(kept)
        short = engine.fit([Message("user", "Hello there.")], 64)
        assert not short.input_truncated and short.messages == ({"role": "user", "content": "Hello there."},)

    def test_route_result_reports_the_cut(self, frontier: Any) -> None:
        policy = fault_policy("healthcare", frontier.url)
        policy["local"] = {"n_ctx": 512, "max_output_tokens": 32, "on_overflow": "keep_recent", "seed": next(_seeds)}
        router = Router(policy)
        try:
            result = router.route(PHI_PROMPT + " " + LONG)
            assert result.backend == "local" and result.input_truncated
            assert result.as_dict()["input_truncated"] is True
            assert router.route(PHI_PROMPT).input_truncated is False
        finally:
            router.local.close()


class TestLoad:
    def test_gpu_layers_without_offload_is_a_clear_error(self, pool: Any) -> None:
        probe = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())"],
                               capture_output=True, text=True, check=True)
        if probe.stdout.strip() == "True":
            pytest.skip("this llama-cpp-python build has GPU offload")
        backend = pool(n_gpu_layers=-1)
        for _ in range(2):  # every call says so; no restart loop, no zombie
            with pytest.raises(ConfigurationError, match="no GPU offload") as caught:
                backend.complete(QUESTION)
            assert "-DGGML_CUDA=on" in str(caught.value) and "n_gpu_layers: 0" in str(caught.value)

    def test_the_router_process_never_loads_llama_cpp(self) -> None:
        code = ("import sys; from privroute.backends import local_from_config, Message; "
                "from privroute.policy import LocalConfig; "
                "b = local_from_config(LocalConfig(max_output_tokens=4, seed=7)); "
                "print(bool(b.complete([Message('user', 'Hi')]).text), 'llama_cpp' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == ["True", "False"]
