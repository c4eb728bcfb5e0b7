"""Fairness between the proxy's tenants: one tenant's heavy or hostile requests
cannot starve another's.

* **Size**: a body over the tenant's own limit (``TenantConfig.max_body_bytes``,
  at most the server's) is refused with 413 before any detection.
* **Concurrency**: each tenant has a number of requests it may have in flight
  (``limits.tenant_concurrency`` or the tenant's ``concurrency``); the next one is
  answered 429 with Retry-After at once, so a tenant cannot take every worker thread
  (the config refuses a limit that would let it).
* **Detection time**: detection runs under the server's budget
  (``limits.detect_budget_s``; a policy's own budget can only shorten it), and
  past it the request fails closed as the tenant's policy says.
* **Turns on the detector**: the shared spaCy pipeline is taken one chunk at a
  time, round-robin over tenants (``privroute.detect.turns``), so a tenant's long
  request yields to another tenant's between its chunks instead of holding the
  pipeline for the whole request.
* **Long texts out of process**: texts of ``limits.offload_chars`` or more are
  detected by ``limits.detect_processes`` worker processes (``privroute.detect.offload``),
  taken one chunk at a time round-robin over tenants, so a tenant's long hostile texts
  neither hold the server's GIL nor the in-process pipeline, and short requests of the
  other tenants keep their pace.

All of it runs on the event loop (admission) or in the worker thread that does the
request's blocking work (budget and turns); nothing here sees request content.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..detect.base import Detector
from ..detect.deadline import time_budget
from ..detect.offload import DetectionPool, OffloadingDetector
from ..detect.turns import turn_key
from .config import ServeConfig, TenantConfig
from .protocol import ApiError

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["TenantFairness"]


class TenantFairness:
    """Per-tenant admission (size, requests in flight) and the detection budget."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._in_flight: dict[str, int] = {tenant.name: 0 for tenant in config.tenants}
        processes = config.limits.detect_processes
        self.pool = DetectionPool(processes) if processes else None

    def __repr__(self) -> str:
        return f"TenantFairness(in_flight={self._in_flight})"

    def detector(self, detect: "DetectConfig") -> Detector | None:
        """The detector for a tenant policy's ``detect`` block: long texts in the worker
        processes; None (the router's default, in process) without workers."""
        if self.pool is None:
            return None
        return OffloadingDetector(detect, self.pool, min_chars=self.config.limits.offload_chars)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def in_flight(self, tenant: str) -> int:
        return self._in_flight.get(tenant, 0)

    def admit(self, tenant: TenantConfig, body_bytes: int, metrics: Any) -> Callable[[], None]:
        """Take a place for one request, or raise ApiError (413 or 429). Event loop only.

        Returns the function that gives the place back (call it once, when the
        request is finished, stream included).
        """
        size_limit = self.config.body_limit(tenant)
        if body_bytes > size_limit:
            metrics.rejected("body_too_large")
            raise ApiError(413, f"request body is larger than this tenant's limit of {size_limit} bytes",
                           code="request_too_large")
        limit = self.config.concurrency_limit(tenant)
        if self._in_flight[tenant.name] >= limit:
            metrics.rejected("tenant_busy")
            retry = str(self.config.limits.retry_after_s)
            raise ApiError(429, f"this tenant already has {limit} requests in flight; retry after {retry}s",
                           type="rate_limit_error", code="tenant_busy", headers={"retry-after": retry})
        self._in_flight[tenant.name] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._in_flight[tenant.name] -= 1

        return release

    def screened(self, tenant: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``func`` (in a worker thread) with detection budgeted and taking turns as ``tenant``."""
        with turn_key(tenant), time_budget(self.config.limits.detect_budget_s):
            return func(*args, **kwargs)
