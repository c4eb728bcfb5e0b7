"""``privroute doctor``: the real command, the real spaCy, the real SmolLM2 in a worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from privroute.testing import OpenAIServer
from tests.paths import REPO

pytestmark = pytest.mark.slow



def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "privroute.cli", "doctor", *args], capture_output=True, text=True,
                          check=False, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})


def policy_file(tmp_path: Path, **blocks: Any) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps({"name": "doctor-test", "extends": "general", **blocks}))  # JSON is YAML
    return str(path)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestDoctor:
    def test_healthy_install_exits_0(self, tmp_path: Path, frontier: OpenAIServer) -> None:
        done = doctor("--json", "--policy", policy_file(tmp_path, frontier={"model": "m", "base_url": frontier.url}))
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        report = json.loads(done.stdout)
        assert report["ok"] is True
        assert statuses(report) == {"policy": "ok", "detector": "ok", "model": "ok", "gpu": "skip", "llama": "ok",
                                    "audit": "ok", "frontier": "ok"}
        assert frontier.requests == []  # GET /models only: no prompt was sent anywhere

    def test_missing_gguf_fails_naming_it(self, tmp_path: Path) -> None:
        missing = tmp_path / "models" / "absent-model.gguf"
        done = doctor("--json", "--policy", policy_file(tmp_path, local={"model": str(missing)}))
        assert done.returncode == 1
        report = json.loads(done.stdout)
        failed = [check for check in report["checks"] if check["status"] == "fail"]
        assert [check["name"] for check in failed] == ["model"]
        assert str(missing) in failed[0]["detail"]
        assert statuses(report)["llama"] == "skip"

    def test_text_output_one_line_per_check(self, tmp_path: Path) -> None:
        url = f"http://127.0.0.1:{closed_port()}/v1"
        done = doctor("--policy", policy_file(tmp_path, local={"model": str(tmp_path / "x.gguf")},
                                              frontier={"model": "m", "base_url": url}))
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 7
        failed = [line for line in lines if line.startswith("FAIL")]
        assert len(failed) == 2 and "model" in failed[0] and "frontier" in failed[1] and url in failed[1]

    def test_unknown_policy_is_one_failed_check(self) -> None:
        done = doctor("--policy", "no-such-policy")
        assert done.returncode == 1
        assert done.stdout.splitlines() == [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
        assert "no-such-policy" in done.stdout
