"""The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright,
against a real ``privroute serve`` process whose audit store was filled by real routed calls.

The proxy runs the real Presidio/spaCy detector and the real SmolLM2 for local answers; the
frontier is the recording OpenAIServer (one of its prompts answers 500, so the call falls back).
Two tenants: ``acme`` (redacts, falls back locally) and ``beta`` (blocks confidential prompts).

Screenshots of each view go to ``$PRIVROUTE_SCREENSHOTS`` when set, to ``docs/img`` in CI (``CI``
set: the run's artifacts, the committed ones refreshed), else to the test's temporary folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from privroute.server.config import hash_api_key
from tests.paths import REPO
from tests.server.server_fixtures import FAIL_500, write_policy

ADMIN_KEY = "sk-admin-dashboard-key-9"
TENANT_KEYS = {"acme": "sk-acme-dashboard-key-1", "beta": "sk-beta-dashboard-key-2"}
# (tenant, prompt). Every value below is personal data that must never reach the dashboard.
PII = ("Jane Doe", "jane.doe@example.com", "123-45-6789", "john.smith@example.org", "Maria Garcia",
       "555-201-3344", "Robert Miller", "hunter2secret")
CALLS = (
    ("acme", "Explain how photosynthesis works in one sentence."),
    ("acme", "Why is postgres://admin:hunter2secret@db.internal/prod so slow today?"),
    ("acme", "Please email Jane Doe at jane.doe@example.com about the overdue invoice."),
    ("acme", "Patient Robert Miller, SSN 123-45-6789, was diagnosed with type 2 diabetes."),
    ("acme", f"Write to john.smith@example.org about the contract {FAIL_500}."),
    ("beta", "Call Maria Garcia at 555-201-3344 tomorrow about her account."),
    ("beta", "Summarise the main causes of inflation in two sentences."),
    ("beta", "Please email Jane Doe at jane.doe@example.com about the meeting."),
)
VIEWS = ("overview", "rules", "frontier", "chain", "records")
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]


def _ensure_chromium() -> None:
    """Debian's chromium, installed here if missing (CI machines are fresh)."""
    if Path(CHROMIUM).exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, timeout=600, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, capture_output=True, timeout=900,
                   env=env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(upstream: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``privroute serve`` in its own process; the calls above routed through it; its audit store."""
    directory = tmp_path_factory.mktemp("dashboard")
    write_policy(directory, "acme", upstream.url, frontier={"model": "dash-frontier", "max_attempts": 1,
                                                            "fallback": "local"},
                 budget={"tenant": "acme", "daily_tokens": 100_000})
    write_policy(directory, "beta", upstream.url, routes={"confidential": "block"},
                 frontier={"model": "dash-frontier-b", "max_attempts": 1},
                 budget={"tenant": "beta", "daily_tokens": 50_000})
    config = {"tenants": [{"name": name, "policy": f"{name}.yaml", "api_keys": [hash_api_key(key)]}
                          for name, key in TENANT_KEYS.items()],
              "admin_keys": [hash_api_key(ADMIN_KEY)]}
    (directory / "serve.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    db = directory / "audit.db"
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PRIVROUTE_AUDIT_DB": str(db),
           "PRIVROUTE_AUDIT_KEY": "dashboard-audit-key"}
    env.pop("PRIVROUTE_DATABASE_URL", None)
    log = (directory / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "privroute.cli", "serve", "--config", str(directory / "serve.yaml"),
                                "--port", str(port), "--log-level", "warning"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, (directory / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.5)
        statuses = []
        for tenant, prompt in CALLS:
            response = httpx.post(base + "/v1/chat/completions", timeout=120,
                                  headers={"authorization": f"Bearer {TENANT_KEYS[tenant]}"},
                                  json={"model": "privroute", "messages": [{"role": "user", "content": prompt}],
                                        "max_tokens": 24})
            statuses.append((tenant, response.status_code, response.headers.get("x-privroute-action")))
        stats = subprocess.run([sys.executable, "-m", "privroute.cli", "audit", "stats", "--json", "--db", str(db)],
                               env=env, capture_output=True, text=True, timeout=120, check=True)
        yield {"base": base, "db": db, "statuses": statuses, "stats": json.loads(stats.stdout)}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=120_000)
        try:
            yield chromium
        finally:
            chromium.close()


def _shots() -> Path | None:
    """Where the screenshots go: $PRIVROUTE_SCREENSHOTS, else docs/img in CI (its artifacts), else tmp."""
    where = os.environ.get("PRIVROUTE_SCREENSHOTS")
    if where:
        return Path(where)
    return REPO / "docs" / "img" if os.environ.get("CI") else None


def _cells(page: Any, name: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"table[data-table='{name}'] tbody tr",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("$", "").replace("–", "0") or 0)


def test_routed_calls_cover_blocks_redactions_fallbacks_and_two_tenants(served: dict[str, Any]) -> None:
    actions = {(tenant, action) for tenant, _, action in served["statuses"]}
    assert {("acme", "redact"), ("acme", "local"), ("beta", "block")} <= actions, served["statuses"]
    assert served["stats"]["records"] == len(CALLS)
    assert set(served["stats"]["by_tenant"]) == {"acme", "beta"}


def test_each_view_renders_matches_audit_stats_and_shows_no_pii(served: dict[str, Any], browser: Any,
                                                                tmp_path: Path) -> None:
    stats, base = served["stats"], served["base"]
    context = browser.new_context(http_credentials={"username": "admin", "password": ADMIN_KEY},
                                  viewport={"width": 1100, "height": 800})
    fetched: list[str] = []
    page = context.new_page()
    page.on("response", lambda r: fetched.append(r.text()) if "/api/" in r.url and r.ok else None)
    shots = _shots() or tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    seen_text = []
    try:
        for view in VIEWS:
            url = base + "/dashboard" + ("" if view == "overview" else f"/{view}")
            response = page.goto(url)
            assert response is not None and response.status == 200, view
            assert page.get_attribute("body", "data-view") == view
            if view == "chain":
                page.wait_for_selector("[data-chain-ok]", timeout=60_000)
                assert page.get_attribute("[data-chain-ok]", "data-chain-ok") == "true"
                assert f"verified through record {stats['records']}" in page.inner_text("#chain").lower()
            page.screenshot(path=str(shots / f"dashboard-{view}.png"), full_page=False)
            seen_text.append(page.inner_text("body"))
            seen_text.append(page.content())
        # Numbers: the overview's per-tenant table and KPIs against `audit stats --json`.
        page.goto(base + "/dashboard")
        tenants = {row[0]: row for row in _cells(page, "tenants")}
        assert set(tenants) == set(stats["by_tenant"])
        for name, figures in stats["by_tenant"].items():
            assert _number(tenants[name][1]) == figures["calls"]
            assert _number(tenants[name][6]) == figures["prompt_tokens"]
            assert _number(tenants[name][7]) == figures["completion_tokens"]
            assert _number(tenants[name][8]) == pytest.approx(figures["cost"], abs=1e-6)
        assert _number(page.inner_text("[data-kpi='calls'] b")) == stats["records"]
        assert _number(page.inner_text("[data-kpi='blocked'] b")) == stats["by_action"].get("block", {}).get("calls", 0)
        assert _number(page.inner_text("[data-kpi='redacted'] b")) == stats["by_action"]["redact"]["calls"]
        timeline_total = sum(_number(r[2]) for r in _cells(page, "timeline"))
        assert timeline_total == stats["records"]
        # The frontier view shows the fallback the 500 caused.
        page.goto(base + "/dashboard/frontier")
        fallbacks = _cells(page, "fallbacks")
        assert any("FrontierUnavailable" in row[0] for row in fallbacks), fallbacks
        health = dict(zip(page.eval_on_selector_all("table[data-table='health'] th", "h => h.map(c => c.textContent)"),
                          _cells(page, "health")[0], strict=True))
        assert _number(health["http_5xx"]) == 1 and _number(health["fallbacks"]) == 1
        # The JSON a page fetched (and every view's JSON and CSV), the HTML and the rendered text:
        # no value from the prompts.
        assert fetched, "the chain view fetches its JSON"
        for view in VIEWS:
            fetched.append(page.request.get(base + f"/dashboard/api/{view}.json").text())
        fetched.append(page.request.get(base + "/dashboard/csv/records.csv").text())
        everything = "\n".join(seen_text + fetched)
        for value in PII:
            assert value not in everything, "a routed value reached the dashboard"
            assert value.split("@")[0] not in everything
    finally:
        context.close()


def test_filters_change_what_is_shown_and_csv_matches(served: dict[str, Any], browser: Any) -> None:
    base = served["base"]
    context = browser.new_context(http_credentials={"username": "admin", "password": ADMIN_KEY})
    page = context.new_page()
    try:
        page.goto(base + "/dashboard/records")
        everyone = _cells(page, "records")
        assert len(everyone) == len(CALLS)
        page.fill("input[name='tenant']", "beta")
        page.select_option("select[name='action']", "block")
        page.click("form.filters button[type='submit']")
        page.wait_for_url("**tenant=beta**")
        only = _cells(page, "records")
        assert only and len(only) < len(everyone)
        assert {row[2] for row in only} == {"beta"} and {row[5] for row in only} == {"block"}
        # The CSV link of the filtered table: the same rows, same ids and hashes.
        href = page.get_attribute("table[data-table='records'] >> xpath=../.. >> a.csv", "href")
        assert href is not None and "tenant=beta" in href
        exported = page.request.get(base + href)
        assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text())))
        assert [r["seq"] for r in rows] == [row[0] for row in only]
        assert [r["hash"] for r in rows] == [row[-1] for row in only]
        # The time range picker: a range before every record shows none.
        page.goto(base + "/dashboard/records?until=2000-01-01T00:00")
        assert _cells(page, "records")[0][0] == "no records"
        # A rule filter keeps only records whose reasons list it.
        page.goto(base + "/dashboard/rules")
        top_rule = _cells(page, "rules")[0]
        page.goto(base + f"/dashboard/records?rule={top_rule[0]}")
        assert len(_cells(page, "records")) == int(_number(top_rule[1]))
    finally:
        context.close()


def test_admin_key_required_and_tenant_key_refused(served: dict[str, Any], browser: Any) -> None:
    base = served["base"]
    anonymous = browser.new_context()
    try:
        # Chromium answers a Basic challenge it has no credentials for with a navigation error,
        # so the browser's own request client shows the status and the challenge.
        response = anonymous.request.get(base + "/dashboard")
        assert response.status == 401 and response.headers["www-authenticate"].startswith("Basic")
        with pytest.raises(Exception, match="AUTH"):
            anonymous.new_page().goto(base + "/dashboard")
    finally:
        anonymous.close()
    tenant = browser.new_context(http_credentials={"username": "acme", "password": TENANT_KEYS["acme"]})
    try:
        response = tenant.new_page().goto(base + "/dashboard/records")
        assert response is not None and response.status == 403
    finally:
        tenant.close()
    for path in ("/dashboard/api/overview.json", "/dashboard/csv/records.csv"):
        assert httpx.get(base + path, headers={"authorization": f"Bearer {TENANT_KEYS['beta']}"}).status_code == 403
        assert httpx.get(base + path).status_code == 401
        assert httpx.get(base + path, headers={"authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200

