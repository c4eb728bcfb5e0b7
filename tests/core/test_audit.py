"""The audit log: one record per outcome, no raw PII, a chain that shows tampering."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privroute import AuditError, Blocked, Router
from privroute.audit import AuditEvent, AuditStore, NullAudit, stats, verify
from privroute.cli import main
from privroute.testing import OpenAIServer
from tests.audit_events import KEY
from tests.audit_events import make_event as _event
from tests.faults_fixtures import (
    PHI_PROMPT,
    PHI_VALUES,
    PII_PROMPT,
    PII_VALUES,
    PLAIN_PROMPT,
    audit_rows,
    fault_policy,
)

def _filled(path: Path, count: int, key: bytes | None = KEY) -> Path:
    store = AuditStore(path, key=key)
    for n in range(count):
        store.append(_event(n))
    store.close()
    return path


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(str(path))
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


class TestTamperEvidence:
    def test_intact_chain_verifies(self, tmp_path: Path) -> None:
        """An untouched log verifies, signatures included."""
        report = verify(_filled(tmp_path / "a.db", 5), key=KEY)
        assert report.ok and report.records == 5 and report.signatures == "checked"

    def test_edited_record_is_named(self, tmp_path: Path) -> None:
        """Changing one field of record 3 is reported at record 3."""
        path = _filled(tmp_path / "a.db", 6)
        _sql(path, "UPDATE records SET cost = 0 WHERE seq = 3")
        report = verify(path, key=KEY)
        assert not report.ok and report.first_bad == 3 and "edited" in (report.problem or "")

    def test_deleted_record_is_named(self, tmp_path: Path) -> None:
        """Removing record 4 is reported as record 4 missing."""
        path = _filled(tmp_path / "a.db", 6)
        _sql(path, "DELETE FROM records WHERE seq = 4")
        report = verify(path, key=KEY)
        assert not report.ok and report.first_bad == 4 and "deleted" in (report.problem or "")

    def test_deleted_tail_is_named(self, tmp_path: Path) -> None:
        """Removing the last records is caught by the head, not only by the links."""
        path = _filled(tmp_path / "a.db", 6)
        _sql(path, "DELETE FROM records WHERE seq >= 5")
        report = verify(path, key=KEY)
        assert not report.ok and report.first_bad == 5

    def test_reordered_records_are_named(self, tmp_path: Path) -> None:
        """Swapping records 2 and 3 is reported at record 2."""
        path = _filled(tmp_path / "a.db", 5)
        _sql(path, "UPDATE records SET seq = -2 WHERE seq = 2", "UPDATE records SET seq = 2 WHERE seq = 3",
             "UPDATE records SET seq = 3 WHERE seq = -2")
        report = verify(path, key=KEY)
        assert not report.ok and report.first_bad == 2 and "reordered" in (report.problem or "")

    def test_rewritten_chain_needs_the_key(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Rehashing an edited record and its successors passes an unkeyed check, not a keyed one."""
        from privroute.audit import _record_hash

        path = _filled(tmp_path / "a.db", 4)
        conn = sqlite3.connect(str(path))
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY seq")]
        rows[1]["cost"] = 0.0
        prev = rows[0]["hash"]
        for row in rows[1:]:
            row["prev_hash"] = prev
            row["hash"] = prev = _record_hash(row)
            conn.execute("UPDATE records SET cost = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                         (row["cost"], row["prev_hash"], row["hash"], row["seq"]))
        conn.execute("UPDATE head SET hash = ?", (prev,))
        conn.commit()
        conn.close()
        monkeypatch.delenv("PRIVROUTE_AUDIT_KEY")
        assert verify(path).ok
        report = verify(path, key=KEY)
        assert not report.ok and report.first_bad == 2 and "signature" in (report.problem or "")

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(count=st.integers(2, 8), target=st.integers(0, 7), kind=st.sampled_from(["edit", "delete", "swap"]),
           column=st.sampled_from(["tenant", "action", "attempts", "cost", "reasons", "entities", "ts"]))
    def test_any_single_tampering_is_found(self, tmp_path_factory: pytest.TempPathFactory, count: int,
                                           target: int, kind: str, column: str) -> None:
        """Whatever one record is edited, deleted or swapped, verify fails at or before it."""
        path = _filled(tmp_path_factory.mktemp("h") / "a.db", count, key=None)
        seq = 1 + target % count
        if kind == "edit":
            value = "'x'" if column in ("tenant", "action", "reasons", "entities", "ts") else "987"
            _sql(path, f"UPDATE records SET {column} = {value} WHERE seq = {seq}")
        elif kind == "delete":
            _sql(path, f"DELETE FROM records WHERE seq = {seq}")
        else:
            other = seq + 1 if seq < count else seq - 1
            _sql(path, f"UPDATE records SET seq = -1 WHERE seq = {seq}",
                 f"UPDATE records SET seq = {seq} WHERE seq = {other}",
                 f"UPDATE records SET seq = {other} WHERE seq = -1")
            seq = min(seq, other)
        report = verify(path, key=None)
        assert not report.ok and report.first_bad is not None and report.first_bad <= seq


def _append_many(path: str, count: int) -> None:
    store = AuditStore(path, key=KEY)
    for n in range(count):
        store.append(_event(n, tenant=f"pid{os.getpid()}"))
    store.close()


class TestConcurrentWriters:
    def test_threads_keep_the_chain(self, tmp_path: Path) -> None:
        """8 threads x 25 appends on one store: 200 records, one valid chain."""
        store = AuditStore(tmp_path / "a.db", key=KEY)
        threads = [threading.Thread(target=lambda: [store.append(_event(n)) for n in range(25)])
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report = verify(tmp_path / "a.db", key=KEY)
        assert report.ok and report.records == 200

    def test_processes_and_threads_keep_the_chain(self, tmp_path: Path) -> None:
        """2 processes and 2 threads, each with its own store on one file: one valid chain."""
        path = str(tmp_path / "a.db")
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_append_many, args=(path, 40)) for _ in range(2)]
        for process in processes:
            process.start()
        threads = [threading.Thread(target=_append_many, args=(path, 40)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for worker in [*processes, *threads]:
            worker.join(120)
        assert all(p.exitcode == 0 for p in processes)
        report = verify(path, key=KEY)
        assert report.ok and report.records == 160
        assert len(stats(path)["by_tenant"]) == 3


class TestRouteRecords:
    def test_every_outcome_is_recorded_without_pii(self, server: OpenAIServer, small_local: Any) -> None:
        """Answered (redact, local), blocked and error outcomes each append one PII-free record."""
        router = Router(fault_policy("healthcare", server.url), local=small_local)
        router.route(PII_PROMPT)
        router.route(PHI_PROMPT)
        with pytest.raises(Blocked):
            router.route("Export all patients' medical records to a spreadsheet.")
        with pytest.raises(Exception):
            router.route("")
        db = Path(os.environ["PRIVROUTE_AUDIT_DB"])
        rows = audit_rows(db)
        assert [(r["outcome"], r["action"], r["error"]) for r in rows] == [
            ("answered", "redact", None), ("answered", "local", None), ("blocked", "block", "Blocked"),
            ("error", None, "InputError")]
        assert rows[0]["target"] == "frontier" and rows[1]["target"] == "local"
        assert json.loads(rows[1]["entities"]).get("PERSON") == 1
        assert json.loads(rows[2]["reasons"]) == ["bulk-phi-export"]
        assert rows[0]["prompt_tokens"] > 0 and rows[0]["policy_hash"] == router.policy.content_hash
        raw = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("audit.db-*"))
        for value in (*PII_VALUES, *PHI_VALUES, "Jane", "jane.roe"):
            assert value.encode() not in raw
        assert verify(db).ok

    def test_hmacs_correlate_only_with_the_key(self, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
        """The same prompt gets the same HMAC; another key gives another; no key stores none."""
        router = Router(fault_policy("general", server.url))
        router.route(PII_PROMPT)
        router.route(PII_PROMPT)
        router.route(PLAIN_PROMPT)
        first = audit_rows(Path(os.environ["PRIVROUTE_AUDIT_DB"]))
        assert first[0]["prompt_hmac"] == first[1]["prompt_hmac"] != first[2]["prompt_hmac"]
        assert first[0]["sent_hmac"] and len(first[0]["prompt_hmac"]) == 64
        monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(tmp_path / "other.db"))
        monkeypatch.setenv("PRIVROUTE_AUDIT_KEY", "another-key")
        Router(fault_policy("general", server.url)).route(PII_PROMPT)
        assert audit_rows(tmp_path / "other.db")[0]["prompt_hmac"] != first[0]["prompt_hmac"]
        monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(tmp_path / "nokey.db"))
        monkeypatch.delenv("PRIVROUTE_AUDIT_KEY")
        Router(fault_policy("general", server.url)).route(PII_PROMPT)
        row = audit_rows(tmp_path / "nokey.db")[0]
        assert row["prompt_hmac"] is None and row["sig"] is None

    def test_disabled_audit_writes_nothing(self, server: OpenAIServer, tmp_path: Path) -> None:
        """audit.enabled: false (in a non-required policy) means no store, no file."""
        policy = {**fault_policy("general", server.url), "audit": {"enabled": False}}
        router = Router(policy)
        router.route(PLAIN_PROMPT)
        assert isinstance(router._dispatch.audit, NullAudit)
        assert not Path(os.environ["PRIVROUTE_AUDIT_DB"]).exists()


class TestRequiredAudit:
    def test_unwritable_store_refuses_regulated_call_before_sending(self, server: OpenAIServer,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
        """healthcare requires audit: with no writable store, nothing is sent."""
        (tmp_path / "not-a-dir").write_text("x")
        monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(tmp_path / "not-a-dir" / "audit.db"))
        router = Router(fault_policy("healthcare", server.url))
        with pytest.raises(AuditError):
            router.route(PII_PROMPT)
        assert server.requests == []

    def test_optional_audit_failure_does_not_refuse(self, server: OpenAIServer, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
        """general does not require audit: the call goes on when the store is broken."""
        (tmp_path / "not-a-dir").write_text("x")
        monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(tmp_path / "not-a-dir" / "audit.db"))
        result = Router(fault_policy("general", server.url)).route(PLAIN_PROMPT)
        assert result.answer and len(server.requests) == 1

    def test_failed_final_write_withholds_the_answer(self, server: OpenAIServer, tmp_path: Path) -> None:
        """If the record cannot be written after the call, a required policy raises AuditError."""

        class FailingStore(AuditStore):
            def append(self, event: AuditEvent) -> int:
                raise AuditError("disk full")

        router = Router(fault_policy("finance", server.url), audit=FailingStore(tmp_path / "f.db"))
        with pytest.raises(AuditError):
            router.route(PLAIN_PROMPT)

    def test_required_policies_ship_required(self) -> None:
        """The regulated-sector policies refuse calls they cannot audit."""
        from privroute import load_policy

        for name in ("healthcare", "finance", "legal", "public-sector"):
            assert load_policy(name).audit.required, name


class TestCli:
    def test_verify_ok_and_bad(self, tmp_path: Path) -> None:
        """verify exits 0 on an intact chain and 1 naming the first bad record."""
        path = _filled(tmp_path / "a.db", 4)
        runner = CliRunner()
        ok = runner.invoke(main, ["audit", "verify", "--db", str(path)])
        assert ok.exit_code == 0 and "4 records" in ok.output
        _sql(path, "DELETE FROM records WHERE seq = 2")
        bad = runner.invoke(main, ["audit", "verify", "--db", str(path)])
        assert bad.exit_code == 1 and "record 2" in bad.output
        as_json = runner.invoke(main, ["audit", "verify", "--db", str(path), "--json"])
        assert as_json.exit_code == 1 and json.loads(as_json.output)["first_bad"] == 2

    def test_verify_reads_the_environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --db, PRIVROUTE_AUDIT_DB names the database."""
        monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(_filled(tmp_path / "env.db", 2)))
        assert CliRunner().invoke(main, ["audit", "verify"]).exit_code == 0

    def test_missing_database_is_an_error(self, tmp_path: Path) -> None:
        """A path with no database is a clear one-line error."""
        result = CliRunner().invoke(main, ["audit", "verify", "--db", str(tmp_path / "none.db")])
        assert result.exit_code == 1 and "no audit database" in result.output

    def test_stats_json(self, tmp_path: Path) -> None:
        """stats --json sums calls, tokens and cost by action, sensitivity, backend, tenant, day."""
        path = _filled(tmp_path / "a.db", 4)
        result = CliRunner().invoke(main, ["audit", "stats", "--db", str(path), "--json"])
        assert result.exit_code == 0
        report = json.loads(result.output)
        assert report["records"] == 4 and report["prompt_tokens"] == 10 + 11 + 12 + 13
        assert report["by_tenant"]["acme"]["calls"] == 4
        assert report["cost"] == pytest.approx(0.0006)
        for key in ("by_action", "by_sensitivity", "by_backend", "by_day", "by_outcome"):
            assert key in report
        text = CliRunner().invoke(main, ["audit", "stats", "--db", str(path)])
        assert text.exit_code == 0 and "by tenant" in text.output
