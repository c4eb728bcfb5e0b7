"""Bounded frontier calls: one retry layer, deadlines, circuit breaker, fallback, typed errors.

The fault matrix runs the real detector and the real openai client against
privroute.testing.OpenAIServer on 127.0.0.1; backoff is small but real.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privroute import (
    BackendError,
    DetectionError,
    FakeBackend,
    FrontierTimeout,
    FrontierUnavailable,
    MalformedResponse,
    PrivrouteError,
    Router,
)
from privroute.audit import verify
from privroute.resilience import (
    CircuitBreaker,
    CircuitOpen,
    RetrySettings,
    backoff_delay,
    call_with_retry,
    is_retryable,
)
from privroute.testing import OpenAIServer, Reply
from tests.faults_fixtures import (
    ECHO,
    PHI_PROMPT,
    PHI_VALUES,
    PII_PROMPT,
    PII_VALUES,
    Stopwatch,
    audit_rows,
    fault_policy,
    use,
)

DEADLINE = 2.0


def _db() -> Path:
    import os

    return Path(os.environ["PRIVROUTE_AUDIT_DB"])


class Sleeps:
    """Real sleep that also records each wait, so tests can check backoff honestly."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def _status(code: int, **headers: str) -> Reply:
    return Reply(status=code, headers=headers)


# name, replies, (expected error or None), expected attempts
FAULTS: list[tuple[str, tuple[Reply, ...], type[PrivrouteError] | None, int]] = [
    ("429-then-ok", (_status(429), ECHO), None, 2),
    ("429-retry-after-then-ok", (_status(429, **{"Retry-After": "0.3"}), ECHO), None, 2),
    ("429-always", (_status(429),), FrontierUnavailable, 3),
    ("500-always", (_status(500),), FrontierUnavailable, 3),
    ("503-then-ok", (_status(503), ECHO), None, 2),
    ("408-409-then-ok", (_status(408), _status(409), ECHO), None, 3),
    ("dropped-then-ok", (Reply(drop=True), ECHO), None, 2),
    ("dropped-always", (Reply(drop=True),), FrontierUnavailable, 3),
    ("slower-than-deadline", (Reply(content="late", delay_s=DEADLINE + 3),), FrontierTimeout, 1),
    ("malformed-body", (Reply(raw_body=b"{this is not json"),), MalformedResponse, 1),
    ("malformed-shape", (Reply(raw_body=b'{"choices": []}'),), MalformedResponse, 1),
    ("400-not-retried", (_status(400),), FrontierUnavailable, 1),
]


class TestFaultMatrix:
    @pytest.mark.parametrize("name,replies,error,attempts", FAULTS, ids=[f[0] for f in FAULTS])
    def test_fault_ends_bounded_typed_audited(self, server: OpenAIServer, name: str, replies: tuple[Reply, ...],
                                              error: type[PrivrouteError] | None, attempts: int) -> None:
        """Each injected fault ends in an answer or a typed error, in time, bounded, audited, PII-free."""
        use(server, *replies)
        router = Router(fault_policy("general", server.url, deadline_s=DEADLINE))
        with Stopwatch() as watch:
            if error is None:
                result = router.route(PII_PROMPT)
                assert result.attempts == attempts
                assert "Jane Roe" in result.answer  # restored from the echoed placeholder
            else:
                with pytest.raises(error) as caught:
                    router.route(PII_PROMPT)
                assert caught.value.attempts == attempts
                assert not any(value in str(caught.value) for value in PII_VALUES)
        assert watch.elapsed < DEADLINE + 1.0
        assert len(server.requests) == attempts <= 3
        body = server.bodies_text()
        assert body and not any(value in body for value in PII_VALUES)
        (row,) = audit_rows(_db())
        assert row["outcome"] == ("answered" if error is None else "error")
        assert row["error"] == (None if error is None else error.__name__)
        assert row["attempts"] == attempts and row["action"] == "redact"
        assert verify(_db()).ok

    def test_retry_after_is_honoured_and_capped(self, server: OpenAIServer) -> None:
        """Retry-After raises the wait; a huge one is capped at retry_after_max_s."""
        sleeps = Sleeps()
        use(server, _status(429, **{"Retry-After": "0.3"}), _status(503, **{"Retry-After": "120"}), ECHO)
        router = Router(fault_policy("general", server.url, retry_after_max_s=0.4), sleep=sleeps)
        result = router.route(PII_PROMPT)
        assert result.attempts == 3
        assert sleeps.waits[0] >= 0.3 and sleeps.waits[1] == pytest.approx(0.4)

    def test_retry_after_past_the_deadline_gives_up_at_once(self, server: OpenAIServer) -> None:
        """A wait that cannot fit in the deadline is not started."""
        sleeps = Sleeps()
        use(server, _status(429, **{"Retry-After": "30"}))
        router = Router(fault_policy("general", server.url, retry_after_max_s=60), sleep=sleeps)
        with Stopwatch() as watch, pytest.raises(FrontierUnavailable, match="no time left") as caught:
            router.route(PII_PROMPT)
        assert caught.value.attempts == 1 and sleeps.waits == [] and watch.elapsed < DEADLINE

    def test_truncated_answer_is_reported(self, server: OpenAIServer) -> None:
        """finish_reason=length comes back as truncated=True, not as a complete answer."""
        use(server, Reply(content="The first half of", finish_reason="length"))
        router = Router(fault_policy("general", server.url))
        result = router.route(PII_PROMPT)
        assert result.truncated and result.answer == "The first half of"
        assert audit_rows(_db())[0]["truncated"] == 1

    def test_output_cap_reaches_the_wire(self, server: OpenAIServer) -> None:
        """frontier.max_output_tokens is sent as max_tokens; a caller can lower it, not raise it."""
        use(server, ECHO)
        router = Router(fault_policy("general", server.url, max_output_tokens=64))
        router.route(PII_PROMPT, max_tokens=500)
        router.route(PII_PROMPT, max_tokens=10)
        assert [r["max_tokens"] for r in server.requests] == [64, 10]


class TestStreams:
    def test_stream_cut_in_the_middle_raises_typed_error(self, server: OpenAIServer) -> None:
        """A stream closed mid-answer is an error while iterating, and audited as one."""
        use(server, Reply(content="Noted: please remind <PERSON_1> about Friday.", cut_stream_after=2))
        router = Router(fault_policy("general", server.url))
        with Stopwatch() as watch:
            streaming = router.stream(PII_PROMPT)
            received: list[str] = []
            with pytest.raises(FrontierUnavailable, match="stream ended"):
                for delta in streaming:
                    received.append(delta)
        assert watch.elapsed < DEADLINE + 1.0
        assert "".join(received).startswith("Note")
        (row,) = audit_rows(_db())
        assert row["outcome"] == "error" and row["error"] == "FrontierUnavailable" and row["stream"] == 1
        assert not any(value in server.bodies_text() for value in PII_VALUES)

    def test_truncated_stream_is_reported(self, server: OpenAIServer) -> None:
        """A stream ending with finish_reason=length says truncated, in the result and the audit."""
        use(server, Reply(content="Noted: the first half", finish_reason="length"))
        streaming = Router(fault_policy("general", server.url)).stream(PII_PROMPT)
        assert "".join(streaming) == "Noted: the first half" and streaming.truncated
        assert audit_rows(_db())[0]["truncated"] == 1

    def test_stream_cut_before_first_delta_is_retried(self, server: OpenAIServer) -> None:
        """Nothing was yielded yet, so the stream may be retried within the bounds."""
        use(server, Reply(content="lost", cut_stream_after=0), ECHO)
        router = Router(fault_policy("general", server.url))
        text = "".join(router.stream(PII_PROMPT))
        assert "Jane Roe" in text and len(server.requests) == 2
        (row,) = audit_rows(_db())
        assert row["outcome"] == "answered" and row["attempts"] == 2

    def test_stream_errors_before_first_delta_are_bounded(self, server: OpenAIServer) -> None:
        """A stream that cannot open fails typed after max_attempts."""
        use(server, _status(503))
        router = Router(fault_policy("general", server.url, max_attempts=2))
        with pytest.raises(FrontierUnavailable) as caught:
            router.stream(PII_PROMPT)
        assert caught.value.attempts == 2 and len(server.requests) == 2
        assert audit_rows(_db())[0]["error"] == "FrontierUnavailable"


class TestFailClosed:
    def test_detector_raising_sends_nothing(self, server: OpenAIServer) -> None:
        """A detector exception is a DetectionError; the frontier gets no request; the audit says so."""

        class Broken:
            name = "broken"

            def detect(self, text: str) -> Any:
                raise RuntimeError(f"cannot parse {text}")

        router = Router(fault_policy("general", server.url), detector=Broken())
        with pytest.raises(DetectionError) as caught:
            router.route(PII_PROMPT)
        assert server.requests == []
        assert "Jane" not in str(caught.value)
        (row,) = audit_rows(_db())
        assert row["outcome"] == "error" and row["error"] == "DetectionError" and row["attempts"] == 0

    def test_regulated_data_never_falls_back_to_the_frontier(self, server: OpenAIServer) -> None:
        """A failing local model raises; PHI is never retried on the frontier, whatever the fallback."""
        use(server, ECHO)
        local = FakeBackend("local", error=BackendError("local model failed", backend="local"))
        router = Router(fault_policy("healthcare", server.url, fallback="local"), local=local)
        with pytest.raises(BackendError):
            router.route(PHI_PROMPT)
        assert server.requests == [] and len(local.calls) == 1
        assert audit_rows(_db())[0]["sensitivity"] == "regulated"


class TestFallback:
    def test_frontier_failure_falls_back_to_local(self, server: OpenAIServer, small_local: Any) -> None:
        """fallback: local answers on SmolLM2 after the frontier's attempts; the result says why."""
        use(server, _status(503))
        router = Router(fault_policy("general", server.url, fallback="local"), local=small_local)
        result = router.route(PII_PROMPT)
        assert result.backend == "local" and result.answer.strip()
        assert result.fallback_reason == "frontier failed (FrontierUnavailable)"
        assert result.attempts == 3 and len(server.requests) == 3
        # The redacted attempts did leave the machine; sent says exactly that.
        assert result.sent is not None and not any(v in result.sent for v in PII_VALUES)
        assert not any(value in server.bodies_text() for value in PII_VALUES)
        (row,) = audit_rows(_db())
        assert (row["target"], row["backend"], row["fallback_reason"]) == (
            "local", "local", "frontier failed (FrontierUnavailable)")

    def test_stream_falls_back_to_local(self, server: OpenAIServer, small_local: Any) -> None:
        """A stream that cannot open on the frontier streams from SmolLM2 instead."""
        use(server, Reply(drop=True))
        router = Router(fault_policy("general", server.url, fallback="local", max_attempts=2), local=small_local)
        streaming = router.stream(PII_PROMPT)
        assert streaming.backend == "local"
        assert "".join(streaming).strip()
        assert audit_rows(_db())[0]["fallback_reason"] == "frontier failed (FrontierUnavailable)"


class TestCircuitBreaker:
    def test_breaker_opens_fails_fast_then_probes(self, server: OpenAIServer) -> None:
        """After N failures calls fail fast without a request; after the cooldown one probe closes it."""
        now = [0.0]
        clock = lambda: time.monotonic() + now[0]  # noqa: E731 - real time plus a jump
        use(server, _status(500))
        policy = fault_policy("general", server.url, breaker_failures=2, breaker_cooldown_s=30)
        router = Router(policy, clock=clock)
        with pytest.raises(FrontierUnavailable, match="circuit now open") as first:
            router.route(PII_PROMPT)
        assert first.value.attempts == 2 and len(server.requests) == 2
        with pytest.raises(CircuitOpen) as fast:
            router.route(PII_PROMPT)
        assert fast.value.attempts == 0 and len(server.requests) == 2
        use(server, ECHO)
        now[0] += 31
        assert router.route(PII_PROMPT).attempts == 1
        assert len(server.requests) == 3
        rows = audit_rows(_db())
        assert [r["error"] for r in rows] == ["FrontierUnavailable", "CircuitOpen", None]

    def test_one_probe_at_a_time(self) -> None:
        """In half-open state the first caller probes; concurrent callers fail fast."""
        now = [0.0]
        breaker = CircuitBreaker("x", failure_threshold=1, cooldown_s=5, clock=lambda: now[0])
        breaker.failure()
        with pytest.raises(CircuitOpen, match="next probe"):
            breaker.acquire()
        now[0] = 6
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def caller() -> None:
            barrier.wait()
            try:
                breaker.acquire()
                outcomes.append("probe")
            except CircuitOpen:
                outcomes.append("fast")

        threads = [threading.Thread(target=caller) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["fast"] * 7 + ["probe"]
        breaker.failure()  # the probe failed: open again, for a fresh cooldown
        assert breaker.state == "open"
        now[0] = 12
        breaker.acquire()
        breaker.success()
        assert breaker.state == "closed"

    def test_client_errors_do_not_open_the_circuit(self) -> None:
        """A 400 says the request is wrong, not that the endpoint is down."""
        breaker = CircuitBreaker("x", failure_threshold=1)
        error = FrontierUnavailable("HTTP 400", backend="f")
        error.status_code = 400  # type: ignore[attr-defined]

        def attempt(timeout: float) -> None:
            raise error

        with pytest.raises(FrontierUnavailable):
            call_with_retry(attempt, RetrySettings(), breaker=breaker, sleep=lambda s: None)
        assert breaker.state == "closed"


class TestRetryLayer:
    @given(attempt=st.integers(1, 12), base=st.floats(0.001, 2), cap=st.floats(0.001, 30),
           jitter=st.floats(0, 1), retry_after=st.none() | st.floats(0, 500))
    def test_backoff_is_bounded(self, attempt: int, base: float, cap: float, jitter: float,
                                retry_after: float | None) -> None:
        """Delay lies in the upper half of the exponential ceiling, raised by Retry-After up to its cap."""
        settings = RetrySettings(backoff_base_s=base, backoff_max_s=cap, retry_after_max_s=3.0)
        delay = backoff_delay(attempt, settings, retry_after=retry_after, rng=lambda: jitter)
        ceiling = min(cap, base * 2 ** (attempt - 1))
        assert ceiling / 2 - 1e-9 <= delay <= max(ceiling, 3.0) + 1e-9
        if retry_after:
            assert delay >= min(retry_after, 3.0) - 1e-9

    @given(fails=st.integers(0, 10), max_attempts=st.integers(1, 6))
    def test_attempts_never_exceed_max(self, fails: int, max_attempts: int) -> None:
        """Whatever fails, at most max_attempts calls are made, and success reports its count."""
        calls = []

        def attempt(timeout: float) -> str:
            calls.append(timeout)
            if len(calls) <= fails:
                raise FrontierUnavailable("HTTP 503", backend="f")
            return "ok"

        settings = RetrySettings(max_attempts=max_attempts, backoff_base_s=0.0)
        try:
            done = call_with_retry(attempt, settings, sleep=lambda s: None, watchdog=False)
            assert done.attempts == fails + 1 <= max_attempts
        except FrontierUnavailable as exc:
            assert exc.attempts == max_attempts == len(calls) and fails >= max_attempts
        assert len(calls) <= max_attempts

    def test_watchdog_ends_a_hung_attempt(self) -> None:
        """An attempt that ignores its timeout is abandoned at the deadline."""
        release = threading.Event()

        def hang(timeout: float) -> str:
            release.wait(10)
            return "too late"

        with Stopwatch() as watch, pytest.raises(FrontierTimeout):
            call_with_retry(hang, RetrySettings(max_attempts=3, deadline_s=0.3), sleep=lambda s: None)
        release.set()
        assert watch.elapsed < 1.3

    @pytest.mark.parametrize("error,retry", [
        (FrontierTimeout("t"), True), (FrontierUnavailable("conn"), True),
        (MalformedResponse("m"), False), (BackendError("b"), False), (CircuitOpen("c"), False),
    ])
    def test_what_is_retried(self, error: BackendError, retry: bool) -> None:
        """Timeouts and connection errors are retried; malformed answers and open circuits are not."""
        assert is_retryable(error) is retry

    @pytest.mark.parametrize("status,retry", [(408, True), (409, True), (429, True), (500, True), (502, True),
                                              (503, True), (504, True), (400, False), (401, False), (404, False)])
    def test_status_codes(self, status: int, retry: bool) -> None:
        """408/409/429/5xx are retried; other 4xx are not."""
        error = FrontierUnavailable(f"HTTP {status}")
        error.status_code = status  # type: ignore[attr-defined]
        assert is_retryable(error) is retry


def test_phi_values_never_reach_the_server_under_faults(server: OpenAIServer, small_local: Any) -> None:
    """Healthcare + faults + fallback: PHI goes local, the frontier never sees it."""
    use(server, _status(503))
    router = Router(fault_policy("healthcare", server.url, fallback="local"), local=small_local)
    result = router.route(PHI_PROMPT)
    assert result.backend == "local" and result.sent is None
    assert server.requests == []
    assert not any(value in str(audit_rows(_db())) for value in PHI_VALUES)
