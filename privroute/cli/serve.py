"""``privroute serve``: the OpenAI-compatible privacy proxy on uvicorn.

    privroute serve --config serve.yaml
    privroute serve --policy healthcare --no-auth [--host 127.0.0.1] [--port 8080]
    privroute serve --config serve.yaml --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem
    printf %s "$KEY" | privroute serve --hash-key     # the line to put in api_keys
    PRIVROUTE_DATABASE_URL=postgresql://... privroute serve --config serve.yaml --workers 4
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import ConfigurationError, MissingDependency
from ..server.config import (
    ServeConfig,
    hash_api_key,
    is_loopback,
    load_serve_config,
    single_tenant_config,
)
from .common import EXIT_USAGE, fail, handle_errors

__all__ = ["serve_command"]


@click.command("serve")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Serve config YAML: host, port, tenants (hashed API keys -> policy), limits.")
@click.option("--policy", "-p", default=None, help="Serve one policy without keys (needs --no-auth).")
@click.option("--no-auth", is_flag=True, help="Accept requests without an API key; loopback hosts only.")
@click.option("--host", default=None, help="Address to bind (default: the config's, or 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: the config's, or 8080).")
@click.option("--hash-key", is_flag=True, help="Read an API key on stdin, print its hash for api_keys, and exit.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), default=None,
              help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.")
@click.option("--tls-key", type=click.Path(dir_okay=False), default=None, help="The certificate's PEM private key.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="uvicorn worker processes; more than 1 needs the PostgreSQL store (PRIVROUTE_DATABASE_URL).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@handle_errors
def serve_command(config_path: str | None, policy: str | None, no_auth: bool, host: str | None,
                  port: int | None, hash_key: bool, tls_cert: str | None, tls_key: str | None, workers: int,
                  log_level: str) -> None:
    """Run the OpenAI-compatible privacy proxy (chat completions, responses, embeddings)."""
    if hash_key:
        key = sys.stdin.readline().rstrip("\r\n")
        click.echo(hash_api_key(key))
        return
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", EXIT_USAGE)
    config = _build_config(config_path, policy, no_auth, host, port)
    if tls_cert is not None:
        config = config.model_copy(update={"tls_cert": tls_cert, "tls_key": tls_key})
    from ..server.tls import ssl_options, warn_plaintext

    tls = ssl_options(config)
    if workers > 1:
        from ..server.workers import export_config, shared_store_problems

        problems = shared_store_problems(config)
        if problems:
            fail(f"--workers {workers} needs one shared database: {problems[0]}; set "
                 "PRIVROUTE_DATABASE_URL=postgresql://... (or database_url in the serve config), or use --workers 1",
                 EXIT_USAGE)
        export_config(config)
    try:
        import uvicorn

        from ..server import create_app
    except ImportError as exc:
        raise MissingDependency("starlette/uvicorn", "serve") from exc
    logging.basicConfig(level=getattr(logging, log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    app = create_app(config)
    warn_plaintext(config)
    auth = "no auth (loopback only)" if config.no_auth else f"{len(config.tenants)} tenant(s), API keys required"
    scheme = "https" if tls else "http"
    click.echo(f"privroute proxy on {scheme}://{config.host}:{config.port}/v1 ({auth})", err=True)
    if workers > 1:
        # Each worker builds its app from the exported config (uvicorn starts workers by import string).
        uvicorn.run("privroute.server.workers:app_from_env", factory=True, workers=workers, host=config.host,
                    port=config.port, log_level=log_level, access_log=False, **tls)
        return
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level, access_log=False, **tls)


def _build_config(config_path: str | None, policy: str | None, no_auth: bool, host: str | None,
                  port: int | None) -> ServeConfig:
    if config_path and policy:
        fail("give --config FILE or --policy P, not both", EXIT_USAGE)
    if not config_path and not policy:
        fail("give --config FILE, or --policy P --no-auth for one local tenant", EXIT_USAGE)
    if no_auth and not is_loopback(host or "127.0.0.1"):
        fail(f"--no-auth is refused on a non-loopback host ({host}); use --config with tenant API keys",
             EXIT_USAGE)
    if policy:
        if not no_auth:
            fail("--policy serves without API keys: add --no-auth (loopback only), or use --config with tenants",
                 EXIT_USAGE)
        return single_tenant_config(policy, host=host or "127.0.0.1", port=8080 if port is None else port)
    if no_auth:
        fail("--no-auth goes with --policy; in a config file set 'no_auth: true'", EXIT_USAGE)
    assert config_path is not None
    config = load_serve_config(config_path)
    if host is None and port is None:
        return config
    overrides = {"host": host or config.host, "port": config.port if port is None else port}
    try:
        return ServeConfig(**{**config.model_dump(), **overrides}).model_copy(update={"source": config.source})
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        why = str(errors()[0]["msg"]).removeprefix("Value error, ") if callable(errors) else type(exc).__name__
        raise ConfigurationError(f"{config_path}: the --host/--port overrides make the config invalid: {why}") \
            from None
