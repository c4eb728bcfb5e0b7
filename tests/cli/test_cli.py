"""The privroute command: JSON output, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from privroute.testing import OpenAIServer


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "privroute.cli", *args], input=stdin, capture_output=True,
                          env=full_env, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("privroute: error:")
    return lines[0]


class TestJson:
    def test_route_json_redact(self, frontier: OpenAIServer) -> None:
        """route --json prints one object with answer, action, reasons, sent, backend."""
        proc = run("route", "--json", "Email Jane Roe at jane.roe@example.com about the invoice.",
                   env={"OPENAI_BASE_URL": frontier.url})
        assert proc.returncode == 0, proc.stderr.decode()
        data = json.loads(proc.stdout)
        assert {"answer", "action", "sensitivity", "reasons", "sent", "backend"} <= set(data)
        assert data["action"] == "redact" and "jane.roe@example.com" not in data["sent"]
        assert "jane.roe@example.com" in data["answer"]
        assert "jane.roe@example.com" not in frontier.bodies_text()

    def test_classify_json_from_stdin(self) -> None:
        """classify reads stdin and prints the decision without a model call."""
        proc = run("classify", "--policy", "healthcare", "--json",
                   stdin=b"Patient Jane Roe has diabetes and chest pain.")
        assert proc.returncode == 0, proc.stderr.decode()
        data = json.loads(proc.stdout)
        assert data["action"] == "local" and "hipaa-identifier-with-health-info" in data["reasons"]

    def test_redact_json(self) -> None:
        """redact --json gives the text, entity counts and placeholders (no values)."""
        proc = run("redact", "--json", "Write to jane.roe@example.com today")
        assert proc.returncode == 0, proc.stderr.decode()
        data = json.loads(proc.stdout)
        assert "jane.roe@example.com" not in json.dumps(data)
        assert data["entities"].get("EMAIL_ADDRESS") == 1

    def test_blocked_exit_code(self) -> None:
        """A blocked prompt exits 3 with one line naming the rule."""
        proc = run("route", "--policy", "finance", "The card's CVV is 123, please check it.")
        assert proc.returncode == 3
        assert "pci-sensitive-authentication-data" in one_line_error(proc)


class TestUserMistakes:
    def test_invalid_utf8_stdin(self) -> None:
        """Bytes that are not UTF-8 are a usage error, not a crash."""
        proc = run("redact", stdin=b"caf\xe9 \xff\xfe")
        assert proc.returncode == 2
        assert "UTF-8" in one_line_error(proc)

    def test_unknown_policy(self) -> None:
        """An unknown policy name exits 1 with the known names."""
        proc = run("classify", "--policy", "nope", "hello")
        assert proc.returncode == 1
        assert "healthcare" in one_line_error(proc)

    def test_policy_check_reports_location(self, tmp_path: Path) -> None:
        """policy check names the file, line and key of the mistake."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: bad\nroutes:\n  regulated: local\n  secret: block\n")
        proc = run("policy", "check", str(bad))
        assert proc.returncode == 1
        assert proc.stdout.decode().startswith(f"{bad}:4: routes.secret: unknown key")
        assert one_line_error(proc) == f"privroute: error: 1 problem in {bad}"

    def test_policy_check_ok(self, frontier: OpenAIServer) -> None:
        """A valid policy, with the frontier its routes need, checks ok."""
        proc = run("policy", "check", "healthcare", env={"OPENAI_BASE_URL": frontier.url})
        assert proc.returncode == 0 and proc.stdout.startswith(b"ok: healthcare"), proc.stdout

    def test_empty_prompt(self) -> None:
        """An empty prompt is one clear line."""
        proc = run("route", "   ")
        assert proc.returncode == 1
        assert "empty" in one_line_error(proc)

    def test_unreachable_frontier(self, tmp_path: Path) -> None:
        """A frontier that does not answer is a typed, one-line error."""
        proc = run("route", "Give me three tips for writing release notes.",
                   env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
        assert proc.returncode == 1
        one_line_error(proc)


class TestInfo:
    def test_models_list(self) -> None:
        """The embedded SmolLM2 is listed as available."""
        proc = run("models", "list", "--json")
        assert proc.returncode == 0
        rows = json.loads(proc.stdout)
        assert rows[0]["name"] == "smollm2-135m-instruct" and rows[0]["status"] == "available"

    def test_policy_explain(self) -> None:
        """explain lists every rule with whether it matched."""
        proc = run("policy", "explain", "healthcare", "--json", "Patient Jane Roe has diabetes.")
        assert proc.returncode == 0, proc.stderr.decode()
        report = json.loads(proc.stdout)
        matched = {r["id"] for r in report["rules"] if r["matched"]}
        assert "hipaa-identifier-with-health-info" in matched and report["action"] == "local"
        assert "Jane" not in proc.stdout.decode()

    @pytest.mark.parametrize("command", ["route", "classify", "redact", "policy", "models", "demo"])
    def test_help(self, command: str) -> None:
        """Every command has help."""
        assert run(command, "--help").returncode == 0
