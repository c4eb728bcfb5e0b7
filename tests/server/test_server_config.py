"""Serve config, the request parser, the local gate and the `privroute serve` command."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.cli.serve import serve_command
from privroute.errors import (
    AuditError,
    BackendError,
    Blocked,
    BudgetExceeded,
    ConfigurationError,
    ContextOverflow,
    DetectionError,
    FrontierTimeout,
    FrontierUnavailable,
    InputError,
    LocalTimeout,
    LocalWorkerError,
    MalformedResponse,
)
from privroute.server.config import (
    ServeConfig,
    TenantConfig,
    hash_api_key,
    is_loopback,
    load_serve_config,
)
from privroute.server.gate import LocalGate, QueueFull
from privroute.server.metrics import ProxyMetrics
from privroute.server.protocol import ApiError, error_for, parse_chat_request
from tests.paths import REPO

KEY = "sk-live-proxy-key-0001"


def tenant(name: str = "acme", keys: tuple[str, ...] = (hash_api_key(KEY),), policy: str = "general") -> dict:
    return {"name": name, "policy": policy, "api_keys": list(keys)}


class TestServeConfig:
    def test_keys_are_stored_hashed_and_matched_in_constant_time(self) -> None:
        """The right key finds its tenant; a wrong key, the hash itself and None find nothing."""
        config = load_serve_config({"tenants": [tenant("acme"), tenant("beta", (hash_api_key("other-key"),))]})
        assert config.tenant_for_key(KEY).name == "acme"  # type: ignore[union-attr]
        assert config.tenant_for_key("other-key").name == "beta"  # type: ignore[union-attr]
        for wrong in (None, "", " ", KEY.upper(), hash_api_key(KEY)):
            assert config.tenant_for_key(wrong) is None

    def test_a_plaintext_key_in_the_config_is_refused_without_echoing_it(self) -> None:
        """api_keys must be sha256 hashes; the error names the key's position, never its value."""
        with pytest.raises(ConfigurationError) as caught:
            load_serve_config({"tenants": [tenant(keys=(KEY,))]})
        assert "tenants.0.api_keys" in str(caught.value) and KEY not in str(caught.value)

    def test_a_config_file_reports_one_error_per_problem_with_its_line(self, tmp_path: Path) -> None:
        """A plaintext key is one error on its line (not also "tenants should have 1 item")."""
        path = tmp_path / "serve.yaml"
        path.write_text(f"host: 127.0.0.1\ntenants:\n  - name: acme\n    policy: general\n    api_keys:\n"
                        f"      - {KEY}\n", encoding="utf-8")
        with pytest.raises(ConfigurationError) as caught:
            load_serve_config(path)
        message = str(caught.value)
        assert message == (f"invalid serve config: {path}:6: tenants.0.api_keys.0: not a 'sha256:<64 lowercase "
                           "hex>' hash (store hashes, never keys; see privroute serve --hash-key)")
        path.write_text(f"tenants:\n  - name: acme\n    policy: general\n    api_keys: ['{hash_api_key(KEY)}']\n"
                        "limits:\n  max_body_bytes: 10\n  bogus: 1\n", encoding="utf-8")
        with pytest.raises(ConfigurationError) as caught:
            load_serve_config(path)
        assert str(caught.value).startswith("invalid serve config: 2 problems: ")
        assert f"{path}:6: limits.max_body_bytes:" in str(caught.value)
        assert f"{path}:7: limits.bogus: unknown key" in str(caught.value)

    @pytest.mark.parametrize(("data", "needle"), [
        ({"tenants": []}, "tenants"),
        ({"tenants": [tenant(keys=())]}, "has no api_keys"),
        ({"tenants": [tenant("a"), tenant("b")]}, "same key hash"),
        ({"tenants": [tenant("a"), tenant("a", (hash_api_key("x"),))]}, "unique"),
        ({"tenants": [tenant()], "colour": "blue"}, "colour"),
        ({"tenants": [tenant()], "limits": {"max_body_bytes": "big"}}, "limits.max_body_bytes"),
        ({"tenants": [tenant()], "limits": {"worker_threads": 8, "local_queue_size": 8}}, "worker_threads"),
        ({"no_auth": True, "host": "0.0.0.0", "tenants": [tenant(keys=())]}, "non-loopback"),
        ({"no_auth": True, "tenants": [tenant("a", ()), tenant("b", ())]}, "exactly one tenant"),
    ])
    def test_invalid_configs_name_the_key(self, data: dict[str, Any], needle: str) -> None:
        """Unknown keys, wrong types and unsafe auth setups are ConfigurationErrors naming the problem."""
        with pytest.raises(ConfigurationError, match=needle):
            load_serve_config(data)

    def test_relative_policy_paths_resolve_against_the_config_file(self, tmp_path: Path) -> None:
        """'policy: p.yaml' means next to serve.yaml, whatever the working directory."""
        (tmp_path / "p.yaml").write_text("name: p\nextends: general\n", encoding="utf-8")
        (tmp_path / "serve.yaml").write_text(yaml.safe_dump({"tenants": [tenant(policy="p.yaml")]}), encoding="utf-8")
        config = load_serve_config(tmp_path / "serve.yaml")
        assert config.tenants[0].policy == str(tmp_path / "p.yaml")
        assert config.source == str(tmp_path / "serve.yaml")

    def test_yaml_errors_name_the_file_and_line(self, tmp_path: Path) -> None:
        """Broken YAML: ConfigurationError with file:line."""
        path = tmp_path / "serve.yaml"
        path.write_text("tenants:\n  - name: [unclosed\n", encoding="utf-8")
        with pytest.raises(ConfigurationError, match=r"serve\.yaml:\d+: not valid YAML"):
            load_serve_config(path)

    @pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.9", True), ("::1", True),
                                                    ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False),
                                                    ("example.com", False), ("::", False)])
    def test_loopback_detection(self, host: str, loopback: bool) -> None:
        """Only addresses that cannot be reached from another machine count as loopback."""
        assert is_loopback(host) is loopback

    @settings(max_examples=30, deadline=None)
    @given(st.text(min_size=1, max_size=40).filter(lambda k: k == k.strip()),
           st.text(min_size=1, max_size=40).filter(lambda k: k == k.strip()))
    def test_hashes_separate_keys(self, key: str, other: str) -> None:
        """A key hashes to its own sha256 form; a different key never matches it."""
        config = ServeConfig(tenants=(TenantConfig(name="t", policy="general", api_keys=(hash_api_key(key),)),))
        assert config.tenant_for_key(key) is not None
        assert (config.tenant_for_key(other) is not None) == (other == key)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "robot", 3]),
                                  "content": st.one_of(st.text(max_size=20), st.integers(), _json)})
_request = st.fixed_dictionaries(
    {"model": st.one_of(st.just("privroute"), _json), "messages": st.one_of(st.lists(_message, max_size=3), _json)},
    optional={"stream": _json, "max_tokens": st.one_of(st.integers(-3, 5), _json), "n": st.integers(0, 3),
              "tools": _json})


class TestRequestParser:
    @settings(max_examples=300, deadline=None)
    @given(st.one_of(_request, _json))
    def test_any_json_is_a_request_or_a_400(self, body: Any) -> None:
        """Whatever the JSON, the parser returns a request or raises ApiError(400), never anything else."""
        try:
            request = parse_chat_request(json.dumps(body).encode())
        except ApiError as error:
            assert error.status == 400 and error.message
            return
        assert request.messages and all(isinstance(m["content"], str) for m in request.chat_messages())

    @settings(max_examples=100, deadline=None)
    @given(st.binary(max_size=64))
    def test_any_bytes_are_a_request_or_a_400(self, raw: bytes) -> None:
        """Arbitrary bytes never crash the parser."""
        try:
            parse_chat_request(raw)
        except ApiError as error:
            assert error.status == 400

    def test_token_limit_is_the_smallest_given(self) -> None:
        """max_tokens, max_completion_tokens and the server ceiling: the smallest wins."""
        request = parse_chat_request(json.dumps({"model": "privroute", "max_tokens": 50, "max_completion_tokens": 20,
                                                 "messages": [{"role": "user", "content": "hi"}]}).encode())
        assert request.token_limit(None) == 20 and request.token_limit(10) == 10


def _rate_limited() -> Exception:
    error = FrontierUnavailable("frontier: HTTP 429", backend="frontier")
    error.status_code, error.retry_after = 429, 12.4  # type: ignore[attr-defined]
    return error


class TestErrorMapping:
    @pytest.mark.parametrize(("exc", "status", "code"), [
        (Blocked(("personal-data",)), 403, "blocked_by_policy"),
        (QueueFull(5), 429, "local_queue_full"),
        (BudgetExceeded("daily token budget exceeded"), 429, "budget_exceeded"),
        (_rate_limited(), 429, "frontier_rate_limited"),
        (InputError("prompt is empty"), 400, "invalid_input"),
        (FrontierUnavailable("frontier: HTTP 500"), 502, "frontier_unavailable"),
        (MalformedResponse("frontier: malformed"), 502, "backend_error"),
        (BackendError("local model failed (RuntimeError)", backend="local"), 502, "backend_error"),
        (FrontierTimeout("frontier: timed out"), 504, "frontier_timeout"),
        (LocalTimeout("local: past its deadline", backend="local"), 504, "local_timeout"),
        (LocalWorkerError("local worker killed by SIGKILL", signal="SIGKILL"), 502, "backend_error"),
        (ContextOverflow(prompt_tokens=900, fits=448, n_ctx=512, answer_tokens=64), 400, "invalid_input"),
        (DetectionError("detector failed"), 500, "detection_failed"),
        (AuditError("audit write failed"), 503, "audit_unavailable"),
        (ConfigurationError("no frontier configured"), 500, "not_configured"),
        (KeyError("jane.roe@example.com"), 500, "internal_error"),
    ])
    def test_privroute_errors_map_to_http_statuses(self, exc: Exception, status: int, code: str) -> None:
        """Each typed error has its status; Retry-After travels with 429s that know one."""
        error = error_for(exc)
        assert (error.status, error.code) == (status, code)
        if code == "local_queue_full":
            assert error.headers == {"retry-after": "5"}
        if code == "frontier_rate_limited":
            assert error.headers == {"retry-after": "12"}

    def test_foreign_exception_messages_are_not_passed_on(self) -> None:
        """A third-party exception's message may quote the request: only its type is shown."""
        assert "jane" not in error_for(ValueError("bad value jane.roe@example.com")).message


class TestLocalGate:
    def test_admits_capacity_then_refuses(self) -> None:
        """concurrency + queue_size tickets, then QueueFull; a release admits one more."""
        gate = LocalGate(concurrency=1, queue_size=2, retry_after_s=3)
        tickets = [gate.admit() for _ in range(3)]
        with pytest.raises(QueueFull) as caught:
            gate.admit()
        assert caught.value.retry_after_s == 3
        tickets[0].release()
        tickets[0].release()  # twice is harmless
        gate.admit()
        with pytest.raises(QueueFull):
            gate.admit()

    def test_an_abandoned_stream_gives_its_place_back(self) -> None:
        """A stream closed early, or never started, releases its queue place and run slot."""
        from privroute import FakeBackend

        changes: list[tuple[int, int]] = []
        gate = LocalGate(concurrency=1, queue_size=0, on_change=lambda w, r: changes.append((w, r)))
        backend = gate.wrap(FakeBackend("local", respond=lambda m: "abcdefghij"))
        stream = backend.stream([])
        assert next(stream) == "abc"
        with pytest.raises(QueueFull):
            backend.complete([])
        stream.close()  # type: ignore[attr-defined]
        assert backend.complete([]).text == "abcdefghij"
        unstarted = backend.stream([])
        unstarted.close()  # type: ignore[attr-defined]
        assert list(backend.stream([])) == ["abc", "def", "ghi", "j"]
        assert changes[-1] == (0, 0)

    def test_waiting_in_the_queue_counts_against_the_local_deadline(self) -> None:
        """A queued call whose deadline passes before a slot frees gets LocalTimeout and leaves the queue."""
        from privroute import FakeBackend

        gate = LocalGate(concurrency=1, queue_size=2)
        backend = gate.wrap(FakeBackend("local", respond=lambda m: "abcdefghij"))
        running = backend.stream([])
        next(running)  # holds the only run slot
        with pytest.raises(LocalTimeout):
            backend.complete([], timeout=0.2)
        waiting = backend.stream([], timeout=0.2)
        with pytest.raises(LocalTimeout):
            next(waiting)
        running.close()  # type: ignore[attr-defined]
        assert backend.complete([], timeout=5).text == "abcdefghij"
        assert gate._admitted == 0 and gate._running == 0

    def test_calls_beyond_concurrency_wait_in_order(self) -> None:
        """With one slot, a second call waits (queued) instead of running alongside."""
        from privroute import FakeBackend

        running, peak, lock = [0], [0], threading.Lock()

        def respond(messages: Any) -> str:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            return "ok"

        backend = LocalGate(concurrency=1, queue_size=4).wrap(FakeBackend("local", respond=respond))
        threads = [threading.Thread(target=backend.complete, args=([],)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert peak[0] == 1


class TestMetrics:
    def test_prometheus_text_is_well_formed(self) -> None:
        """Counters, cumulative histogram buckets with +Inf, _sum and _count; label values escaped."""
        metrics = ProxyMetrics(buckets=(0.1, 1.0))
        for seconds in (0.05, 0.5, 5.0):
            metrics.request_started()
            metrics.request_finished(tenant='a"b', action="redact", status=200, stream=False, seconds=seconds)
        text = metrics.render()
        assert ('privroute_requests_total{tenant="a\\"b",action="redact",status="200",stream="false",'
                'endpoint="chat"} 3') in text
        assert 'privroute_request_duration_seconds_bucket{tenant="a\\"b",action="redact",le="0.1"} 1' in text
        assert 'privroute_request_duration_seconds_bucket{tenant="a\\"b",action="redact",le="1"} 2' in text
        assert 'privroute_request_duration_seconds_bucket{tenant="a\\"b",action="redact",le="+Inf"} 3' in text
        assert 'privroute_request_duration_seconds_count{tenant="a\\"b",action="redact"} 3' in text
        assert "privroute_requests_in_flight 0" in text


class TestShippedExample:
    def test_example_config_serves_and_reports_a_missing_frontier(self, caplog: pytest.LogCaptureFixture) -> None:
        """examples/serve.yaml loads; with no frontier anywhere, a frontier request is 500 not_configured."""
        from privroute.server.app import BackgroundServer, create_app

        example = REPO / "examples" / "serve.yaml"
        config = load_serve_config(example).model_copy(update={"warm": False})
        with caplog.at_level(logging.WARNING), BackgroundServer(create_app(config)) as server:
            response = httpx.post(server.url + "/v1/chat/completions",
                                  headers={"authorization": "Bearer sk-example-acme-change-me"},
                                  json={"model": "gpt-4o-mini", "messages": [
                                      {"role": "user", "content": "Give me three tips for writing clean code."}]})
        assert response.status_code == 500 and response.json()["error"]["code"] == "not_configured"
        assert "no frontier configured" in caplog.text


class TestServeCommand:
    def run(self, *args: str, stdin: str | None = None) -> Any:
        return CliRunner().invoke(serve_command, list(args), input=stdin)

    def test_hash_key_prints_the_config_line(self) -> None:
        """--hash-key reads the key on stdin and prints its sha256 form."""
        result = self.run("--hash-key", stdin=KEY + "\n")
        assert result.exit_code == 0 and result.output.strip() == hash_api_key(KEY)

    @pytest.mark.parametrize(("args", "needle"), [
        (("--policy", "general", "--no-auth", "--host", "0.0.0.0"), "refused on a non-loopback host"),
        (("--policy", "general"), "add --no-auth"),
        ((), "give --config FILE"),
        (("--policy", "general", "--config", "x.yaml"), "not both"),
    ])
    def test_usage_errors_exit_2(self, args: tuple[str, ...], needle: str) -> None:
        """Unsafe or incomplete setups are refused before anything listens."""
        result = self.run(*args)
        assert result.exit_code == 2 and needle in result.output

    def test_invalid_config_exits_1_naming_the_key(self, tmp_path: Path) -> None:
        """A config error is one line naming the file and key, exit 1."""
        path = tmp_path / "serve.yaml"
        path.write_text(yaml.safe_dump({"tenants": [tenant(keys=(KEY,))]}), encoding="utf-8")
        result = self.run("--config", str(path))
        assert result.exit_code == 1 and "tenants.0.api_keys" in result.output and KEY not in result.output

    def test_serve_policy_no_auth_answers_on_loopback(self, tmp_path: Path) -> None:
        """The real command in a subprocess: it listens, /healthz and /v1/models answer, then it stops."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "PRIVROUTE_AUDIT_DB": str(tmp_path / "audit.db")}
        process = subprocess.Popen([sys.executable, "-m", "privroute.cli", "serve", "--policy", "general",
                                    "--no-auth", "--port", str(port), "--log-level", "warning"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                    time.sleep(0.2)
            models = httpx.get(base + "/v1/models").json()
            assert [m["id"] for m in models["data"]] == ["privroute", "gpt-4o-mini"]
        finally:
            process.terminate()
            process.wait(timeout=30)
