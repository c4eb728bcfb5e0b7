"""No raw PII in library logs at any level, with DEBUG on for privroute, openai and httpx."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from privroute import Blocked, DetectionError, PrivrouteError, Router
from privroute.backends import local_from_config
from privroute.logsafe import WithholdBodies
from privroute.policy import LocalConfig
from privroute.testing import OpenAIServer, Reply
from tests.faults_fixtures import (
    ECHO,
    PHI_PROMPT,
    PHI_VALUES,
    PII_PROMPT,
    PII_VALUES,
    fault_policy,
    use,
)

VALUES = (*PII_VALUES, *PHI_VALUES, "jane.roe", "Roe")
LOGGERS = ("", "privroute", "openai", "openai._base_client", "httpx", "httpx2", "httpcore", "httpcore2",
           "presidio-analyzer", "decision_process")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Every record from every logger, at DEBUG, formatted with any traceback."""
    handler = Capture()
    previous = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def _clean(text: str) -> None:
    leaked = [value for value in VALUES if value in text]
    assert not leaked, f"{len(leaked)} PII value(s) in the log"


def _errors(router: Router, prompt: str) -> list[str]:
    try:
        router.route(prompt)
    except PrivrouteError as exc:
        return [str(exc), repr(exc), str(exc.__cause__ or "")]
    return []


class TestDebugLogs:
    def test_frontier_paths_and_faults(self, server: OpenAIServer, captured: Capture) -> None:
        """Redacted calls, retries, malformed bodies, drops and cut streams log no value."""
        router = Router(fault_policy("general", server.url, max_attempts=2))
        use(server, Reply(status=429, headers={"Retry-After": "0.01"}), ECHO)
        assert "Jane Roe" in router.route(PII_PROMPT).answer
        messages: list[str] = []
        for fault in (Reply(status=500), Reply(raw_body=b"{broken"), Reply(drop=True)):
            use(server, fault)
            messages += _errors(router, PII_PROMPT)
        use(server, Reply(content="Noted: <PERSON_1> at <EMAIL_ADDRESS_1>", cut_stream_after=3))
        with pytest.raises(PrivrouteError) as cut:
            list(router.stream(PII_PROMPT))
        messages.append(str(cut.value))
        assert len(server.requests) >= 6
        assert any("HTTP" in line or "Request" in line for line in captured.lines), "DEBUG logging was not on"
        _clean(captured.text())
        _clean("\n".join(messages))

    def test_raw_prompt_to_a_local_openai_server(self, captured: Capture) -> None:
        """A regulated prompt goes raw to a trusted OpenAI-compatible local server; logs stay clean."""
        with OpenAIServer() as trusted:
            policy = {**fault_policy("healthcare", "http://127.0.0.1:9/v1"),
                      "local": {"base_url": trusted.url, "model": "local-model"}}
            router = Router(policy)
            result = router.route(PHI_PROMPT)
            assert result.backend == "local" and "Jane Roe" in trusted.bodies_text()
        _clean(captured.text())

    def test_fallback_block_and_detector_failure(self, server: OpenAIServer, captured: Capture,
                                                 small_local: Any) -> None:
        """Local fallback, a policy block and a failing detector log rule ids and types only."""
        use(server, Reply(status=503))
        router = Router(fault_policy("healthcare", server.url, fallback="local", max_attempts=2),
                        local=small_local)
        assert router.route(PII_PROMPT).backend == "local"
        with pytest.raises(Blocked) as blocked:
            router.route("Export all patients' medical records for Jane Roe to a spreadsheet.")

        class Broken:
            name = "broken"

            def detect(self, text: str) -> Any:
                raise ValueError(f"bad input: {text}")

        with pytest.raises(DetectionError) as failed:
            Router(fault_policy("general", server.url), detector=Broken()).route(PII_PROMPT)
        _clean(captured.text())
        _clean(f"{blocked.value} {blocked.value!r} {failed.value} {failed.value!r}")


class TestFilter:
    def test_request_bodies_are_withheld(self, captured: Capture) -> None:
        """The line openai 1.x writes at DEBUG ("Request options: {...}") loses its body."""
        log = logging.getLogger("openai._base_client")
        log.debug("Request options: %s", {"method": "post", "url": "/chat/completions",
                                          "json_data": {"messages": [{"role": "user", "content": PII_PROMPT}]}})
        log.debug("HTTP Response: %s %i", "POST", 200)
        text = captured.text()
        _clean(text)
        assert "withheld by privroute" in text and "HTTP Response: POST 200" in text

    @pytest.mark.parametrize("args", [
        ({"messages": [{"content": "Jane Roe"}]},),
        ("{\"messages\": [{\"content\": \"Jane Roe\"}]}",),
        (b"Jane Roe",),
        ([{"content": "Jane Roe"}],),
    ])
    def test_filter_catches_body_shapes(self, args: tuple[Any, ...]) -> None:
        """Mappings, JSON text, bytes and lists that carry a body are all withheld."""
        record = logging.LogRecord("openai", logging.DEBUG, __file__, 1, "options: %s", args, None)
        assert WithholdBodies().filter(record)
        assert "Jane" not in record.getMessage()

    def test_local_model_logs_nothing_raw(self, captured: Capture) -> None:
        """The in-process llama.cpp backend adds no prompt text to the logs."""
        backend = local_from_config(LocalConfig(max_output_tokens=8))
        from privroute.backends import Message

        backend.complete([Message("user", PHI_PROMPT)])
        _clean(captured.text())
