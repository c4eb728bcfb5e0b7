"""The blocks of a policy that configure where calls go and what they may cost:
the frontier and local models, the audit trail, budgets, embeddings and limits.

Split from ``policy.py`` (which re-exports every class here) so that each module stays
small; the classification and detection models and the loading live there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditConfig", "BudgetConfig", "EmbeddingsConfig", "FrontierConfig", "Limits", "LocalConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrontierConfig(_Strict):
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_attempts: int = Field(3, ge=1, le=20)
    deadline_s: float = Field(60.0, gt=0, le=3600)
    max_output_tokens: int | None = Field(None, ge=1)
    fallback: Literal["none", "local"] = "none"
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_max_s: float = Field(8.0, ge=0, le=600)
    retry_after_max_s: float = Field(30.0, ge=0, le=3600)
    breaker_failures: int = Field(5, ge=1, le=1000)
    """Consecutive failed attempts on one endpoint that open its circuit."""
    breaker_cooldown_s: float = Field(30.0, ge=0, le=3600)


class LocalConfig(_Strict):
    model: str = "smollm2-135m-instruct"
    n_gpu_layers: int = Field(0, ge=-1)
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)
    max_output_tokens: int = Field(256, ge=1)
    base_url: str | None = None
    seed: int = 0
    workers: int = Field(1, ge=1, le=64)
    """Worker processes serving the model (each loads it once); calls beyond that wait for a free one."""
    deadline_s: float = Field(120.0, gt=0, le=3600)
    """Bound on one local call (waiting for a worker, loading, answering), the frontier fallback included."""
    on_overflow: Literal["refuse", "keep_recent"] = "refuse"
    """A prompt longer than n_ctx leaves for it: refuse (ContextOverflow) or keep its most recent part."""


class AuditConfig(_Strict):
    enabled: bool = True
    path: str | None = None
    """A SQLite file (``PRIVROUTE_AUDIT_DB`` wins)."""
    url: str | None = None
    """A shared database, ``postgresql://user@host/db`` (``PRIVROUTE_DATABASE_URL`` wins); beats ``path``."""
    required: bool = False
    """When true, a call whose audit record cannot be written is refused."""


class BudgetConfig(_Strict):
    tenant: str = "default"
    daily_tokens: int | None = Field(None, ge=1)
    daily_cost: float | None = Field(None, ge=0)
    on_exceed: Literal["block", "local"] = "block"
    prices: str | None = None
    """Path of a price table YAML; default: the one shipped with privroute."""


class EmbeddingsConfig(_Strict):
    """What ``/v1/embeddings`` (``Router.embed``) does with a tenant's texts.

    One action for every input, because vectors from two models cannot share an index:
    ``redact`` embeds at the frontier after redaction (blocked input is refused, and so is
    input the policy routes local: regulated text never reaches the frontier);
    ``local`` embeds every input with the local model (nothing leaves the machine);
    ``refuse`` serves no embeddings.
    """

    action: Literal["redact", "local", "refuse"] = "redact"
    model: str = "text-embedding-3-small"
    """The frontier's embedding model (``redact``); requests may name it or ``privroute``."""


class Limits(_Strict):
    max_prompt_chars: int = Field(1_000_000, ge=1)
    detect_budget_s: float | None = Field(60.0, gt=0, le=3600)
    """Wall-clock seconds detection may take for one request (all its messages) or one
    batch document; past it the work stops (DetectionTimeout). None: no budget."""
    on_detect_timeout: Literal["block", "local"] = "block"
    """What a request whose detection ran out of time gets: ``block`` raises
    DetectionTimeout, ``local`` sends it raw to the local model only. Never the frontier."""
