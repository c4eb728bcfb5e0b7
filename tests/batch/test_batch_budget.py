"""Batch on hostile input: a document past its detection budget fails alone, the run goes on;
a pool worker that never comes back is killed and the others' documents are resent.

Real batch runs (in process and a forked pool) with the real detector; the watchdog test
uses a stand-in task function on a real pool of processes.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from privroute.batch.engines import Analysed, Job, PoolEngine
from tests.hostile import hostile

from .batch_fixtures import SENTENCE, run_batch, write


class TestBatch:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_a_hostile_document_fails_alone_and_the_run_goes_on(self, workers: int, tmp_path: Path,
                                                                 warm_router: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        import privroute.batch.engines

        monkeypatch.setattr(privroute.batch.engines, "_context", lambda: multiprocessing.get_context("fork"))
        root = tmp_path / "in"
        for index in range(3):
            write(root / f"doc{index}.txt", f"Document {index}. {SENTENCE}\n")
        # Hostile shapes, then more prose than any machine detects in the 1 s budget.
        write(root / "hostile.txt", f"{SENTENCE}\n" + hostile(96 * 1024) + f"\n{SENTENCE}" * 4000)
        report = run_batch([root], tmp_path / "out", workers=workers, detect_budget_s=1.0)
        assert report.done == 3
        assert [path for path, _ in report.failed] == [str(root / "hostile.txt")]
        assert "timed out" in report.failed[0][1]
        saved = json.loads((tmp_path / "out" / "report.json").read_text())
        assert saved["failed"][0]["reason"] == report.failed[0][1]
        for index in range(3):
            assert (tmp_path / "out" / f"doc{index}.txt").is_file()
        assert not (tmp_path / "out" / "hostile.txt").exists()

    def test_the_cli_takes_a_budget(self, tmp_path: Path, warm_router: Any) -> None:
        from click.testing import CliRunner

        from privroute.cli import main

        write(tmp_path / "in" / "a.txt", SENTENCE)
        result = CliRunner().invoke(main, ["redact", "--out", str(tmp_path / "out"), "--workers", "1",
                                           "--detect-budget", "30", str(tmp_path / "in")])
        assert result.exit_code == 0, result.output
        bad = CliRunner().invoke(main, ["redact", "--out", str(tmp_path / "o2"), "--detect-budget", "0",
                                        str(tmp_path / "in")])
        assert bad.exit_code == 2


def _answer_or_hang(jobs: list[Job]) -> list[Analysed]:
    """Pool task stand-in: never returns for a document that says so (a worker stuck in C code)."""
    if any(job.data == b"hang" for job in jobs):
        time.sleep(3600)
    return [Analysed(job.key, reason="answered") for job in jobs]


def _no_models(policy: Any) -> None:
    return None


class TestPoolWatchdog:
    def test_a_worker_that_never_returns_is_killed_and_the_others_are_resent(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Narrow: the task function is a stand-in; the pool, the processes and the kill are real."""
        import privroute.batch.engines as engine_module
        from privroute.policy import load_policy

        monkeypatch.setattr(engine_module, "_context", lambda: multiprocessing.get_context("fork"))
        monkeypatch.setattr(engine_module, "_pool_jobs", _answer_or_hang)
        monkeypatch.setattr(engine_module, "_init_worker", _no_models)
        monkeypatch.setattr(engine_module, "WATCHDOG_GRACE_S", 1.0)
        monkeypatch.setattr(engine_module, "WATCHDOG_POLL_S", 0.1)
        policy = load_policy({"name": "w", "limits": {"detect_budget_s": 0.5}})
        engine = PoolEngine(policy, workers=2, jobs_per_task=1)
        try:
            engine.submit(Job(0, b"hang", ".txt"))
            for key in range(1, 5):
                engine.submit(Job(key, b"fine", ".txt"))
            results: dict[int, str | None] = {}
            deadline = time.monotonic() + 120
            while len(results) < 5 and time.monotonic() < deadline:
                for result in engine.completed():
                    results[result.key] = result.reason
        finally:
            engine.close()
        assert results[0] is not None and "timed out" in results[0]
        assert {key: results[key] for key in range(1, 5)} == {key: "answered" for key in range(1, 5)}
