"""``/dashboard``: what went where, for whom, at what cost — read only, from the audit store.

Mounted by ``privroute serve`` (``create_app``) and served alone by
``privroute dashboard`` (``dashboard_app``). Pages are rendered on the server
with inline SVG charts and one bundled stylesheet and script (package data in
``privroute/server/static``): nothing is fetched from elsewhere, so it works offline.

Access: an admin key (``admin_keys`` in the serve config, stored hashed like
tenant keys) as HTTP Basic password or ``Authorization: Bearer``; a tenant key
is refused (403). Without auth only on a loopback host (``no_auth``), as for
the proxy. Every query runs on a separate read-only store (SQLite: a WAL reader,
which never blocks the writer; PostgreSQL: a READ ONLY transaction), so a
dashboard request cannot hold up an audit append.

Views: overview (decisions over time stacked by action, per tenant, per policy,
budget today), rules (rules fired, entity types found and removed), frontier
(attempts, retries, errors, circuit, fallbacks, p50/p95 latency), chain (the
verified head, fetched as JSON), records (filtered, paged). Any table: ``.csv``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..audit import open_reader
from ..errors import InputError, PrivrouteError
from ..stores.chain import Checkpoint, key_from_env, verify_snapshot
from ..stores.insights import ACTIONS, RECORD_COLUMNS, Filters, Insights
from .charts import bars, csv_text, stacked_timeline, table
from .config import hash_api_key

__all__ = ["Dashboard", "DashboardAccess", "dashboard_app", "serve_dashboard"]

VIEWS = ("overview", "rules", "frontier", "chain", "records")
# table name -> (view it comes from, key in the view's data, columns)
TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "timeline": ("overview", "timeline", ("bucket", "action", "calls")),
    "tenants": ("overview", "tenants", ("name", "calls", "local", "redacted", "blocked", "errors",
                                        "prompt_tokens", "completion_tokens", "cost")),
    "policies": ("overview", "policies", ("name", "calls", "local", "redacted", "blocked", "errors",
                                          "prompt_tokens", "completion_tokens", "cost")),
    "budget": ("overview", "budget", ("tenant", "tokens", "held_tokens", "daily_tokens", "tokens_used",
                                      "cost", "held_cost", "daily_cost", "cost_used")),
    "rules": ("rules", "rules", ("rule", "records", "blocked", "redacted", "local")),
    "entities": ("rules", "entities", ("entity_type", "records", "found", "removed", "kept_back")),
    "health": ("frontier", "health", ("calls", "attempts", "retries", "answered", "http_429", "http_5xx",
                                      "fallbacks", "circuit_open",
                                      "p50_latency_s", "p95_latency_s")),
    "errors": ("frontier", "errors", ("error", "records")),
    "fallbacks": ("frontier", "fallbacks", ("reason", "records")),
    "records": ("records", "records", RECORD_COLUMNS),
}
_STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
# Nothing from elsewhere, no framing, no caching of what the records say.
_HEADERS = {"content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                       "frame-ancestors 'none'; form-action 'self'",
            "x-frame-options": "DENY", "cache-control": "no-store", "referrer-policy": "no-referrer",
            "x-content-type-options": "nosniff"}


@dataclass(frozen=True)
class DashboardAccess:
    """Who may look: hashed admin keys, the tenant keys to refuse, or no auth (loopback only)."""

    admin_keys: tuple[str, ...] = ()
    tenant_keys: tuple[str, ...] = ()
    no_auth: bool = False

    def check(self, request: Request) -> Response | None:
        """None when allowed, else the refusal."""
        if self.no_auth:
            return None
        if not self.admin_keys:
            return PlainTextResponse("the dashboard needs admin_keys in the serve config", status_code=403)
        presented = _presented_key(request.headers.get("authorization", ""))
        if presented:
            digest = hash_api_key(presented)
            admin = any(hmac.compare_digest(digest, k) for k in self.admin_keys)
            tenant = any(hmac.compare_digest(digest, k) for k in self.tenant_keys)
            if admin:
                return None
            if tenant:
                return PlainTextResponse("a tenant key does not open the dashboard: use an admin key",
                                         status_code=403)
        return PlainTextResponse("admin key required (HTTP Basic password or Bearer)", status_code=401,
                                 headers={"www-authenticate": 'Basic realm="privroute dashboard", charset="UTF-8"'})


def _presented_key(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user_pass = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user_pass.partition(":")[2].strip() or None
    return None


class _ChainWatch:
    """The chain's verified head, verified incrementally from the last verified head (one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, Any] | None = None
        self._token: str | None = None

    def status(self, store: Any) -> dict[str, Any]:
        with self._lock:
            key = key_from_env()
            since = Checkpoint.parse(self._token) if self._token else None
            started = time.perf_counter()
            with store.snapshot() as snapshot:
                report = verify_snapshot(snapshot, key=key, since=since)
                head = snapshot.head
            if report.ok:
                self._token = report.checkpoint
            elif since is not None:  # the store changed under the token: walk it all again
                self._token = None
                with store.snapshot() as snapshot:
                    report = verify_snapshot(snapshot, key=key)
                    head = snapshot.head
            verified_to = (head.seq if head else 0) if report.ok else max(0, (report.first_bad or 1) - 1)
            self._last = {
                "ok": report.ok, "verified_through": verified_to, "head_seq": head.seq if head else 0,
                "head_hash": head.hash if head else None, "problem": report.problem,
                "first_bad": report.first_bad, "signatures": report.signatures,
                "walked": report.records, "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "seconds": round(time.perf_counter() - started, 3),
            }
            return dict(self._last)


class Dashboard:
    """The dashboard over one or more audit stores (one per distinct location; ``?store=N`` picks)."""

    def __init__(self, locations: Sequence[str | Path], access: DashboardAccess, *,
                 budgets: dict[str, tuple[int | None, float | None]] | None = None, prefix: str = "/dashboard") -> None:
        if not locations:
            raise InputError("the dashboard needs an audit store (every tenant's audit is disabled)")
        self.locations = [str(loc) for loc in locations]
        self._stores = [open_reader(loc) for loc in locations]
        self._chains = [_ChainWatch() for _ in locations]
        self.access = access
        self.budgets = budgets or {}
        self.prefix = prefix

    def close(self) -> None:
        for store in self._stores:
            store.close()

    # ------------------------------------------------------------ data

    def _store_index(self, request: Request) -> int:
        raw = request.query_params.get("store", "0")
        index = int(raw) if raw.isdigit() else -1
        if not 0 <= index < len(self._stores):
            raise InputError("no such store")
        return index

    def data(self, view: str, request: Request) -> dict[str, Any]:
        index = self._store_index(request)
        store = self._stores[index]
        if view == "chain":
            return self._chains[index].status(store)
        flt = Filters.from_query(request.query_params)
        insights = Insights(store)
        if view == "overview":
            out = insights.overview(flt)
            out["budget"] = self._budget_rows(out.pop("budget_today"))
            return out
        if view == "rules":
            return insights.rules(flt)
        if view == "frontier":
            out = insights.frontier(flt)
            health = {**out["health"], "p50_latency_s": out["latency_s"]["p50"],
                      "p95_latency_s": out["latency_s"]["p95"]}
            return {**out, "health": [health]}
        if view == "records":
            before = request.query_params.get("before")
            return insights.records(flt, before=int(before) if before and before.isdigit() else None)
        raise InputError("no such view")

    def _budget_rows(self, today: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for tenant in sorted(set(today) | set(self.budgets)):
            spent = today.get(tenant, {})
            tokens_limit, cost_limit = self.budgets.get(tenant, (None, None))
            tokens, cost = int(spent.get("tokens", 0)), float(spent.get("cost", 0.0))
            rows.append({"tenant": tenant, "tokens": tokens, "held_tokens": int(spent.get("held_tokens", 0)),
                         "daily_tokens": tokens_limit, "cost": cost, "held_cost": float(spent.get("held_cost", 0.0)),
                         "daily_cost": cost_limit,
                         "tokens_used": f"{100 * tokens / tokens_limit:.1f}%" if tokens_limit else None,
                         "cost_used": f"{100 * cost / cost_limit:.1f}%" if cost_limit else None})
        return rows

    # ------------------------------------------------------------ endpoints

    def _guard(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def guarded(request: Request) -> Response:
            refused = self.access.check(request)
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except PrivrouteError as exc:  # a bad filter, an unreadable store: one line, no traceback
                status = 400 if isinstance(exc, InputError) else 503
                return PlainTextResponse(f"{type(exc).__name__}: {exc}", status_code=status)
        return guarded

    async def page(self, request: Request) -> Response:
        view = request.path_params.get("view", "overview")
        if view not in VIEWS:
            return PlainTextResponse("no such view", status_code=404)
        if view == "chain":  # the walk can take seconds: the page fetches it as JSON
            body = ("<section id='chain' data-src='" + escape(self._href("api/chain.json", request)) + "'>"
                    "<p class='pending'>verifying the chain…</p></section>")
        else:
            data = await _thread(self.data, view, request)
            body = getattr(self, f"_{view}_html")(data, request)
        return HTMLResponse(self._layout(view, body, request), headers=_HEADERS)

    async def api(self, request: Request) -> Response:
        view = request.path_params["view"]
        if view not in VIEWS:
            return PlainTextResponse("no such view", status_code=404)
        return JSONResponse(await _thread(self.data, view, request), headers=_HEADERS)

    async def export(self, request: Request) -> Response:
        name = request.path_params["table"]
        if name not in TABLES:
            return PlainTextResponse("no such table", status_code=404)
        view, key, columns = TABLES[name]
        data = await _thread(self.data, view, request)
        text = csv_text(columns, data[key])
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={**_HEADERS, "content-disposition": f'attachment; filename="privroute-{name}.csv"'})

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("no such file", status_code=404)
        text = resources.files("privroute.server").joinpath("static", name).read_text(encoding="utf-8")
        return Response(text, media_type=_STATIC[name], headers={"cache-control": "max-age=3600"})

    def routes(self) -> list[Route]:
        p = self.prefix
        return [Route(p, self._guard(self.page), methods=["GET"]),
                Route(p + "/static/{name}", self.static, methods=["GET"]),
                Route(p + "/api/{view}.json", self._guard(self.api), methods=["GET"]),
                Route(p + "/csv/{table}.csv", self._guard(self.export), methods=["GET"]),
                Route(p + "/{view}", self._guard(self.page), methods=["GET"])]

    # ------------------------------------------------------------ rendering

    def _href(self, path: str, request: Request, **extra: Any) -> str:
        query = {k: v for k, v in request.query_params.items() if k not in ("before",) and v}
        query.update({k: v for k, v in extra.items() if v is not None})
        for k in [k for k, v in extra.items() if v is None]:
            query.pop(k, None)
        suffix = ("?" + urlencode(query)) if query else ""
        return f"{self.prefix}/{path}{suffix}" if path else f"{self.prefix}{suffix}"

    def _csv(self, name: str, request: Request) -> str:
        return self._href(f"csv/{name}.csv", request)

    def _layout(self, view: str, body: str, request: Request) -> str:
        nav = "".join(f"<a href='{escape(self._href('' if v == 'overview' else v, request))}'"
                      f"{' class=active' if v == view else ''}>{v}</a>" for v in VIEWS)
        stores = ""
        if len(self.locations) > 1:
            stores = "<p class='stores'>store: " + " ".join(
                f"<a href='{escape(self._href('' if view == 'overview' else view, request, store=str(i)))}'>{i}</a>"
                for i in range(len(self.locations))) + "</p>"
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>privroute · {view}</title>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<link rel='stylesheet' href='{self.prefix}/static/dashboard.css'></head>"
                f"<body data-view='{view}'><header><h1>privroute dashboard</h1><nav>{nav}</nav></header>{stores}"
                f"{self._filters(view, request) if view != 'chain' else ''}<main>{body}</main>"
                f"<footer>read-only · names, counts and hashes from the audit records; never prompt text "
                f"or values</footer><script src='{self.prefix}/static/dashboard.js'></script></body></html>")

    def _filters(self, view: str, request: Request) -> str:
        q = request.query_params
        ranges = "".join(
            f"<a class='range{' active' if q.get('range', '') == r else ''}' "
            f"href='{escape(self._href('' if view == 'overview' else view, request, range=r or None, since=None, until=None))}'>"
            f"{r or 'all'}</a>" for r in ("1h", "24h", "7d", "30d", ""))
        fields = "".join(
            f"<label>{name} <input name='{name}' value='{escape(q.get(name, ''))}' size='12'></label>"
            for name in ("tenant", "policy", "rule"))
        actions = "".join(f"<option{' selected' if q.get('action') == a else ''}>{a}</option>" for a in ACTIONS)
        times = "".join(f"<label>{n} <input type='datetime-local' name='{n}' value='{escape(q.get(n, '')[:16])}'>"
                        f"</label>" for n in ("since", "until"))
        return (f"<form class='filters' method='get'><span class='ranges'>{ranges}</span>{fields}"
                f"<label>action <select name='action'><option value=''>any</option>{actions}</select></label>"
                f"{times}<input type='hidden' name='range' value='{escape(q.get('range', ''))}'>"
                f"<button type='submit'>apply</button></form>")

    def _overview_html(self, data: dict[str, Any], request: Request) -> str:
        total = data["total"]
        kpis = "".join(f"<div class='kpi' data-kpi='{k}'><b>{int(total.get(k) or 0):,}</b><span>{label}</span></div>"
                       for k, label in (("calls", "calls"), ("local", "stayed local"), ("redacted", "redacted"),
                                        ("blocked", "blocked"), ("errors", "errors"),
                                        ("prompt_tokens", "prompt tokens"),
                                        ("completion_tokens", "completion tokens")))
        kpis += f"<div class='kpi' data-kpi='cost'><b>${float(total.get('cost') or 0):,.4f}</b><span>cost</span></div>"
        return (f"<div class='kpis'>{kpis}</div><h2>Decisions over time (per {data['bucket']})</h2>"
                f"{stacked_timeline(data['timeline'])}"
                + table("tenants", TABLES["tenants"][2], data["tenants"], csv_href=self._csv("tenants", request),
                        caption="Per tenant")
                + table("policies", TABLES["policies"][2], data["policies"],
                        csv_href=self._csv("policies", request), caption="Per policy")
                + table("budget", TABLES["budget"][2], data["budget"], csv_href=self._csv("budget", request),
                        caption=f"Budget used today ({data['budget_day']}, UTC; frontier spend)")
                + "<details><summary>timeline table</summary>"
                + table("timeline", TABLES["timeline"][2], data["timeline"], csv_href=self._csv("timeline", request))
                + "</details>")

    def _rules_html(self, data: dict[str, Any], request: Request) -> str:
        return ("<div class='cols'><div>"
                + table("rules", TABLES["rules"][2], data["rules"], csv_href=self._csv("rules", request),
                        caption="Top rules fired", code=("rule",))
                + bars("rules", data["rules"][:12], "rule", "records") + "</div><div>"
                + table("entities", TABLES["entities"][2], data["entities"], csv_href=self._csv("entities", request),
                        caption="Entity types found and removed")
                + bars("entities", data["entities"][:12], "entity_type", "found") + "</div></div>")

    def _frontier_html(self, data: dict[str, Any], request: Request) -> str:
        return (table("health", TABLES["health"][2], data["health"], csv_href=self._csv("health", request),
                      caption="Frontier health (calls that reached the frontier)")
                + "<p class='note'>http_429 / http_5xx: calls whose frontier call failed, after its retries, with "
                  "that upstream status; circuit_open: calls refused or sent to the fallback while the circuit "
                  "was open; errors: the final error class of a failed call.</p>"
                + table("errors", TABLES["errors"][2], data["errors"], csv_href=self._csv("errors", request),
                        caption="Frontier errors")
                + table("fallbacks", TABLES["fallbacks"][2], data["fallbacks"],
                        csv_href=self._csv("fallbacks", request), caption="Fallbacks (who answered instead)"))

    def _records_html(self, data: dict[str, Any], request: Request) -> str:
        more = ""
        if data["next_before"] is not None:
            more = (f"<p><a class='older' href='{escape(self._href('records', request, before=str(data['next_before'])))}'>"
                    f"older records →</a></p>")
        # The CSV of the page shown (the same 50 records, older pages included).
        csv_href = self._href("csv/records.csv", request, before=request.query_params.get("before"))
        return (table("records", RECORD_COLUMNS, data["records"], csv_href=csv_href,
                      caption="Records (newest first; no prompt text, no values)",
                      code=("hash", "policy_hash", "reasons")) + more)


async def _thread(func: Callable[..., Any], *args: Any) -> Any:
    import anyio

    return await anyio.to_thread.run_sync(lambda: func(*args))


def serve_dashboard(config: Any, policies: Sequence[Any]) -> Dashboard | None:
    """The dashboard of ``privroute serve``: over each distinct store the tenants' policies write to.

    None when no tenant audits (nothing to show). Budget limits come from the policies.
    """
    from ..stores import resolve_location

    locations: dict[str, str | Path] = {}
    budgets: dict[str, tuple[int | None, float | None]] = {}
    for policy in policies:
        if not policy.audit.enabled:
            continue
        location = resolve_location(config.database_url or getattr(policy.audit, "url", None), policy.audit.path)
        key = str(location.resolve()) if isinstance(location, Path) else str(location)
        locations.setdefault(key, location)
        budgets[policy.budget.tenant] = (policy.budget.daily_tokens, policy.budget.daily_cost)
    if not locations:
        return None
    tenant_keys = tuple(k for t in config.tenants for k in t.api_keys)
    access = DashboardAccess(admin_keys=tuple(config.admin_keys), tenant_keys=tenant_keys, no_auth=config.no_auth)
    return Dashboard(list(locations.values()), access, budgets=budgets)


def dashboard_app(location: str | Path, access: DashboardAccess) -> Any:
    """``privroute dashboard``: the dashboard alone, on one store, read only (``/`` redirects to it)."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse

    dashboard = Dashboard([location], access)

    async def home(request: Request) -> Response:
        return RedirectResponse(dashboard.prefix)

    app = Starlette(routes=[Route("/", home, methods=["GET"]), *dashboard.routes()])
    app.state.dashboard = dashboard
    return app
