"""Budgets: output tokens per call, tokens and cost per tenant per UTC day.

* Per call: ``frontier.max_output_tokens`` caps what the frontier may generate
  (``output_limit``); the caller's own ``max_tokens`` can only lower it.
* Per tenant per day (``budget.daily_tokens``, ``budget.daily_cost``): checked
  before a frontier call, from what the tenant already spent today plus this
  call's prompt (characters / 4). The answer's tokens are not reserved up front
  (reserving the whole output cap would make the last part of every budget
  unusable), so one call can overshoot by at most its output cap. Over budget,
  ``budget.on_exceed`` decides: ``block`` raises BudgetExceeded, ``local`` answers
  on the local model. Only frontier calls spend: the local model is free.
* Spend comes from the backend's usage figures, priced from a YAML table
  (``prices.yaml`` shipped with privroute, or ``budget.prices``). When the audit
  log is on, it is the ledger (so budgets hold across processes and restarts);
  otherwise an in-process ledger counts.

Calls already in flight are not counted until they finish, so concurrent calls
can overshoot a daily budget by at most what they spend themselves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .backends.base import Usage
from .errors import BudgetExceeded, ConfigurationError

__all__ = ["BudgetGuard", "Ledger", "MemoryLedger", "ModelPrice", "PriceTable", "estimate_tokens", "output_limit"]

_CHARS_PER_TOKEN = 4


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input: float = Field(ge=0)
    output: float = Field(ge=0)


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    currency: str = "USD"
    per: int = Field(1_000_000, ge=1)
    models: dict[str, ModelPrice] = Field(default_factory=dict)


class PriceTable:
    """Model prices; ``cost(model, usage)`` in USD, or None for an unpriced model."""

    def __init__(self, models: dict[str, ModelPrice], *, per: int = 1_000_000, source: str = "<table>") -> None:
        self.models = dict(models)
        self.per = per
        self.source = source

    def __repr__(self) -> str:
        return f"PriceTable(source={self.source!r}, models={len(self.models)})"

    @classmethod
    def load(cls, path: str | Path | None = None) -> "PriceTable":
        """The shipped table, or a user's YAML file. Raises ConfigurationError naming the file."""
        if path is None:
            text, source = resources.files("privroute").joinpath("prices.yaml").read_text("utf-8"), "prices.yaml"
        else:
            source = str(Path(path).expanduser())
            try:
                text = Path(source).read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(f"price table {source} cannot be read ({type(exc).__name__})") from None
        try:
            parsed = _PriceFile.model_validate(yaml.safe_load(text) or {})
        except yaml.YAMLError:
            raise ConfigurationError(f"price table {source} is not valid YAML") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise ConfigurationError(f"price table {source}: {where}: {first.get('msg', 'invalid')}") from None
        return cls(parsed.models, per=parsed.per, source=source)

    def price(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        if model in self.models:
            return self.models[model]
        # Dated or suffixed variants ("gpt-4o-2024-08-06") take the longest base name's price.
        bases = [name for name in self.models if model.startswith(name + "-")]
        return self.models[max(bases, key=len)] if bases else None

    def cost(self, model: str | None, usage: Usage | None) -> float | None:
        price = self.price(model)
        if price is None or usage is None:
            return None
        return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / self.per


_tables: dict[Any, PriceTable] = {}
_tables_lock = threading.Lock()


def _cached_table(path: str | None) -> PriceTable:
    key: Any = None
    if path is not None:
        resolved = Path(path).expanduser()
        try:
            stat = resolved.stat()
            key = (str(resolved.resolve()), stat.st_mtime_ns, stat.st_size)
        except OSError:
            return PriceTable.load(resolved)  # raises ConfigurationError naming the file
    with _tables_lock:
        if key not in _tables:
            _tables[key] = PriceTable.load(path)
        return _tables[key]


class Ledger(Protocol):
    """Where a tenant's daily spend is kept."""

    persistent: bool

    def spent(self, tenant: str, day: str) -> tuple[int, float]: ...


class MemoryLedger:
    """Spend per (tenant, day) in this process; used when the audit log is off."""

    persistent = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, str], tuple[int, float]] = {}

    def spent(self, tenant: str, day: str) -> tuple[int, float]:
        with self._lock:
            return self._spent.get((tenant, day), (0, 0.0))

    def add(self, tenant: str, day: str, tokens: int, cost: float | None) -> None:
        with self._lock:
            used, paid = self._spent.get((tenant, day), (0, 0.0))
            self._spent[(tenant, day)] = (used + tokens, paid + (cost or 0.0))


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / _CHARS_PER_TOKEN)


def output_limit(requested: int | None, policy_cap: int | None) -> int | None:
    """The output cap for one call: the policy's, lowered (never raised) by the caller's."""
    given = [limit for limit in (requested, policy_cap) if limit is not None]
    return min(given) if given else None


def _utc_today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class BudgetGuard:
    """Checks and records one policy's per-tenant daily budget."""

    def __init__(self, config: Any, *, ledger: Any = None, today: Callable[[], str] | None = None) -> None:
        self.config = config
        self.tenant: str = config.tenant
        self._ledger = ledger if ledger is not None else MemoryLedger()
        self._today = today or getattr(self._ledger, "today", None) or _utc_today
        self._prices: PriceTable | None = None

    def __repr__(self) -> str:
        return (f"BudgetGuard(tenant={self.tenant!r}, daily_tokens={self.config.daily_tokens}, "
                f"daily_cost={self.config.daily_cost})")

    @property
    def prices(self) -> PriceTable:
        if self._prices is None:
            self._prices = _cached_table(self.config.prices)
        return self._prices

    @property
    def limited(self) -> bool:
        return self.config.daily_tokens is not None or self.config.daily_cost is not None

    def cost(self, model: str | None, usage: Usage | None) -> float | None:
        return self.prices.cost(model, usage)

    def check(self, model: str | None, prompt_chars: int) -> None:
        """Raise BudgetExceeded if this frontier call's prompt would take the tenant over a daily limit."""
        if not self.limited:
            return
        used_tokens, used_cost = self._ledger.spent(self.tenant, self._today())
        need = estimate_tokens(prompt_chars)
        limit = self.config.daily_tokens
        if limit is not None and used_tokens + need > limit:
            raise BudgetExceeded(
                f"daily token budget of tenant {self.tenant!r} would be exceeded "
                f"(used {used_tokens} of {limit}; this call needs about {need})", scope="tokens")
        cap = self.config.daily_cost
        if cap is not None:
            price = self.prices.price(model)
            if price is None:
                raise ConfigurationError(
                    f"budget.daily_cost is set but model {model!r} has no price in {self.prices.source}")
            estimate = self.prices.cost(model, Usage(need, 0)) or 0.0
            if used_cost + estimate > cap:
                raise BudgetExceeded(
                    f"daily cost budget of tenant {self.tenant!r} would be exceeded "
                    f"(spent ${used_cost:.4f} of ${cap:.4f}; this call may cost about ${estimate:.4f})",
                    scope="cost")

    def record(self, usage: Usage | None, cost: float | None) -> None:
        """Count a finished frontier call (the audit record counts itself when it is the ledger)."""
        if usage is None or getattr(self._ledger, "persistent", False):
            return
        self._ledger.add(self.tenant, self._today(), usage.total_tokens, cost)
