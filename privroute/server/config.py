"""Typed configuration for ``privroute serve``: where to listen, who may call, limits.

API keys are never stored in the config, only their hashes (``sha256:<64 hex>``).
Proxy keys are random, high-entropy secrets, so a fast unsalted hash is enough to
make a leaked config useless for calling the proxy (the same reasoning as GitHub's
token storage); a slow password hash would only add latency to every request.

A config that cannot be loaded raises ConfigurationError naming the file and key:
the server does not start (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ..errors import ConfigurationError
from ..yamlsource import line_for, yaml_lines

__all__ = [
    "PUBLISHED_KEY_HASHES",
    "ServeConfig",
    "ServeLimits",
    "TenantConfig",
    "hash_api_key",
    "is_key_hash",
    "is_loopback",
    "load_serve_config",
    "single_tenant_config",
]

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_CONFIG_BYTES = 1_000_000
PUBLISHED_KEY_HASHES = frozenset({
    # The keys examples/serve.yaml and the docs print: anyone can read them, so they may
    # only ever open a proxy on this machine (a test checks the example file's hashes are here).
    "sha256:f5e999641ef2834869f1e9e34412d7bc741db009f09b81e35a26722e8ad8159e",  # sk-example-acme-change-me
    "sha256:160248001f19eca63e0e56346d633819bf05a31e5364b60b93822a701df68d71",  # sk-example-clinic-change-me
})


def hash_api_key(key: str) -> str:
    """The form a key takes in the config: ``sha256:<hex>``."""
    if not key or key != key.strip():
        raise ConfigurationError("an API key must be non-empty, without surrounding whitespace")
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_key_hash(text: str) -> bool:
    """Whether ``text`` has the form of a stored key hash (``sha256:<64 lowercase hex>``)."""
    return bool(_HASH.match(text))


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere: not loopback


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hashed_key(key: str) -> str:
    if not _HASH.match(key):
        # Never echo the value: it may be a plaintext key pasted by mistake.
        raise ValueError("not a 'sha256:<64 lowercase hex>' hash (store hashes, never keys; "
                         "see privroute serve --hash-key)")
    return key


class TenantConfig(_Strict):
    """One caller (team, app): its keys and the policy its requests are routed by."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    policy: str = Field(min_length=1)
    """A shipped policy name or a YAML path (relative paths: relative to the config file)."""
    api_keys: tuple[Annotated[str, AfterValidator(_hashed_key)], ...] = ()
    """Hashes of the tenant's keys, ``sha256:<64 hex>`` (see ``privroute serve --hash-key``)."""
    max_body_bytes: int | None = Field(None, ge=1024)
    """This tenant's own body limit (at most the server's ``limits.max_body_bytes``)."""
    concurrency: int | None = Field(None, ge=1, le=1024)
    """This tenant's own limit on requests in flight (default: ``limits.tenant_concurrency``)."""


class ServeLimits(_Strict):
    max_body_bytes: int = Field(1_000_000, ge=1024)
    """Request bodies larger than this are refused with 413 before they are parsed."""
    local_concurrency: int = Field(1, ge=1, le=64)
    """Local model calls running at once (llama.cpp runs one call per model at a time)."""
    local_queue_size: int = Field(8, ge=0, le=10_000)
    """Local calls allowed to wait for a slot; beyond that the answer is 429."""
    retry_after_s: int = Field(2, ge=1, le=3600)
    """The Retry-After sent with a 429 when the local queue is full."""
    worker_threads: int = Field(64, ge=1, le=1024)
    """Threads for blocking work (detection, model calls) across all requests."""
    max_tokens: int | None = Field(None, ge=1)
    """Upper bound on any request's max_tokens (the policy's own caps still apply)."""
    tenant_concurrency: int | None = Field(None, ge=1, le=1024)
    """Requests one tenant may have in flight (detection, model call, stream); beyond: 429.
    None: half the worker threads the local queue leaves, or all of them with one tenant."""
    detect_budget_s: float | None = Field(30.0, gt=0, le=3600)
    """Detection time budget per request; a tenant policy's ``limits.detect_budget_s`` can only
    shorten it. Past it the request fails closed as the policy says (DetectionTimeout, or local)."""
    detect_processes: int = Field(1, ge=0, le=64)
    """Worker processes that detect long texts (``offload_chars`` or more) outside the server's
    GIL, one chunk at a time, round-robin over tenants; 0: every text is detected in process."""
    offload_chars: int = Field(2000, ge=1)
    """Texts at least this long go to the detection workers; shorter ones stay in process."""

    @property
    def free_threads(self) -> int:
        """Worker threads left when the local queue is full."""
        return self.worker_threads - self.local_concurrency - self.local_queue_size

    @model_validator(mode="after")
    def _threads_left_for_frontier(self) -> "ServeLimits":
        # Queued local calls each hold a worker thread; frontier calls need some left.
        if self.worker_threads <= self.local_concurrency + self.local_queue_size:
            raise ValueError("worker_threads must exceed local_concurrency + local_queue_size, so that "
                             "frontier requests never wait behind queued local calls")
        # One busy tenant must leave threads for the others.
        if self.tenant_concurrency is not None and self.tenant_concurrency >= self.free_threads:
            raise ValueError("tenant_concurrency must be below worker_threads - local_concurrency - "
                             "local_queue_size, so that one tenant cannot take every worker thread")
        return self


class ServeConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    no_auth: bool = False
    """Serve without keys: one tenant, loopback only."""
    tenants: tuple[TenantConfig, ...] = Field(min_length=1)
    limits: ServeLimits = ServeLimits()
    warm: bool = True
    """Load each tenant's detector at startup, so the first request is not slow."""
    admin_keys: tuple[Annotated[str, AfterValidator(_hashed_key)], ...] = ()
    """Hashes of the keys that open ``/dashboard`` (never a tenant's key; see ``privroute serve --hash-key``)."""
    database_url: str | None = None
    """The audit and budget store of every tenant, e.g. ``postgresql://privroute@db/privroute``: what several
    replicas or ``--workers`` share (``PRIVROUTE_DATABASE_URL`` wins; default: each policy's audit block)."""
    tls_cert: str | None = None
    """PEM certificate (chain) to serve HTTPS with; needs ``tls_key`` (``serve --tls-cert``)."""
    tls_key: str | None = None
    """PEM private key of ``tls_cert``."""
    source: str | None = Field(None, exclude=True)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @model_validator(mode="after")
    def _tenant_limits_fit(self) -> "ServeConfig":
        limits = self.limits
        threads = limits.free_threads
        for tenant in self.tenants:
            if tenant.max_body_bytes is not None and tenant.max_body_bytes > limits.max_body_bytes:
                raise ValueError(f"tenant {tenant.name!r}: max_body_bytes is above limits.max_body_bytes")
            if tenant.concurrency is not None and tenant.concurrency >= threads:
                raise ValueError(f"tenant {tenant.name!r}: concurrency must be below worker_threads - "
                                 "local_concurrency - local_queue_size")
        return self

    def body_limit(self, tenant: TenantConfig) -> int:
        return tenant.max_body_bytes or self.limits.max_body_bytes

    def concurrency_limit(self, tenant: TenantConfig) -> int:
        """Requests ``tenant`` may have in flight: its own limit, the server's, or (neither
        set) half the free threads, or all but one of them when it is the only tenant."""
        if tenant.concurrency is not None:
            return tenant.concurrency
        if self.limits.tenant_concurrency is not None:
            return self.limits.tenant_concurrency
        free = self.limits.free_threads
        return free - 1 if len(self.tenants) == 1 else max(1, free // 2)

    @model_validator(mode="after")
    def _auth_is_sound(self) -> "ServeConfig":
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError("tenant names must be unique")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if not is_loopback(self.host):
            published = [t.name for t in self.tenants if PUBLISHED_KEY_HASHES & set(t.api_keys)]
            published += ["admin_keys"] if PUBLISHED_KEY_HASHES & set(self.admin_keys) else []
            if published:
                # TLS would not help: these keys are printed in the docs for anyone to read.
                raise ValueError(f"{', '.join(published)}: the example config's published keys are refused on a "
                                 f"non-loopback host ({self.host}); make your own (privroute serve --hash-key)")
        if self.no_auth:
            if not is_loopback(self.host):
                raise ValueError(f"no_auth is refused on a non-loopback host ({self.host}); "
                                 "use tenants with api_keys")
            if len(self.tenants) != 1:
                raise ValueError("no_auth serves exactly one tenant")
            return self
        seen: dict[str, str] = {}
        for tenant in self.tenants:
            if not tenant.api_keys:
                raise ValueError(f"tenant {tenant.name!r} has no api_keys (or serve with no_auth on loopback)")
            for key in tenant.api_keys:
                if key in seen:
                    raise ValueError(f"the same key hash is listed for tenants {seen[key]!r} and {tenant.name!r}")
                seen[key] = tenant.name
        for key in self.admin_keys:
            if key in seen:
                raise ValueError(f"an admin key hash is also a key of tenant {seen[key]!r}: admin keys must be "
                                 "distinct from tenant keys")
        return self

    def tenant_for_key(self, presented: str | None) -> TenantConfig | None:
        """The tenant owning ``presented`` (a plaintext key), or None.

        Every stored hash is compared in constant time, so the answer's timing does
        not depend on which tenant (if any) matched.
        """
        if self.no_auth:
            return self.tenants[0]
        if not presented:
            return None
        digest = hash_api_key(presented.strip()) if presented.strip() else ""
        found = None
        for tenant in self.tenants:
            for stored in tenant.api_keys:
                if hmac.compare_digest(stored, digest):
                    found = tenant
        return found


def single_tenant_config(policy: str, *, host: str = "127.0.0.1", port: int = 8080,
                         limits: ServeLimits | None = None) -> ServeConfig:
    """The ``--policy P --no-auth`` setup: one tenant named ``default``, loopback only."""
    try:
        return ServeConfig(host=host, port=port, no_auth=True,
                           tenants=(TenantConfig(name="default", policy=policy),),
                           limits=limits or ServeLimits())
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, "--no-auth")) from None


def load_serve_config(source: "str | Path | Mapping[str, Any]") -> ServeConfig:
    """Load and validate a serve config (YAML file or mapping)."""
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(source, Mapping):
        data, where, base = dict(source), "<serve config>", None
    else:
        path = Path(source)
        where, base = str(path), path.resolve().parent
        try:
            if path.stat().st_size > _MAX_CONFIG_BYTES:
                raise ConfigurationError(f"{where}: config file is larger than {_MAX_CONFIG_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
            data = yaml.safe_load(text)
            lines = yaml_lines(text)
        except OSError as exc:
            raise ConfigurationError(f"{where}: cannot read config ({type(exc).__name__})") from None
        except UnicodeDecodeError:
            raise ConfigurationError(f"{where}: config is not UTF-8") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigurationError(f"{where}{line}: not valid YAML") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where}: the config must be a YAML mapping")
    if base is not None:
        data["tenants"] = [_resolve_policy_path(t, base) for t in data.get("tenants") or []]
    try:
        config = ServeConfig(**data)
    except (ValidationError, TypeError) as exc:
        message = _describe(exc, where, lines) if isinstance(exc, ValidationError) else f"{where}: {exc}"
        raise ConfigurationError(message) from None
    return config.model_copy(update={"source": where})


def _resolve_policy_path(tenant: Any, base: Path) -> Any:
    """Make a relative policy path relative to the config file, not the working dir."""
    if not isinstance(tenant, dict) or not isinstance(tenant.get("policy"), str):
        return tenant
    ref = tenant["policy"]
    if ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute():
        return {**tenant, "policy": str(base / ref)}
    return tenant


def _describe(exc: ValidationError, where: str, lines: dict[tuple[str, ...], int] | None = None) -> str:
    """One entry per problem: file:line, the dotted key and what is wrong, never the value.

    An error about a container whose items failed (``tenants`` "should have at least
    1 item" when its only tenant was refused) restates a problem already reported
    below it, so it is left out.
    """
    errors = exc.errors(include_input=False, include_url=False)
    locs = [tuple(str(part) for part in error["loc"]) for error in errors]
    problems = []
    for error, loc in zip(errors, locs, strict=True):
        if any(other[:len(loc)] == loc and len(other) > len(loc) for other in locs):
            continue
        line = line_for(lines or {}, loc)
        place = f"{where}:{line}" if line is not None else where
        key = ".".join(loc) or "<root>"
        message = "unknown key" if error.get("type") == "extra_forbidden" else error["msg"]
        problems.append(f"{place}: {key}: {message.removeprefix('Value error, ')}")
    count = f"{len(problems)} problems: " if len(problems) > 1 else ""
    return f"invalid serve config: {count}" + "; ".join(problems)
