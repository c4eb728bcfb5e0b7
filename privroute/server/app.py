"""The OpenAI-compatible privacy proxy: ``create_app(config)`` -> a Starlette app.

Any app that speaks the OpenAI chat API gets privroute by changing its base URL.
Each request is authenticated to a tenant, then routed by the tenant's policy
through ``Router.route`` / ``Router.stream`` (so retries, budgets and audit apply
exactly as for ``privroute.route``). Router calls block, so they run in worker
threads; the event loop only parses, authenticates and relays.

Request ``model``: ``"privroute"`` or the tenant's frontier model name; both mean
"route by my policy" (a client cannot pick a destination the policy would not).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from ..audit import open_audit
from ..backends import Backend, local_from_config
from ..detect.base import Detector
from ..errors import ConfigurationError, MissingDependency
from ..policy import load_policy
from ..router import Router
from .config import ServeConfig, TenantConfig
from .fairness import TenantFairness
from .gate import LocalGate
from .metrics import ProxyMetrics
from .protocol import (
    PROXY_MODEL,
    Api,
    ApiError,
    ChatStream,
    completion_body,
    error_body,
    error_for,
    new_completion_id,
    parse_chat_request,
)
from .protocol import RequestOutcome as _Outcome
from .protocol import decision_headers as _decision_headers
from .protocol import explain as _explain

try:
    import anyio
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import (
        JSONResponse,
        PlainTextResponse,
        Response,
        StreamingResponse,
    )
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependency("starlette", "serve") from exc

__all__ = ["BackgroundServer", "create_app"]

log = logging.getLogger("privroute.server")

# A client that sends more than this past the limit is cut off rather than drained.
_DRAIN_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Tenant:
    config: TenantConfig
    router: Router
    models: tuple[str, ...]

    def __repr__(self) -> str:
        return f"_Tenant(name={self.config.name!r}, policy={self.router.policy.name!r})"


def _chat_body(result: Any, request: Any, explained: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if result.tool_calls else "length" if result.truncated else "stop"
    return completion_body(completion_id=new_completion_id(), model=result.model or request.model,
                           content=result.answer, finish_reason=finish, usage=result.usage, privroute=explained,
                           tool_calls=result.tool_calls)


CHAT = Api("chat", parse_chat_request, _chat_body, lambda model, request: ChatStream(model))


def _start_pool(pool: Any, configs: list[Any]) -> None:
    try:
        pool.start(configs)
    except Exception as exc:  # the first long text starts a worker again, or fails closed
        log.warning("detection workers did not start (%s)", type(exc).__name__)


class _Proxy:
    def __init__(self, config: ServeConfig, *, local: Backend | None, detector: Detector | None,
                 metrics: ProxyMetrics, local_embedder: Any = None) -> None:
        self.config = config
        self.metrics = metrics
        limits = config.limits
        self.gate = LocalGate(concurrency=limits.local_concurrency, queue_size=limits.local_queue_size,
                              retry_after_s=limits.retry_after_s,
                              on_change=lambda waiting, running: metrics.local_queue(waiting=waiting, running=running))
        self.fairness = TenantFairness(config)
        self.tenants = {t.name: self._tenant(t, local, detector, local_embedder) for t in config.tenants}
        self.limiter: Any = None  # an anyio.CapacityLimiter, created inside the event loop

    def _tenant(self, config: TenantConfig, local: Backend | None, detector: Detector | None,
                local_embedder: Any) -> _Tenant:
        from ..backends.embedder import local_embedder_from_config

        policy = load_policy(config.policy)
        audit = open_audit(policy.audit, url=self.config.database_url)
        # The tenant's name is in its audit records, budgets and metrics, whatever its policy says.
        embedder = self.gate.wrap(local_embedder or local_embedder_from_config(policy.local))
        router = Router(policy, detector=detector or self.fairness.detector(policy.detect),
                        local=self.gate.wrap(local or local_from_config(policy.local)),
                        audit=audit, tenant=config.name, local_embedder=embedder)
        models = (PROXY_MODEL,) + ((policy.frontier.model,) if policy.frontier.model else ())
        return _Tenant(config, router, models)

    # ------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.limiter = anyio.CapacityLimiter(self.config.limits.worker_threads)
        for tenant in self.tenants.values():
            if self.config.warm:
                # Loads spaCy/Presidio now rather than on the first caller's request.
                await anyio.to_thread.run_sync(tenant.router.warm_up)
            try:
                tenant.router.frontier  # built now, so a missing frontier is logged at start
            except ConfigurationError:
                log.warning("tenant %s: no frontier configured (policy frontier.base_url, OPENAI_BASE_URL or "
                            "OPENAI_API_KEY); its redact and frontier requests will fail", tenant.config.name)
        pool = self.fairness.pool
        if self.config.warm and pool is not None:
            # The detection workers load spaCy beside the server rather than on the first long text.
            configs = [tenant.router.policy.detect for tenant in self.tenants.values()]
            threading.Thread(target=_start_pool, args=(pool, configs), name="privroute-detect-start",
                             daemon=True).start()
        log.info("privroute proxy ready: %d tenant(s), auth %s", len(self.tenants),
                 "off (loopback)" if self.config.no_auth else "on")
        try:
            yield
        finally:
            self.fairness.close()

    async def run(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs), limiter=self.limiter)

    async def run_for(self, tenant: _Tenant, func: Any, *args: Any, **kwargs: Any) -> Any:
        """``run``, with detection under the server's budget and taking turns as this tenant."""
        return await self.run(self.fairness.screened, tenant.config.name, func, *args, **kwargs)

    # ------------------------------------------------------------ helpers

    def check_model(self, tenant: _Tenant, model: str, names: tuple[str, ...] | None = None) -> None:
        names = names or tenant.models
        if model not in names:
            raise ApiError(404, f"unknown model; this tenant can use: {', '.join(names)}", param="model",
                           code="model_not_found")

    def authenticate(self, request: Request) -> _Tenant:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        presented = key.strip() if scheme.lower() == "bearer" else None
        tenant = self.config.tenant_for_key(presented)
        if tenant is None:
            self.metrics.rejected("auth")
            raise ApiError(401, "missing or invalid API key (Authorization: Bearer <key>)",
                           code="invalid_api_key", headers={"www-authenticate": "Bearer"})
        return self.tenants[tenant.name]

    async def read_body(self, request: Request) -> bytes:
        limit = self.config.limits.max_body_bytes
        declared = request.headers.get("content-length")
        too_big = ApiError(413, f"request body is larger than {limit} bytes", code="request_too_large")
        if declared is not None and declared.isdigit() and int(declared) > limit + _DRAIN_BYTES:
            self.metrics.rejected("body_too_large")
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > limit + _DRAIN_BYTES:
                break
        if size > limit:
            self.metrics.rejected("body_too_large")
            raise too_big
        return b"".join(chunks)

    def finish(self, outcome: _Outcome, started: float) -> None:
        if outcome.release is not None:
            outcome.release()
            outcome.release = None
        seconds = time.perf_counter() - started
        self.metrics.request_finished(tenant=outcome.tenant, action=outcome.action, status=outcome.status,
                                      stream=outcome.stream, seconds=seconds, endpoint=outcome.endpoint)
        log.info("%s tenant=%s action=%s status=%d stream=%s reasons=%s ms=%.1f", outcome.endpoint, outcome.tenant,
                 outcome.action, outcome.status, outcome.stream, ",".join(outcome.reasons) or "-", seconds * 1000)

    # ------------------------------------------------------------ endpoints

    async def chat_completions(self, request: Request) -> Response:
        return await self.routed(request, CHAT)

    async def responses(self, request: Request) -> Response:
        from .responses import RESPONSES

        return await self.routed(request, RESPONSES)

    async def embeddings(self, request: Request) -> Response:
        from .embeddings import serve_embeddings

        return await serve_embeddings(self, request)

    async def routed(self, request: Request, api: Api) -> Response:
        """One routed request: authenticate, parse, decide and answer (or stream) in ``api``'s format."""
        started = time.perf_counter()
        self.metrics.request_started()
        outcome = _Outcome(api.name)
        streaming = False
        try:
            body = await self.read_body(request)
            tenant = self.authenticate(request)
            outcome.tenant = tenant.config.name
            outcome.release = self.fairness.admit(tenant.config, len(body), self.metrics)
            parsed = api.parse(body)
            outcome.stream = parsed.stream
            self.check_model(tenant, parsed.model)
            limit = parsed.token_limit(self.config.limits.max_tokens)
            if parsed.stream:
                response = await self.open_stream(tenant, api, parsed, limit, outcome, started)
                streaming = True
                return response
            result = await self.run_for(tenant, tenant.router.route, parsed.chat_messages(), max_tokens=limit,
                                        tools=parsed.tool_spec())
            outcome.action, outcome.reasons, outcome.status = result.decision.action, result.decision.reasons, 200
            if result.usage is not None:
                self.metrics.tokens(tenant=outcome.tenant, action=outcome.action,
                                    prompt=result.usage.prompt_tokens, completion=result.usage.completion_tokens)
            body_out = api.body(result, parsed, _explain(result.decision, result.backend))
            return JSONResponse(body_out, headers=_decision_headers(result.decision))
        except Exception as exc:
            return self.error_response(exc, outcome)
        finally:
            if not streaming:
                self.finish(outcome, started)

    def error_response(self, exc: BaseException, outcome: _Outcome) -> Response:
        error = error_for(exc)
        outcome.status = error.status
        headers = dict(error.headers)
        reasons = getattr(exc, "reasons", None)
        if error.code == "blocked_by_policy" and reasons is not None:
            outcome.action, outcome.reasons = "block", tuple(reasons)
            headers.update({"x-privroute-action": "block", "x-privroute-reasons": ",".join(reasons)})
        if error.status == 429 and error.code == "local_queue_full":
            self.metrics.rejected("local_queue_full", outcome.tenant)
        if error.status >= 500 and not isinstance(exc, ApiError):
            # Type only: a third-party message may quote the request.
            log.warning("%s tenant=%s failed: %s (%s)", outcome.endpoint, outcome.tenant, type(exc).__name__,
                        error.code)
        return JSONResponse(error_body(error), status_code=error.status, headers=headers)

    async def open_stream(self, tenant: _Tenant, api: Api, parsed: Any, limit: int | None, outcome: _Outcome,
                          started: float) -> Response:
        """Decide and pull the first delta before any header goes out.

        Blocked, a full queue or an unreachable frontier are then real HTTP
        statuses, not errors hidden inside a 200 stream.
        """

        def start() -> tuple[Any, Iterator[Any], Any, str]:
            route = tenant.router.stream(parsed.chat_messages(), max_tokens=limit, tools=parsed.tool_spec())
            deltas = iter(route)
            try:
                first = next(deltas, None)
            except BaseException:
                _close(deltas)
                raise
            # The backend that answers (after any fallback), not the one first decided.
            return route, deltas, first, route.model

        route, deltas, first, model = await self.run_for(tenant, start)
        outcome.action, outcome.reasons, outcome.status = route.decision.action, route.decision.reasons, 200
        headers = {**_decision_headers(route.decision), "cache-control": "no-cache", "x-accel-buffering": "no"}
        async def abandoned() -> None:
            # The client left before the body started: the relay's own cleanup never ran.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, deltas)
            outcome.status = 499
            self.finish(outcome, started)

        encoder = api.stream(model, parsed)
        return _RelayResponse(self.relay(route, deltas, first, encoder, outcome, started), outcome, abandoned,
                              headers=headers, media_type="text/event-stream")

    async def relay(self, route: Any, deltas: Iterator[Any], first: Any, encoder: Any, outcome: _Outcome,
                    started: float) -> AsyncGenerator[bytes, None]:
        outcome.relaying = True
        ended = False
        try:
            yield encoder.start()
            delta = first
            while delta is not None:
                event = encoder.delta(delta)
                if event:
                    yield event
                delta = await self.run(next, deltas, None)
            yield encoder.finish(route.finish_reason)
            ended = True
        except Exception as exc:
            # Headers are gone: the OpenAI clients raise on an error event.
            error = error_for(exc)
            outcome.status = error.status
            log.warning("%s stream tenant=%s failed mid-stream: %s", outcome.endpoint, outcome.tenant,
                        type(exc).__name__)
            ended = True
            yield encoder.error(error)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, deltas)
            if not ended:
                outcome.status = 499  # the client went away mid-stream (nginx's convention)
            self.finish(outcome, started)

    async def models(self, request: Request) -> Response:
        try:
            tenant = self.authenticate(request)
        except ApiError as error:
            return JSONResponse(error_body(error), status_code=error.status, headers=dict(error.headers))
        data = [{"id": model, "object": "model", "created": 0, "owned_by": "privroute"} for model in tenant.models]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "tenants": len(self.tenants)})

    async def prometheus(self, request: Request) -> Response:
        return PlainTextResponse(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


class _RelayResponse(StreamingResponse):
    """A StreamingResponse that still cleans up when its body never started."""

    def __init__(self, content: AsyncGenerator[bytes, None], outcome: _Outcome, abandoned: Any,
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._relay = content
        self._outcome = outcome
        self._abandoned = abandoned

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._outcome.relaying:
                await self._abandoned()
            else:
                # Cancelled while the relay sat at a yield: run its cleanup now, not at GC.
                with anyio.CancelScope(shield=True):
                    await self._relay.aclose()


def _close(deltas: Any) -> None:
    close = getattr(deltas, "close", None)
    if close is not None:
        close()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    message = {404: "no such endpoint", 405: "method not allowed"}.get(status, "request failed")
    error = ApiError(status, message, code="not_found" if status == 404 else None)
    return JSONResponse(error_body(error), status_code=status, headers=getattr(exc, "headers", None))


def create_app(config: ServeConfig, *, local: Backend | None = None, detector: Detector | None = None,
               metrics: ProxyMetrics | None = None, local_embedder: Any = None) -> Starlette:
    """The proxy as an ASGI app. Loads every tenant's policy now (a bad one raises).

    ``local`` replaces every tenant's local backend and ``local_embedder`` its local
    embedder (both still go through the bounded queue); by default each tenant's
    policy ``local:`` block decides. ``detector`` replaces the default detector
    (Presidio per policy) for every tenant.
    """
    proxy = _Proxy(config, local=local, detector=detector, metrics=metrics or ProxyMetrics(),
                   local_embedder=local_embedder)
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", proxy.chat_completions, methods=["POST"]),
            Route("/chat/completions", proxy.chat_completions, methods=["POST"]),
            Route("/v1/responses", proxy.responses, methods=["POST"]),
            Route("/responses", proxy.responses, methods=["POST"]),
            Route("/v1/embeddings", proxy.embeddings, methods=["POST"]),
            Route("/embeddings", proxy.embeddings, methods=["POST"]),
            Route("/v1/models", proxy.models, methods=["GET"]),
            Route("/healthz", proxy.healthz, methods=["GET"]),
            Route("/metrics", proxy.prometheus, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=proxy.lifespan,
    )
    app.state.proxy = proxy
    app.state.metrics = proxy.metrics
    from .dashboard import serve_dashboard  # the read-only /dashboard over the tenants' audit stores

    dashboard = serve_dashboard(config, [t.router.policy for t in proxy.tenants.values()])
    if dashboard is not None:
        app.router.routes.extend(dashboard.routes())
    app.state.dashboard = dashboard
    return app


class BackgroundServer:
    """Serve an app with uvicorn in a background thread on 127.0.0.1 (tests, benchmarks).

    ``with BackgroundServer(app) as server: server.url`` -> ``http://127.0.0.1:PORT``;
    ``ssl=privroute.server.tls.ssl_options(config)`` serves HTTPS.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 ssl: dict[str, Any] | None = None) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._scheme = "https" if ssl else "http"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False,
                                                     timeout_keep_alive=30, **(ssl or {})))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="privroute-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"{self._scheme}://{host}:{port}"

    def start(self, timeout_s: float = 120.0) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the proxy did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
