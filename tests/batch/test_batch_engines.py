"""Batch engines: the process pool, a local Ray, and a run killed with SIGKILL then resumed.

These start real worker processes (each loads spaCy once), so the corpora are small.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .batch_fixtures import (
    END,
    PII,
    SENTENCE,
    all_output_bytes,
    make_docx,
    run_batch,
    write,
)


@pytest.fixture
def small_corpus(tmp_path: Path, warm_router: Any) -> Path:
    root = tmp_path / "in"
    for index in range(4):
        write(root / f"d{index}" / f"doc{index}.txt", f"Document {index}. {SENTENCE}\n")
    write(root / "t.csv", f"who,mail\nx,{PII[0]}\n")
    write(root / "m.docx", make_docx())
    return root


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "report.json" and ".privroute" not in p.parts and p.suffix != ".docx"}


class TestEngines:
    @pytest.mark.parametrize("start", ["fork", "spawn"])
    def test_process_pool_gives_the_same_outputs_as_in_process(self, start: str, small_corpus: Path,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Two workers (forked, or spawned fresh and loading their models), verify jobs too: same outputs."""
        import multiprocessing

        import privroute.batch.engines

        monkeypatch.setattr(privroute.batch.engines, "_context", lambda: multiprocessing.get_context(start))
        inline = run_batch([small_corpus], tmp_path / "inline")
        pooled = run_batch([small_corpus], tmp_path / "pool", workers=2, verify=True)
        assert (pooled.engine, pooled.workers, pooled.done, pooled.failed) == ("pool", 2, 6, ())
        assert outputs(tmp_path / "pool") == outputs(tmp_path / "inline")
        assert inline.entities == pooled.entities

    def test_local_ray_runs_the_same_job_function(self, small_corpus: Path, tmp_path: Path) -> None:
        """--engine ray with no address starts a small local Ray (1 CPU) and shuts it down."""
        import ray  # in the dev extra, so CI has it

        run_batch([small_corpus], tmp_path / "inline")
        report = run_batch([small_corpus], tmp_path / "ray", engine="ray", workers=1)
        assert (report.engine, report.done, report.failed) == ("ray", 6, ())
        assert outputs(tmp_path / "ray") == outputs(tmp_path / "inline")
        assert not ray.is_initialized()
        for value in PII:
            assert value.encode() not in all_output_bytes(tmp_path / "ray")

    def test_unreachable_ray_address_fails_fast_with_one_line(self, small_corpus: Path, tmp_path: Path) -> None:
        """Nothing listening at --address: a one-line usage error naming it, in seconds, nothing written."""
        import socket

        with socket.socket() as probe:  # a port that was free a moment ago
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "privroute.cli", "redact", "--policy", "general", "--engine", "ray",
             "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"), str(small_corpus)],
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0 and f"cannot reach Ray at 127.0.0.1:{port}" in done.stderr
        assert "Traceback" not in done.stderr
        assert time.monotonic() - started < 60
        assert not (tmp_path / "out").exists()

    def test_malformed_ray_address_is_a_usage_error(self) -> None:
        """An address that is not HOST:PORT is refused before Ray is touched."""
        from privroute.batch.engines import _check_reachable
        from privroute.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="not HOST:PORT"):
            _check_reachable("headnode")


    @pytest.mark.parametrize("workers", [1, 2])
    def test_a_detector_that_cannot_load_fails_every_document_with_the_reason(
            self, workers: int, small_corpus: Path, tmp_path: Path) -> None:
        """A missing spaCy model: each document fails saying so, nothing is written, no crash."""
        policy = {"name": "broken", "extends": "general", "detect": {"spacy_model": "no_such_model_pkg"}}
        report = run_batch([small_corpus], tmp_path / "out", policy=policy, workers=workers)
        assert report.done == 0 and len(report.failed) == 6
        assert all("no_such_model_pkg" in reason and "not installed" in reason for _, reason in report.failed)
        assert not list((tmp_path / "out").glob("d*/*.txt"))


class TestGroupedJobs:
    """Pool tasks carry several documents whose strings are detected together (run_jobs)."""

    @staticmethod
    def _jobs() -> list[Any]:
        from privroute.batch.engines import Job

        texts = [f"Document {i}. {SENTENCE}\n" * (1 + i % 3) for i in range(5)]
        jobs = [Job(i, text.encode(), ".txt") for i, text in enumerate(texts)]
        jobs.append(Job(5, b"who,mail\nx,%s\ny,%s\n" % (PII[0].encode(), PII[1].encode()), ".csv"))
        return jobs

    def test_a_group_gives_what_each_document_gets_alone(self, warm_router: Any) -> None:
        """run_jobs over six documents (text and CSV) == run_job on each; long texts are split the same way."""
        from privroute.batch.engines import run_job, run_jobs
        from privroute.policy import load_policy

        policy = load_policy("general")
        jobs = self._jobs()
        together = run_jobs(policy, jobs)
        assert [r.key for r in together] == list(range(6))
        assert together == [run_job(policy, job) for job in jobs]
        assert all(r.reason is None and any(r.entities) for r in together)

    def test_one_bad_document_fails_alone(self, warm_router: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """An unknown type, an unreadable file and a detector failure each fail only their own document."""
        import privroute.batch.engines as engine
        from privroute.batch.engines import Job, run_jobs
        from privroute.policy import load_policy

        real = engine.detect_documents

        def flaky(detector: Any, only: Any, documents: Any) -> Any:
            if any("Document 3." in text for strings in documents for text in strings):
                raise RuntimeError(f"could not handle {documents!r}")  # quotes content: must not leak
            return real(detector, only, documents)

        monkeypatch.setattr(engine, "detect_documents", flaky)
        jobs = [*self._jobs(), Job(6, b"x", ".exe"), Job(7, b"\xff\xfe\x00{not json", ".json")]
        results = {r.key: r for r in run_jobs(load_policy("general"), jobs)}
        assert sorted(results) == list(range(8))
        assert results[3].reason == "detection failed (RuntimeError)"
        assert results[6].reason is not None and "unsupported type" in results[6].reason
        assert results[7].reason is not None and "Document" not in results[7].reason
        assert all(results[k].reason is None and any(results[k].entities) for k in (0, 1, 2, 4, 5))

    def test_pool_tasks_return_every_job_once(self, warm_router: Any) -> None:
        """Two workers, tasks of two documents, an odd count left over: each key comes back once."""
        from privroute.batch.engines import PoolEngine, run_job
        from privroute.policy import load_policy

        policy = load_policy("general")
        engine = PoolEngine(policy, 2, jobs_per_task=2)
        try:
            jobs = self._jobs()[:5]
            for job in jobs:
                engine.submit(job)
            results = []
            while len(results) < len(jobs):
                results.extend(engine.completed())
            assert engine.completed() == []
        finally:
            engine.close()
        assert sorted(results, key=lambda r: r.key) == [run_job(policy, job) for job in jobs]


class TestKilledRun:
    def test_sigkill_leaves_only_whole_outputs_and_a_rerun_resumes(self, tmp_path: Path, warm_router: Any) -> None:
        """kill -9 mid-batch: every output present is complete; the rerun skips them and finishes the rest."""
        root = tmp_path / "in"
        total = 40
        for index in range(total):
            write(root / f"doc{index:03d}.txt", f"{SENTENCE}\n" * (1 + index % 5) + END + "\n")
        out = tmp_path / "out"
        manifest = out / ".privroute" / "manifest.jsonl"
        command = [sys.executable, "-m", "privroute.cli", "redact", "--out", str(out), "--workers", "1",
                   "--quiet", str(root)]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and child.poll() is None:
            if manifest.exists() and len(manifest.read_text().splitlines()) >= 5:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the batch finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        finished_before = len(manifest.read_text().splitlines())
        written = [p for p in out.glob("doc*.txt")]
        assert 5 <= len(written) < total
        for path in written:
            assert path.read_text("utf-8").endswith(END + "\n"), f"partial output {path.name}"

        report = run_batch([root], out)
        assert report.failed == ()
        assert report.skipped >= finished_before and report.done + report.skipped == total
        assert sorted(p.name for p in out.glob("doc*.txt")) == sorted(p.name for p in root.iterdir())
        assert not list(out.rglob("*.privroute-tmp"))
        for path in out.glob("doc*.txt"):
            assert path.read_text("utf-8").endswith(END + "\n")
        assert json.loads((out / "report.json").read_text())["done"] == report.done
