"""HTTPS for the proxy: uvicorn's TLS options from the serve config, checked before anything listens.

Keys travel in every request's ``Authorization`` header, so a proxy that other
machines reach should serve HTTPS (``serve --tls-cert CERT --tls-key KEY``, or
``tls_cert``/``tls_key`` in the config) or sit behind a proxy that terminates TLS.
Without keys (``--no-auth``) or with the example config's published keys the
proxy never listens beyond this machine (``ServeConfig`` refuses it).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .config import ServeConfig, is_loopback

__all__ = ["ssl_options", "warn_plaintext"]

log = logging.getLogger("privroute.server")


def ssl_options(config: ServeConfig) -> dict[str, Any]:
    """``ssl_certfile``/``ssl_keyfile`` for uvicorn (empty without TLS); ConfigurationError when unusable."""
    if config.tls_cert is None or config.tls_key is None:
        return {}
    for what, name in (("tls_cert", config.tls_cert), ("tls_key", config.tls_key)):
        if not Path(name).expanduser().is_file():
            raise ConfigurationError(f"{what}: no such file: {name}")
    try:  # load now, so a wrong pair stops the start with one line instead of uvicorn's traceback
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            str(Path(config.tls_cert).expanduser()), str(Path(config.tls_key).expanduser()))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"tls_cert/tls_key cannot be used together ({type(exc).__name__})") from None
    return {"ssl_certfile": str(Path(config.tls_cert).expanduser()),
            "ssl_keyfile": str(Path(config.tls_key).expanduser())}


def warn_plaintext(config: ServeConfig) -> None:
    """Say so when API keys would cross the network in clear text."""
    if not config.tls and not is_loopback(config.host):
        log.warning("serving HTTP on %s: API keys travel in clear text; give --tls-cert/--tls-key or terminate "
                    "TLS in front of the proxy", config.host)
