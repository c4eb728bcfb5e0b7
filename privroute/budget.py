"""Budgets: output tokens per call, tokens and cost per tenant per UTC day.

* Per call: ``frontier.max_output_tokens`` caps what the frontier may generate
  (``output_limit``); the caller's own ``max_tokens`` can only lower it.
* Per tenant per day (``budget.daily_tokens``, ``budget.daily_cost``): before a
  frontier call, ``BudgetGuard.reserve`` atomically checks what the tenant has
  spent today, plus what its calls in flight *hold*, plus this call's prompt
  (characters / 4), and if that fits, holds this call's prompt plus its output
  cap until the call's audit record settles it (in the same transaction, with
  the actual usage). Over budget, ``budget.on_exceed`` decides: ``block`` raises
  BudgetExceeded, ``local`` answers on the local model. Only frontier calls
  spend: the local model is free.
* The answer's tokens need not fit for a call to start (that would make the last
  part of every budget unusable), so a tenant's day can end over its limit by
  the output of the one call admitted last, across every process and replica
  sharing the ledger. Without an output cap a call holds only its prompt, and
  calls in flight together can overshoot by what they generate.
* Spend comes from the backend's usage figures, priced from a YAML table
  (``prices.yaml`` shipped with privroute, or ``budget.prices``). When the audit
  log is on, its store is the ledger (SQLite for one machine, PostgreSQL for
  replicas: budgets hold across processes and restarts); otherwise an
  in-process ledger counts.
"""

from __future__ import annotations

import math
import threading
import uuid
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
    """Where a tenant's daily spend is kept (the stores in ``privroute.stores`` and MemoryLedger)."""

    persistent: bool

    def spent(self, tenant: str, day: str) -> tuple[int, float]: ...

    def reserve(self, tenant: str, day: str, tokens: int, cost: float,
                decide: Callable[[int, float], None]) -> str: ...

    def release(self, hold: str) -> None: ...


class MemoryLedger:
    """Spend per (tenant, day) in this process; used when the audit log is off."""

    persistent = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, str], tuple[int, float]] = {}
        self._holds: dict[str, tuple[str, str, int, float]] = {}

    def spent(self, tenant: str, day: str) -> tuple[int, float]:
        with self._lock:
            return self._spent.get((tenant, day), (0, 0.0))

    def reserve(self, tenant: str, day: str, tokens: int, cost: float,
                decide: Callable[[int, float], None]) -> str:
        with self._lock:
            used, paid = self._spent.get((tenant, day), (0, 0.0))
            for who, when, held, held_cost in self._holds.values():
                if (who, when) == (tenant, day):
                    used, paid = used + held, paid + held_cost
            decide(used, paid)
            hold = uuid.uuid4().hex
            self._holds[hold] = (tenant, day, tokens, cost)
            return hold

    def release(self, hold: str) -> None:
        with self._lock:
            self._holds.pop(hold, None)

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

    def __init__(self, config: Any, *, ledger: Any = None, today: Callable[[], str] | None = None,
                 tenant: str | None = None) -> None:
        self.config = config
        self.tenant: str = tenant or config.tenant
        """Whose day is counted: the proxy's tenant, else the policy's ``budget.tenant``."""
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

    def _decider(self, model: str | None, prompt_chars: int) -> tuple[int, float, Callable[[int, float], None]]:
        """(prompt tokens, prompt cost, the check given what is used) for one frontier call."""
        need = estimate_tokens(prompt_chars)
        limit, cap = self.config.daily_tokens, self.config.daily_cost
        estimate = 0.0
        if cap is not None:
            if self.prices.price(model) is None:
                raise ConfigurationError(
                    f"budget.daily_cost is set but model {model!r} has no price in {self.prices.source}")
            estimate = self.prices.cost(model, Usage(need, 0)) or 0.0

        def decide(used_tokens: int, used_cost: float) -> None:
            if limit is not None and used_tokens + need > limit:
                raise BudgetExceeded(
                    f"daily token budget of tenant {self.tenant!r} would be exceeded "
                    f"(used {used_tokens} of {limit}; this call needs about {need})", scope="tokens")
            if cap is not None and used_cost + estimate > cap:
                raise BudgetExceeded(
                    f"daily cost budget of tenant {self.tenant!r} would be exceeded "
                    f"(spent ${used_cost:.4f} of ${cap:.4f}; this call may cost about ${estimate:.4f})",
                    scope="cost")
        return need, estimate, decide

    def check(self, model: str | None, prompt_chars: int) -> None:
        """Raise BudgetExceeded if this frontier call's prompt would take the tenant over a daily limit.

        A check only: nothing is held (``reserve`` is what a call in flight uses).
        """
        if not self.limited:
            return
        _, _, decide = self._decider(model, prompt_chars)
        decide(*self._ledger.spent(self.tenant, self._today()))

    def reserve(self, model: str | None, prompt_chars: int, output_cap: int | None) -> str | None:
        """Check and hold this call's prompt plus its output cap, atomically across every user of the ledger.

        Returns the hold (settled by the call's audit record, or ``release``), or None when no
        daily limit is set. Raises BudgetExceeded.
        """
        if not self.limited:
            return None
        need, estimate, decide = self._decider(model, prompt_chars)
        cap_tokens = output_cap or 0
        hold_cost = estimate
        if self.config.daily_cost is not None and cap_tokens:
            hold_cost = self.prices.cost(model, Usage(need, cap_tokens)) or estimate
        return self._ledger.reserve(self.tenant, self._today(), need + cap_tokens, hold_cost, decide)

    def release(self, hold: str | None) -> None:
        """Drop a hold without recording spend (the ledger's own record settles it otherwise)."""
        if hold is not None:
            self._ledger.release(hold)

    @property
    def settled_by_audit(self) -> bool:
        """True when the audit record settles holds (the ledger is the audit store)."""
        return bool(getattr(self._ledger, "persistent", False))

    def record(self, usage: Usage | None, cost: float | None) -> None:
        """Count a finished frontier call (the audit record counts itself when it is the ledger)."""
        if usage is None or getattr(self._ledger, "persistent", False):
            return
        self._ledger.add(self.tenant, self._today(), usage.total_tokens, cost)
