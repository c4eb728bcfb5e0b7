"""``serve --workers N``: several uvicorn worker processes, which only the PostgreSQL store can serve.

Each worker is a separate process with its own budgets and audit connection, so
they must share one database: on SQLite every worker would chain its own records
into one file through a lock meant for one writer per machine, and budgets kept
in process (audit off) would be multiplied by N. ``shared_store_problems`` names
the tenants that stop N > 1; the workers rebuild the validated config from the
environment (uvicorn starts them by import string).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..policy import load_policy
from ..stores import is_postgres, resolve_location
from .config import ServeConfig

ENV_CONFIG = "PRIVROUTE_SERVE_CONFIG_JSON"


def shared_store_problems(config: ServeConfig) -> list[str]:
    """Why this config cannot run in several processes (empty when every tenant uses PostgreSQL)."""
    problems = []
    for tenant in config.tenants:
        policy = load_policy(tenant.policy)
        if policy.audit.enabled:
            location = resolve_location(config.database_url or policy.audit.url, policy.audit.path)
            if not is_postgres(location):
                problems.append(f"tenant {tenant.name!r} keeps its audit log and budgets in SQLite ({location})")
        elif policy.budget.daily_tokens is not None or policy.budget.daily_cost is not None:
            problems.append(f"tenant {tenant.name!r} has audit off, so its budget is counted per process")
    return problems


def export_config(config: ServeConfig) -> None:
    """Hand the validated config to the worker processes (they inherit the environment)."""
    os.environ[ENV_CONFIG] = json.dumps({"config": config.model_dump(mode="json"), "source": config.source})


def app_from_env() -> Any:
    """The uvicorn factory each worker calls."""
    from . import create_app

    data = json.loads(os.environ[ENV_CONFIG])
    config = ServeConfig(**data["config"]).model_copy(update={"source": data["source"]})
    return create_app(config)
