"""The store suite, run on SQLite and on a real PostgreSQL server: chain, signed head, checkpoints,
attacks on the tail, a replaced database, budget holds, crashed writers, the read API, the CLI."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from privroute.audit import export, stats, verify
from privroute.cli import main
from privroute.errors import BudgetExceeded
from privroute.stores import open_store
from privroute.stores.chain import CHECKPOINT_EVERY, Checkpoint
from tests.audit_events import KEY
from tests.audit_events import make_event as _event
from tests.paths import REPO
from tests.pg_fixtures import raw_sql

pytestmark = pytest.mark.fast

def _fill(location: "str | Path", count: int, key: bytes | None = KEY, **fields: Any) -> "str | Path":
    store = open_store(location, key=key)
    for n in range(count):
        store.append(_event(n, **fields))
    store.close()
    return location


def _head(location: "str | Path") -> dict[str, Any]:
    return raw_sql(location, "SELECT seq, hash, sig FROM head WHERE id = 1")[0]


class TestChain:
    def test_intact_chain_verifies_with_a_checkpoint(self, store_location: "str | Path") -> None:
        """Records, head and checkpoint token all check out with the key."""
        report = verify(_fill(store_location, 5), key=KEY)
        assert report.ok and report.records == 5 and report.signatures == "checked"
        token = Checkpoint.parse(report.checkpoint or "")
        assert token.seq == 5 and token.signature_ok(KEY) and not token.signature_ok(b"other")

    def test_edited_and_deleted_records_are_named(self, store_location: "str | Path") -> None:
        _fill(store_location, 6)
        raw_sql(store_location, "UPDATE records SET cost = 0 WHERE seq = 3")
        report = verify(store_location, key=KEY)
        assert not report.ok and report.first_bad == 3 and "edited" in (report.problem or "")
        raw_sql(store_location, "DELETE FROM records WHERE seq = 2")
        assert verify(store_location, key=KEY).first_bad == 2

    def test_cut_tail_with_rewritten_head_is_detected(self, store_location: "str | Path",
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """The new-user attack: delete the last records, point the head at the new last one."""
        _fill(store_location, 6)
        last = raw_sql(store_location, "SELECT hash FROM records WHERE seq = 4")[0]["hash"]
        raw_sql(store_location, "DELETE FROM records WHERE seq > 4", "UPDATE head SET seq = 4, hash = ?",
                params=(last,))
        report = verify(store_location, key=KEY)
        assert not report.ok and "head" in (report.problem or "") and "cut" in (report.problem or "")
        raw_sql(store_location, "UPDATE head SET sig = NULL")
        report = verify(store_location, key=KEY)
        assert not report.ok and "not signed" in (report.problem or "")
        # Without the key the chain is consistent: that is exactly what the signed head adds.
        monkeypatch.delenv("PRIVROUTE_AUDIT_KEY")
        assert verify(store_location, key=None).ok

    def test_cut_tail_with_the_head_left_alone_is_detected(self, store_location: "str | Path") -> None:
        _fill(store_location, 6)
        raw_sql(store_location, "DELETE FROM records WHERE seq >= 5")
        report = verify(store_location, key=KEY)
        assert not report.ok and report.first_bad == 5 and "5..6 are missing from the end" in (report.problem or "")

    def test_head_copied_from_another_database_fails(self, store_location: "str | Path", tmp_path: Path) -> None:
        """A validly signed head of another store (same key) does not sign this one: the store id is in it."""
        _fill(store_location, 3)
        other = _fill(tmp_path / "other.db", 3)
        head = _head(other)
        raw_sql(store_location, "DELETE FROM records", "UPDATE head SET seq = ?, hash = ?, sig = ?",
                params=(head["seq"], head["hash"], head["sig"]))
        raw_sql(store_location, "DELETE FROM records")
        assert not verify(store_location, key=KEY).ok

    def test_replaced_or_rolled_back_database_fails_against_a_checkpoint(self, store_location: "str | Path",
                                                                         tmp_path: Path) -> None:
        """Kept outside, the checkpoint shows a swapped database and a rollback, both of which verify alone."""
        _fill(store_location, 4)
        early_head = _head(store_location)
        _fill(store_location, 3)
        token = verify(store_location, key=KEY).checkpoint
        assert token is not None
        # Swap: another complete, validly signed database (same key) in its place.
        swapped = _fill(tmp_path / "swap.db", 9)
        assert verify(swapped, key=KEY).ok
        report = verify(swapped, key=KEY, since=token)
        assert not report.ok and "different database" in (report.problem or "")
        # Rollback: the store as it was after 4 records (a backup put back); consistent and signed.
        raw_sql(store_location, "DELETE FROM records WHERE seq > 4", "UPDATE head SET seq = ?, hash = ?, sig = ?",
                params=(early_head["seq"], early_head["hash"], early_head["sig"]))
        assert verify(store_location, key=KEY).ok
        report = verify(store_location, key=KEY, since=token)
        assert not report.ok and "rolled back" in (report.problem or "")

    def test_since_verifies_only_what_was_appended(self, store_location: "str | Path") -> None:
        token = verify(_fill(store_location, 4), key=KEY).checkpoint
        _fill(store_location, 3)
        report = verify(store_location, key=KEY, since=token)
        assert report.ok and report.records == 3 and report.since == 4
        raw_sql(store_location, "UPDATE records SET tenant = 'x' WHERE seq = 6")
        assert verify(store_location, key=KEY, since=token).first_bad == 6
        forged = Checkpoint.parse(token or "")
        forged = Checkpoint(forged.store_id, forged.seq, forged.hash, "0" * 64)
        assert "signature is invalid" in (verify(store_location, key=KEY, since=forged.token()).problem or "")

    def test_stored_checkpoints_are_signed(self, store_location: "str | Path",
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("privroute.stores.sql.CHECKPOINT_EVERY", 3)
        _fill(store_location, 7)
        assert [r["seq"] for r in raw_sql(store_location, "SELECT seq FROM checkpoints ORDER BY seq")] == [3, 6]
        report = verify(store_location, key=KEY, since=6)
        assert report.ok and report.records == 1
        raw_sql(store_location, "UPDATE checkpoints SET sig = ? WHERE seq = 3", params=("0" * 64,))
        assert not verify(store_location, key=KEY, since=3).ok
        assert CHECKPOINT_EVERY >= 100  # the shipped interval is not the test's

    def test_concurrent_threads_keep_one_chain(self, store_location: "str | Path") -> None:
        store = open_store(store_location, key=KEY)
        threads = [threading.Thread(target=lambda: [store.append(_event(n)) for n in range(15)]) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store.close()
        report = verify(store_location, key=KEY)
        assert report.ok and report.records == 90


def _append_forever(location: str, started: Any) -> None:
    store = open_store(location if "://" in location else Path(location), key=KEY)
    store.append(_event(0))
    started.set()
    n = 0
    while True:
        n += 1
        store.append(_event(n, tenant=f"pid{os.getpid()}"))


class TestCrashes:
    def test_writers_killed_mid_append_leave_a_chain_that_verifies(self, store_location: "str | Path") -> None:
        """Three processes append flat out; two are killed with SIGKILL; the chain verifies and grows on."""
        context = multiprocessing.get_context("spawn")
        events = [context.Event() for _ in range(3)]
        workers = [context.Process(target=_append_forever, args=(str(store_location), e)) for e in events]
        for worker in workers:
            worker.start()
        for event in events:
            assert event.wait(60)
        time.sleep(0.5)
        for worker in workers[:2]:
            os.kill(worker.pid or 0, signal.SIGKILL)
        time.sleep(0.2)
        os.kill(workers[2].pid or 0, signal.SIGKILL)
        for worker in workers:
            worker.join(30)
        before = verify(store_location, key=KEY)
        assert before.ok and before.records >= 3
        _fill(store_location, 2)
        after = verify(store_location, key=KEY)
        assert after.ok and after.records == before.records + 2


class TestBudgetLedger:
    def test_holds_count_until_settled_by_the_record(self, store_location: "str | Path") -> None:
        store = open_store(store_location, key=KEY)
        day = store.today()
        seen: list[tuple[int, float]] = []
        hold = store.reserve("acme", day, 30, 0.5, lambda t, c: seen.append((t, c)))
        store.reserve("acme", day, 20, 0.0, lambda t, c: seen.append((t, c)))
        assert seen == [(0, 0.0), (30, 0.5)]
        store.append(_event(0, prompt_tokens=7, completion_tokens=3, cost=0.25), settles=hold)
        status = store.budget_status()["acme"]
        assert (status["tokens"], status["held_tokens"]) == (10, 20) and status["cost"] == pytest.approx(0.25)
        assert store.spent("acme", day) == (10, pytest.approx(0.25))
        with pytest.raises(BudgetExceeded):
            store.reserve("acme", day, 5, 0.0, _refuse_over(25))
        store.close()

    def test_concurrent_reservations_never_overbook(self, store_location: "str | Path") -> None:
        """32 threads race for a 100-token day in 10-token holds: exactly 10 win."""
        store = open_store(store_location, key=KEY)
        day, won, lost = store.today(), [], []

        def attempt() -> None:
            try:
                won.append(store.reserve("race", day, 10, 0.0, _refuse_over(100, need=10)))
            except BudgetExceeded:
                lost.append(1)

        threads = [threading.Thread(target=attempt) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (len(won), len(lost)) == (10, 22)
        store.release(won[0])
        store.reserve("race", day, 10, 0.0, _refuse_over(100, need=10))
        store.close()

    def test_expired_holds_stop_counting(self, store_location: "str | Path", monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("privroute.stores.sql.HOLD_TTL_S", -1.0)
        store = open_store(store_location, key=KEY)
        store.reserve("t", store.today(), 100, 0.0, _refuse_over(100))
        store.reserve("t", store.today(), 100, 0.0, _refuse_over(100))  # the first expired already
        store.close()


def _refuse_over(limit: int, need: int = 5) -> Any:
    def decide(tokens: int, cost: float) -> None:
        if tokens + need > limit:
            raise BudgetExceeded("over", scope="tokens")
    return decide


class TestReadApi:
    def test_records_filters_and_stats_by_tenant(self, store_location: "str | Path") -> None:
        _fill(store_location, 3, tenant="acme")
        _fill(store_location, 2, tenant="beta", outcome="error", error="FrontierTimeout",
              loosened=(("routes.regulated", "ticket 12"),))
        store = open_store(store_location, read_only=True) if isinstance(store_location, Path) else \
            open_store(store_location)
        rows = store.records(tenant="beta")
        assert [r["seq"] for r in rows] == [4, 5] and rows[0]["entities"] == {"PERSON": 1}
        assert rows[0]["loosened"] == [{"key": "routes.regulated", "reason": "ticket 12"}]
        assert verify(store_location, key=KEY).ok
        assert [r["seq"] for r in store.records(limit=2, newest_first=True)] == [5, 4]
        assert [r["seq"] for r in store.records(after_seq=3)] == [4, 5]
        assert store.records(outcome="answered", tenant="beta") == []
        report = store.stats(tenant="acme")
        assert report["records"] == 3 and set(report["by_tenant"]) == {"acme"}
        assert stats(store_location)["by_tenant"]["beta"]["calls"] == 2
        store.close()


class TestCli:
    def test_verify_export_stats_the_same_on_both(self, store_location: "str | Path", tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PRIVROUTE_AUDIT_KEY", KEY.decode())
        db = str(_fill(store_location, 4))
        runner = CliRunner()
        ok = runner.invoke(main, ["audit", "verify", "--db", db])
        assert ok.exit_code == 0 and "4 records" in ok.output and "checkpoint: ckpt1:" in ok.output
        token = ok.output.split("checkpoint: ")[1].strip()
        (tmp_path / "ckpt").write_text(token)
        out = tmp_path / "chain.jsonl"
        exported = runner.invoke(main, ["audit", "export", "--db", db, "-o", str(out)])
        assert exported.exit_code == 0
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["seq"] for r in lines] == [1, 2, 3, 4] and all("hash" in r and "sig" in r for r in lines)
        _fill(store_location, 2)
        since = runner.invoke(main, ["audit", "verify", "--db", db, "--since", str(tmp_path / "ckpt"), "--json"])
        assert since.exit_code == 0 and json.loads(since.output)["records"] == 2
        raw_sql(store_location, "DELETE FROM records WHERE seq = 6")
        bad_out = tmp_path / "bad.jsonl"
        bad = runner.invoke(main, ["audit", "export", "--db", db, "-o", str(bad_out)])
        assert bad.exit_code == 1 and "record 6" in bad.output and not bad_out.exists()
        assert runner.invoke(main, ["audit", "stats", "--db", db, "--tenant", "acme", "--json"]).exit_code == 0

    def test_export_function_writes_only_verified_records(self, store_location: "str | Path") -> None:
        import io

        _fill(store_location, 3)
        buffer = io.StringIO()
        assert export(store_location, buffer, key=KEY).ok and len(buffer.getvalue().splitlines()) == 3


class TestMigration:
    def test_a_schema_1_file_is_migrated_and_its_head_signed(self, tmp_path: Path) -> None:
        """A database written before schema 2 (records and an unsigned head) gains the ledger and a signed head."""
        path = tmp_path / "old.db"
        _write_schema_1(path, 3)
        legacy = verify(path, key=KEY)
        assert not legacy.ok and "audit migrate" in (legacy.problem or "")
        result = CliRunner().invoke(main, ["audit", "migrate", "--db", str(path)], env={"PRIVROUTE_AUDIT_KEY":
                                                                                        KEY.decode()})
        assert result.exit_code == 0 and "schema 2" in result.output
        assert verify(path, key=KEY).ok
        store = open_store(path, key=KEY)
        assert store.spent("acme", store.today())[0] == sum(10 + n + 5 for n in range(3))
        store.close()


def _write_schema_1(path: Path, count: int) -> None:
    """What privroute wrote before schema 2: the same record columns, a head without a signature."""
    import sqlite3

    from privroute.stores.chain import COLUMNS, GENESIS, record_hash, sign_record
    from privroute.stores.sql import event_row

    conn = sqlite3.connect(str(path))
    conn.execute(f"CREATE TABLE records ({', '.join(f'{k} {v[0]}' for k, v in COLUMNS.items())})")
    conn.execute("CREATE TABLE head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)")
    prev = GENESIS
    from datetime import datetime, timezone

    for n in range(count):
        row = event_row(_event(n), datetime.now(timezone.utc))
        row.update(seq=n + 1, prev_hash=prev)
        row["hash"] = prev = record_hash(row)
        row["sig"] = sign_record(KEY, row["hash"])
        conn.execute(f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                     [row[k] for k in COLUMNS])
    conn.execute("INSERT INTO head (id, seq, hash) VALUES (1, ?, ?)", (count, prev))
    conn.commit()
    conn.close()


def test_store_modules_stay_small() -> None:
    for path in (REPO / "privroute" / "stores").glob("*.py"):
        assert len(path.read_text().splitlines()) < 600, path.name


def test_serve_refuses_workers_on_sqlite(tmp_path: Path) -> None:
    """--workers 2 on the SQLite store is a one-line usage error that names the fix."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PRIVROUTE_AUDIT_DB": str(tmp_path / "a.db")}
    env.pop("PRIVROUTE_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "privroute.cli", "serve", "--policy", "general", "--no-auth",
                           "--workers", "2"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "PRIVROUTE_DATABASE_URL=postgresql://" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_policy_check_reaches_a_postgres_audit_url(pg_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`policy check` tries the policy's audit.url: a reachable database passes, an unreachable one is named."""
    import socket

    import yaml

    from privroute.policy_check import check_policy

    monkeypatch.delenv("PRIVROUTE_AUDIT_DB")

    def checked(url: str) -> Any:
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"name": "p", "extends": "general", "audit": {"required": True, "url": url}}))
        return check_policy(str(path), offline=True)

    assert any("audit:" in line and "writable" in line for line in checked(pg_url).checked)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    report = checked(f"postgresql://postgres@127.0.0.1:{closed}/x?pool_timeout=1")
    assert any("audit database is not usable" in p.message for p in report.problems)
