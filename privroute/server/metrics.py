"""Prometheus metrics for the proxy, in the text exposition format (no dependency).

Labels are tenants, actions, statuses and token kinds: never prompt content.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

__all__ = ["DEFAULT_BUCKETS", "ProxyMetrics"]

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: _Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = list(labels) + ([extra] if extra else [])
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1


class ProxyMetrics:
    """Counters and histograms the proxy updates per request. Thread-safe."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self._lock = threading.Lock()
        self._buckets = tuple(buckets)
        self._requests: dict[_Labels, int] = {}
        self._latency: dict[_Labels, _Histogram] = {}
        self._tokens: dict[_Labels, int] = {}
        self._rejected: dict[_Labels, int] = {}
        self._in_flight = 0
        self._local_waiting = 0
        self._local_running = 0

    def __repr__(self) -> str:
        return f"ProxyMetrics(requests={sum(self._requests.values())})"

    # ------------------------------------------------------------ updates

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self, *, tenant: str, action: str, status: int, stream: bool, seconds: float,
                         endpoint: str = "chat") -> None:
        key = (("tenant", tenant), ("action", action), ("status", str(status)), ("stream", str(stream).lower()),
               ("endpoint", endpoint))
        with self._lock:
            self._in_flight -= 1
            self._requests[key] = self._requests.get(key, 0) + 1
            hist_key = (("tenant", tenant), ("action", action))
            if hist_key not in self._latency:
                self._latency[hist_key] = _Histogram(self._buckets)
            self._latency[hist_key].observe(seconds)

    def tokens(self, *, tenant: str, action: str, prompt: int, completion: int) -> None:
        with self._lock:
            for kind, count in (("prompt", prompt), ("completion", completion)):
                key = (("tenant", tenant), ("action", action), ("kind", kind))
                self._tokens[key] = self._tokens.get(key, 0) + max(0, int(count))

    def rejected(self, reason: str, tenant: str = "-") -> None:
        with self._lock:
            key = (("reason", reason), ("tenant", tenant))
            self._rejected[key] = self._rejected.get(key, 0) + 1

    def local_queue(self, *, waiting: int, running: int) -> None:
        with self._lock:
            self._local_waiting, self._local_running = waiting, running

    # ------------------------------------------------------------ exposition

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        with self._lock:
            lines: list[str] = []
            self._counter(lines, "privroute_requests_total",
                          "Routed requests (chat, responses, embeddings) by tenant and outcome.",
                          self._requests)
            self._histograms(lines, "privroute_request_duration_seconds",
                             "Time from request received to last byte handed to the server.", self._latency)
            self._counter(lines, "privroute_tokens_total", "Tokens reported by the backends.", self._tokens)
            self._counter(lines, "privroute_rejected_total",
                          "Requests refused before routing (auth, size, queue full, bad request).", self._rejected)
            for name, help_text, value in (
                ("privroute_requests_in_flight", "Chat completion requests being handled.", self._in_flight),
                ("privroute_local_queue_waiting", "Local model calls waiting for a slot.", self._local_waiting),
                ("privroute_local_queue_running", "Local model calls running.", self._local_running),
            ):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _counter(lines: list[str], name: str, help_text: str, values: dict[_Labels, int]) -> None:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for labels, value in sorted(values.items()):
            lines.append(f"{name}{_labels(labels)} {value}")

    @staticmethod
    def _histograms(lines: list[str], name: str, help_text: str, values: dict[_Labels, _Histogram]) -> None:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for labels, hist in sorted(values.items()):
            cumulative = 0
            for bound, count in zip(hist.bounds + (float("inf"),), hist.counts):
                cumulative += count
                lines.append(f"{name}_bucket{_labels(labels, ('le', _number(bound)))} {cumulative}")
            lines.append(f"{name}_sum{_labels(labels)} {hist.total!r}")
            lines.append(f"{name}_count{_labels(labels)} {hist.n}")
