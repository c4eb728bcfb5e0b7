"""The proxy under bad input and failures: OpenAI-style 4xx/5xx, and it keeps serving."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import httpx
import openai
import pytest

from privroute.server.app import BackgroundServer, create_app
from privroute.server.config import ServeConfig, ServeLimits, TenantConfig, hash_api_key
from privroute.testing import OpenAIServer

from .server_fixtures import CUT, FAIL_500, KEYS, SLOW, BlockingLocal, EndlessLocal

EMAIL = "maria.gonzalez@example.net"
PHONE = "555-867-5309"


def post(url: str, body: Any = None, *, raw: bytes | None = None, key: str | None = KEYS["acme"]) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(f"{url}/chat/completions", content=content, headers=headers, timeout=60)


def good(text: str = "Write a haiku about autumn leaves falling slowly in the quiet evening wind.") -> dict[str, Any]:
    return {"model": "privroute", "messages": [{"role": "user", "content": text}]}


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


class TestBadRequests:
    @pytest.mark.parametrize(("raw", "param"), [
        (b"{not json", None),
        (b"\xff\xfe\x00", None),
        (b"[1, 2]", None),
        (b'{"model": "privroute"}', "messages"),
        (b'{"model": "privroute", "messages": "hello"}', "messages"),
        (b'{"model": "privroute", "messages": []}', "messages"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": "privroute", "messages": [{"role": "wizard", "content": "hi"}]}', "messages.0.role"),
        (b'{"model": "privroute", "messages": [{"role": "user", "content": 5}]}', "messages.0.content"),
        (b'{"model": "privroute", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', "stream"),
        (b'{"model": "privroute", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "9"}',
         "max_tokens"),
        (b'{"model": "privroute", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
         "max_tokens"),
    ])
    def test_malformed_or_mistyped_body_is_400(self, proxy: str, recorded: OpenAIServer, raw: bytes,
                                               param: str | None) -> None:
        """Malformed JSON and wrong types: 400 invalid_request_error naming the field; nothing sent."""
        error = assert_openai_error(post(proxy, raw=raw), 400)
        assert error["type"] == "invalid_request_error"
        if param is not None:
            assert error["param"] == param
        assert recorded.requests == []

    def test_field_errors_never_echo_values(self, proxy: str) -> None:
        """A wrongly typed field holding PII is named, not quoted."""
        body = {"model": "privroute", "messages": [{"role": "user", "content": {"email": EMAIL}}]}
        response = post(proxy, body)
        assert response.status_code == 400 and EMAIL not in response.text

    def test_unknown_model_is_404_model_not_found(self, proxy: str, recorded: OpenAIServer) -> None:
        """The openai client raises NotFoundError; the message lists the usable names."""
        api = openai.OpenAI(base_url=proxy, api_key=KEYS["acme"], max_retries=0)
        with pytest.raises(openai.NotFoundError) as caught:
            api.chat.completions.create(model="gpt-9-ultra", messages=good()["messages"])
        assert caught.value.code == "model_not_found" and "privroute" in str(caught.value)
        assert recorded.requests == []

    def test_oversized_body_is_413(self, proxy: str, recorded: OpenAIServer) -> None:
        """Bodies above limits.max_body_bytes are refused before parsing."""
        error = assert_openai_error(post(proxy, good("word " * 20_000)), 413)
        assert error["code"] == "request_too_large"
        assert recorded.requests == []

    @pytest.mark.parametrize(("extra", "param"), [({"functions": [{"name": "f"}]}, "functions"), ({"n": 3}, "n")])
    def test_unsupported_parameters_are_refused_not_ignored(self, proxy: str, extra: dict[str, Any],
                                                            param: str) -> None:
        """Deprecated functions (tools replace them) and n>1 would change the answer: 400 unsupported_parameter."""
        error = assert_openai_error(post(proxy, {**good(), **extra}), 400)
        assert error["param"] == param and error["code"] == "unsupported_parameter"

    def test_empty_prompt_is_input_error_400(self, proxy: str) -> None:
        """privroute's InputError maps to 400."""
        error = assert_openai_error(post(proxy, good("   ")), 400)
        assert error["code"] == "invalid_input"

    def test_unknown_path_and_method_are_openai_errors(self, proxy: str) -> None:
        """404/405 bodies have the OpenAI error shape too."""
        assert_openai_error(httpx.get(proxy + "/completions-nope"), 404)
        assert_openai_error(httpx.get(proxy + "/chat/completions"), 405)

    def test_server_keeps_serving_after_bad_requests(self, proxy: str, recorded: OpenAIServer) -> None:
        """A burst of garbage, then a good request: 200."""
        for raw in (b"{", b"null", b'{"messages": 1}', b"\x00" * 10):
            assert post(proxy, raw=raw).status_code == 400
        response = post(proxy, good())
        assert response.status_code == 200 and response.headers["x-privroute-action"] == "frontier"


class TestAuth:
    @pytest.mark.parametrize("key", [None, "sk-wrong", KEYS["acme"] + "x", hash_api_key(KEYS["acme"])])
    def test_missing_or_wrong_key_is_401(self, proxy: str, recorded: OpenAIServer, key: str | None) -> None:
        """No key, a wrong key, or the stored hash itself: 401, nothing sent."""
        error = assert_openai_error(post(proxy, good(), key=key), 401)
        assert error["code"] == "invalid_api_key"
        assert recorded.requests == []

    @pytest.mark.parametrize("header", ["Bearer", f"Basic {KEYS['acme']}", KEYS["acme"]])
    def test_key_outside_a_bearer_header_is_401(self, proxy: str, header: str) -> None:
        """Only 'Authorization: Bearer <key>' authenticates."""
        response = httpx.post(f"{proxy}/chat/completions", json=good(), headers={"authorization": header})
        assert_openai_error(response, 401)

    def test_openai_client_raises_authentication_error(self, proxy: str) -> None:
        """The official client sees a normal 401 (on completions and on /models)."""
        api = openai.OpenAI(base_url=proxy, api_key="sk-nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            api.chat.completions.create(model="privroute", messages=good()["messages"])
        with pytest.raises(openai.AuthenticationError):
            api.models.list()

    def test_each_key_routes_by_its_own_tenants_policy(self, proxy: str, recorded: OpenAIServer) -> None:
        """The same prompt is redacted for acme and blocked for strict (confidential -> block)."""
        body = good(f"Please email {EMAIL} the summary.")
        assert post(proxy, body, key=KEYS["acme"]).headers["x-privroute-action"] == "redact"
        assert post(proxy, body, key=KEYS["strict"]).status_code == 403


class TestBlocked:
    def test_blocked_is_403_with_reasons_and_no_values(self, proxy: str, recorded: OpenAIServer) -> None:
        """403 permission_error naming the rule; headers carry the decision; the body has no PII."""
        response = post(proxy, good(f"Call me on {PHONE} or write to {EMAIL}."), key=KEYS["strict"])
        error = assert_openai_error(response, 403)
        assert error["code"] == "blocked_by_policy" and "personal-data" in error["message"]
        assert response.headers["x-privroute-action"] == "block"
        assert "personal-data" in response.headers["x-privroute-reasons"]
        assert EMAIL not in response.text and PHONE not in response.text
        assert recorded.requests == []

    def test_blocked_stream_is_403_before_any_event(self, proxy: str, recorded: OpenAIServer) -> None:
        """A streaming request that is blocked gets a real 403, not an event in a 200 stream."""
        api = openai.OpenAI(base_url=proxy, api_key=KEYS["strict"], max_retries=0)
        with pytest.raises(openai.PermissionDeniedError):
            api.chat.completions.create(model="privroute", stream=True,
                                        messages=[{"role": "user", "content": f"Write to {EMAIL}."}])
        assert recorded.requests == []


class TestUpstreamFailures:
    def test_upstream_500_is_502(self, proxy: str, recorded: OpenAIServer) -> None:
        """FrontierUnavailable -> 502 upstream_error; the message has no prompt text."""
        response = post(proxy, good(f"{FAIL_500} for {EMAIL}"), key=KEYS["faulty"])
        error = assert_openai_error(response, 502)
        assert error["code"] == "frontier_unavailable" and EMAIL not in response.text
        assert EMAIL not in recorded.bodies_text()

    def test_upstream_past_the_deadline_is_504(self, proxy: str, recorded: OpenAIServer) -> None:
        """FrontierTimeout -> 504 (the impatient tenant's deadline is 1 s; the upstream takes 3)."""
        error = assert_openai_error(post(proxy, good(f"{SLOW} now"), key=KEYS["impatient"]), 504)
        assert error["code"] == "frontier_timeout"

    def test_upstream_failure_on_a_stream_is_a_status_not_an_event(self, proxy: str,
                                                                   recorded: OpenAIServer) -> None:
        """The first delta is pulled before headers go out, so the client gets 502."""
        api = openai.OpenAI(base_url=proxy, api_key=KEYS["faulty"], max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            api.chat.completions.create(model="privroute", stream=True,
                                        messages=[{"role": "user", "content": f"{FAIL_500} {EMAIL}"}])
        assert caught.value.status_code == 502

    def test_stream_cut_mid_way_ends_with_an_error_event(self, proxy: str, recorded: OpenAIServer) -> None:
        """After headers, an upstream failure becomes an OpenAI error event: the client raises."""
        api = openai.OpenAI(base_url=proxy, api_key=KEYS["faulty"], max_retries=0)
        stream = api.chat.completions.create(model="privroute", stream=True,
                                             messages=[{"role": "user", "content": f"{CUT} {EMAIL}"}])
        with pytest.raises(openai.APIError):
            for _ in stream:
                pass
        assert post(proxy, good()).status_code == 200


class TestObservability:
    def test_logs_hold_no_pii(self, proxy: str, recorded: OpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
        """Every record, DEBUG on for every logger (presidio, openai, httpx, uvicorn), is free of the values."""
        with caplog.at_level(logging.DEBUG):
            post(proxy, good(f"Email {EMAIL} or call {PHONE}."))
            post(proxy, good(f"Email {EMAIL} or call {PHONE}."), key=KEYS["strict"])
            post(proxy, good(f"{FAIL_500} {EMAIL} {PHONE}"), key=KEYS["faulty"])
            post(proxy, {"model": "privroute", "messages": [{"role": "user", "content": {"x": EMAIL}}]})
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "action=redact" in text and "status=403" in text
        assert EMAIL not in text and PHONE not in text

    def test_metrics_count_requests_by_action_and_status(self, proxy: str, recorded: OpenAIServer) -> None:
        """/metrics is Prometheus text with request counters, latency histograms and tokens."""
        post(proxy, good(f"Email {EMAIL}."))
        post(proxy, good(), key="sk-wrong")
        metrics = httpx.get(proxy.removesuffix("/v1") + "/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        lines = metrics.text.splitlines()
        assert any(line.startswith('privroute_requests_total{tenant="acme",action="redact",status="200"')
                   for line in lines)
        assert any(line.startswith('privroute_requests_total{tenant="-",action="none",status="401"')
                   for line in lines)
        assert any(line.startswith('privroute_request_duration_seconds_bucket{tenant="acme",action="redact",le="+Inf"}')
                   for line in lines)
        assert any(line.startswith('privroute_tokens_total{tenant="acme",action="redact",kind="prompt"}')
                   for line in lines)
        assert EMAIL not in metrics.text


class TestBackpressure:
    def test_full_local_queue_is_429_with_retry_after(self, tmp_path: Any) -> None:
        """1 running + 1 waiting fill the queue: the third local request gets 429; then service resumes."""
        local = BlockingLocal()
        config = ServeConfig(no_auth=True, warm=False, tenants=(TenantConfig(name="solo", policy="general"),),
                             limits=ServeLimits(local_concurrency=1, local_queue_size=1, retry_after_s=7))
        body = good("password: correct-horse-battery. Rotate it?")
        with BackgroundServer(create_app(config, local=local)) as server:
            url = server.url + "/v1"
            results: list[httpx.Response] = []
            workers = [threading.Thread(target=lambda: results.append(post(url, body, key=None))) for _ in range(2)]
            workers[0].start()
            assert local.entered.acquire(timeout=30)  # the first call holds the model
            workers[1].start()
            _wait_for_gauge(server.url, "privroute_local_queue_waiting", 1)
            refused = post(url, body, key=None)
            error = assert_openai_error(refused, 429)
            assert refused.headers["retry-after"] == "7" and error["code"] == "local_queue_full"
            local.release.set()
            for worker in workers:
                worker.join(timeout=30)
            assert [r.status_code for r in results] == [200, 200]
            assert all(r.headers["x-privroute-action"] == "local" for r in results)
            assert post(url, body, key=None).status_code == 200

    def test_a_client_leaving_mid_stream_frees_the_local_slot(self) -> None:
        """Closing a local stream early closes the model's generator and gives the slot back (499)."""
        local = EndlessLocal()
        config = ServeConfig(no_auth=True, warm=False, tenants=(TenantConfig(name="solo", policy="general"),),
                             limits=ServeLimits(local_concurrency=1, local_queue_size=0))
        body = {**good("password: correct-horse-battery. Count forever."), "stream": True}
        with BackgroundServer(create_app(config, local=local)) as server:
            with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert any("tick" in line for line in lines)
                _wait_for_gauge(server.url, "privroute_local_queue_running", 1)
            assert local.closed.wait(timeout=30)
            _wait_for_gauge(server.url, "privroute_local_queue_running", 0)
            metrics = httpx.get(server.url + "/metrics").text
            assert 'action="local",status="499",stream="true",endpoint="chat"} 1' in metrics
            with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as again:
                assert again.status_code == 200  # not 429: the only slot is free again


def _wait_for_gauge(base: str, name: str, value: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if f"\n{name} {value}\n" in httpx.get(base + "/metrics").text:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never reached {value}")
