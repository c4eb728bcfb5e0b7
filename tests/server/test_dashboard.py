"""The dashboard's data and pages without a browser: the same figures on SQLite and PostgreSQL,
read only, filters, CSV, access rules, no HMACs or values. (The browser test is
test_dashboard_browser.py.)"""

from __future__ import annotations

import csv
import io
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from privroute.audit import AuditEvent, open_reader, stats
from privroute.errors import AuditError
from privroute.server.config import ServeConfig, hash_api_key
from privroute.server.dashboard import DashboardAccess, dashboard_app
from privroute.stores import open_store
from privroute.stores.insights import Filters, Insights

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def _fill(location: str | Path) -> None:
    clock = {"t": T0}
    store = open_store(location, now=lambda: clock["t"])  # signed with $PRIVROUTE_AUDIT_KEY
    events = [
        AuditEvent("answered", "general", "a" * 64, tenant="acme", action="redact", sensitivity="confidential",
                   reasons=("personal-data",), entities={"PERSON": 2, "EMAIL_ADDRESS": 1}, target="frontier",
                   backend="openai", attempts=2, prompt_tokens=30, completion_tokens=10, cost=0.002, latency_s=0.4,
                   prompt_hmac="f" * 64),
        AuditEvent("answered", "general", "a" * 64, tenant="acme", action="local", sensitivity="regulated",
                   reasons=("secret-or-credential",), target="local", backend="local", attempts=1,
                   prompt_tokens=5, completion_tokens=5, latency_s=1.0),
        AuditEvent("blocked", "strict", "b" * 64, tenant="beta", action="block", sensitivity="confidential",
                   reasons=("personal-data", "government-id"), entities={"PERSON": 1}, error="Blocked"),
        AuditEvent("answered", "general", "a" * 64, tenant="acme", action="redact", sensitivity="confidential",
                   reasons=("personal-data",), entities={"PERSON": 1}, target="local", backend="local",
                   attempts=1, latency_s=2.0, fallback_reason="frontier failed (FrontierUnavailable)",
                   frontier_status=503),
        AuditEvent("error", "strict", "b" * 64, tenant="beta", action="frontier", sensitivity="public",
                   target="frontier", attempts=3, error="FrontierUnavailable", frontier_status=429, latency_s=3.0),
        AuditEvent("answered", "strict", "b" * 64, tenant="beta", action="frontier", sensitivity="public",
                   target="frontier", backend="openai", attempts=1, prompt_tokens=7, completion_tokens=3,
                   cost=0.001, latency_s=0.2),
    ]
    for i, event in enumerate(events):
        clock["t"] = T0 + timedelta(hours=i * 10)  # spans three days: 09:00 on the 20th to 11:00 on the 22nd
        store.append(event)
    store.close()


def test_insights_match_stats_on_both_stores(store_location: str | Path) -> None:
    _fill(store_location)
    reader = open_reader(store_location)
    try:
        insights = Insights(reader)
        overview = insights.overview(Filters())
        expected = stats(store_location)
        assert overview["total"]["calls"] == expected["records"] == 6
        assert {t["name"]: t["calls"] for t in overview["tenants"]} == {
            k: v["calls"] for k, v in expected["by_tenant"].items()}
        assert {t["name"]: t["cost"] for t in overview["tenants"]} == pytest.approx(
            {k: v["cost"] for k, v in expected["by_tenant"].items()})
        assert {p["name"]: p["calls"] for p in overview["policies"]} == {"general": 3, "strict": 3}
        assert overview["total"]["blocked"] == 1 and overview["total"]["redacted"] == 2
        assert sum(p["calls"] for p in overview["timeline"]) == 6
        assert overview["bucket"] == "hour"  # 50 hours: hourly buckets
        rules = insights.rules(Filters())
        assert rules["rules"][0] == {"rule": "personal-data", "records": 3, "blocked": 1, "redacted": 2, "local": 0}
        person = next(e for e in rules["entities"] if e["entity_type"] == "PERSON")
        assert person == {"entity_type": "PERSON", "records": 3, "found": 4, "removed": 3, "kept_back": 1}
        frontier = insights.frontier(Filters())
        health = frontier["health"]
        assert (health["calls"], health["attempts"], health["retries"]) == (4, 7, 3)
        assert (health["http_429"], health["http_5xx"], health["fallbacks"]) == (1, 1, 1)
        assert frontier["errors"] == [{"error": "FrontierUnavailable", "records": 1}]
        assert frontier["latency_s"] == {"p50": 0.2, "p95": 0.4}  # nearest rank over the 2 frontier answers
        # Filters: tenant, action, rule, time.
        assert insights.overview(Filters(tenant="beta"))["total"]["calls"] == 3
        assert [r["seq"] for r in insights.records(Filters(action="block"))["records"]] == [3]
        assert [r["seq"] for r in insights.records(Filters(rule="government-id"))["records"]] == [3]
        assert [r["seq"] for r in insights.records(Filters(rule="government"))["records"]] == []  # whole ids only
        window = Filters(since=(T0 + timedelta(hours=15)).isoformat(), until=(T0 + timedelta(hours=35)).isoformat())
        assert [r["seq"] for r in insights.records(window)["records"]] == [4, 3]
        page = insights.records(Filters(), limit=4)
        assert [r["seq"] for r in page["records"]] == [6, 5, 4, 3] and page["next_before"] == 3
        assert [r["seq"] for r in insights.records(Filters(), before=3, limit=4)["records"]] == [2, 1]
        shown = insights.records(Filters())["records"][-1]
        assert "prompt_hmac" not in shown and "sent_hmac" not in shown and len(shown["hash"]) == 64
        with pytest.raises(AuditError):  # read only: the dashboard's store cannot append
            reader.append(AuditEvent("answered", "x", "c" * 64))
    finally:
        reader.close()


@pytest.mark.fast
def test_time_filters_from_a_query() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    flt = Filters.from_query({"range": "24h", "tenant": " acme "}, now=now)
    assert flt.tenant == "acme" and flt.since == "2026-11-30T12:00:00.000000+00:00"
    assert Filters.from_query({"since": "2026-11-30T08:15"}).since == "2026-11-30T08:15:00.000000+00:00"
    with pytest.raises(Exception, match="ISO 8601"):
        Filters.from_query({"until": "yesterday"})


@pytest.fixture
def client(tmp_path: Path) -> Any:
    from starlette.testclient import TestClient

    db = tmp_path / "audit.db"
    _fill(db)
    access = DashboardAccess(admin_keys=(hash_api_key("admin-key-1"),), tenant_keys=(hash_api_key("tenant-key"),))
    with TestClient(dashboard_app(db, access)) as test_client:
        yield test_client


def test_pages_csv_and_access(client: Any) -> None:
    admin = ("auditor", "admin-key-1")
    assert client.get("/dashboard").status_code == 401
    assert client.get("/dashboard", auth=("acme", "tenant-key")).status_code == 403
    assert client.get("/dashboard", headers={"authorization": "Bearer admin-key-1"}).status_code == 200
    for view in ("", "/rules", "/frontier", "/chain", "/records"):
        page = client.get("/dashboard" + view, auth=admin)
        assert page.status_code == 200 and "<script src='/dashboard/static/dashboard.js'>" in page.text
        assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")  # nothing from elsewhere
        assert "f" * 64 not in page.text  # no HMAC is shown
    chain = client.get("/dashboard/api/chain.json", auth=admin).json()
    assert chain["ok"] and chain["verified_through"] == 6
    exported = client.get("/dashboard/csv/tenants.csv?tenant=beta", auth=admin)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["name"], r["calls"], r["blocked"]) for r in rows] == [("beta", "3", "1")]
    records = list(csv.DictReader(io.StringIO(client.get("/dashboard/csv/records.csv", auth=admin).text)))
    assert [r["seq"] for r in records] == ["6", "5", "4", "3", "2", "1"]
    assert client.get("/dashboard/records?since=tomorrow", auth=admin).status_code == 400
    assert client.get("/dashboard/csv/nope.csv", auth=admin).status_code == 404
    assert client.get("/dashboard/static/dashboard.css").status_code == 200


@pytest.mark.fast
def test_csv_cells_a_spreadsheet_would_run_are_text() -> None:
    from privroute.server.charts import csv_text

    text = csv_text(("name", "n"), [{"name": "=HYPERLINK(1)", "n": -3}])
    assert text.splitlines()[1] == "'=HYPERLINK(1),-3"


@pytest.mark.fast
def test_admin_keys_are_hashed_and_distinct_from_tenant_keys() -> None:
    tenant = {"name": "acme", "policy": "general", "api_keys": [hash_api_key("t-key")]}
    ServeConfig(tenants=(tenant,), admin_keys=(hash_api_key("a-key"),))
    with pytest.raises(ValueError, match="distinct from tenant keys"):
        ServeConfig(tenants=(tenant,), admin_keys=(hash_api_key("t-key"),))
    with pytest.raises(ValueError, match="sha256"):
        ServeConfig(tenants=(tenant,), admin_keys=("a-key",))
    no_admin = DashboardAccess(tenant_keys=(hash_api_key("t-key"),))
    assert no_admin.check(_Request({})).status_code == 403  # auth on, no admin key: closed
    assert DashboardAccess(no_auth=True).check(_Request({})) is None


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def test_a_dashboard_read_does_not_hold_up_appends(tmp_path: Path) -> None:
    """A reader in the middle of a long read transaction; appends still go through meanwhile."""
    db = tmp_path / "audit.db"
    _fill(db)
    reader = open_reader(db)
    writer = open_store(db)
    done = threading.Event()

    def append_while_reading() -> None:
        for _ in range(20):
            writer.append(AuditEvent("answered", "general", "a" * 64, tenant="acme", action="local"))
        done.set()

    try:
        with reader._snapshot() as sql:
            before = sql.one("SELECT COUNT(*) AS n FROM records")
            thread = threading.Thread(target=append_while_reading)
            thread.start()
            assert done.wait(60), "an append waited for the dashboard's read"
            # The reader still sees its snapshot, the writer has moved on.
            assert sql.one("SELECT COUNT(*) AS n FROM records") == before
            thread.join()
        assert Insights(reader).overview(Filters())["total"]["calls"] == 26
    finally:
        reader.close()
        writer.close()


def test_serve_mounts_the_dashboard_open_on_loopback_without_auth(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --policy P --no-auth``: /dashboard answers without a key, over the policy's store."""
    from starlette.testclient import TestClient

    from privroute.detect.fake import FakeDetector
    from privroute.server import create_app
    from privroute.server.config import single_tenant_config
    from privroute.testing import FakeBackend

    db = tmp_path / "served.db"
    _fill(db)
    monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(db))
    config = single_tenant_config("general").model_copy(update={"warm": False})
    app = create_app(config, local=FakeBackend("local"), detector=FakeDetector({}))
    with TestClient(app) as client:
        page = client.get("/dashboard/records")
        assert page.status_code == 200 and page.text.count("<tr>") == 6 + 1  # header + 6 records
        assert client.get("/dashboard/api/chain.json").json()["verified_through"] == 6


@pytest.mark.fast
def test_dashboard_command_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from privroute.cli.main import main

    runner = CliRunner()
    db = tmp_path / "a.db"
    db.write_bytes(b"")
    cases = [
        ([], "give --audit-db PATH or --database-url URL"),
        (["--audit-db", str(db), "--database-url", "postgresql://x@h/d"], "one of them"),
        (["--audit-db", str(tmp_path / "missing.db")], "no audit database at"),
        (["--database-url", "mysql://h/d"], "takes postgresql://"),
        (["--audit-db", str(db), "--host", "0.0.0.0"], "needs admin keys"),
    ]
    for args, message in cases:
        result = runner.invoke(main, ["dashboard", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    monkeypatch.setenv("PRIVROUTE_DASHBOARD_ADMIN_KEYS", "plaintext-key")
    result = runner.invoke(main, ["dashboard", "--audit-db", str(db), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "sha256" in result.output and "plaintext-key" not in result.output
