"""Audit events for the audit and store tests: one builder, so both suites write the same records."""

from __future__ import annotations

from typing import Any

from privroute.audit import AuditEvent

KEY = b"test-audit-key"


def make_event(n: int = 0, **fields: Any) -> AuditEvent:
    """An answered redact call; ``n`` varies the counts, ``fields`` override any field."""
    base: dict[str, Any] = dict(outcome="answered", policy="general", policy_hash="h" * 64, tenant="acme",
                                action="redact", sensitivity="confidential", reasons=("pii-present",),
                                entities={"PERSON": 1 + n % 3}, target="frontier", backend="frontier",
                                model="gpt-4o-mini", attempts=1, prompt_tokens=10 + n, completion_tokens=5,
                                cost=0.0001 * n, latency_s=0.01 * n)
    base.update(fields)
    return AuditEvent(**base)
