"""The pseudonym mapping of a batch (token -> value), kept only encrypted.

The file is ``privroute-mapping v1``, a random salt, and a Fernet token
(AES-128-CBC + HMAC-SHA256) under a key derived from the user's passphrase with
scrypt. A wrong key or a modified file fails authentication: nothing is guessed.
The clear mapping exists only in memory.

With ``--consistent`` a rerun continues the same placeholders: the mapping is
replayed into a fresh Vault through its public API, and the result is checked
token by token, so a mapping that cannot be continued exactly is refused.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..detect.base import Entity
from ..errors import MappingError, MissingDependency
from ..vault import ISSUED_TOKEN, Vault

__all__ = ["MappingError", "MIN_KEY_CHARS", "check_key", "load_mapping", "save_mapping", "vault_entries", "vault_from_entries"]

_MAGIC = b"privroute-mapping v1\n"
MIN_KEY_CHARS = 16


def check_key(passphrase: str | bytes) -> bytes:
    """The key as bytes; MappingError when it is too short to protect anything."""
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if len(secret) < MIN_KEY_CHARS:
        raise MappingError(f"the mapping key must be at least {MIN_KEY_CHARS} characters")
    return secret


def _fernet(passphrase: str | bytes, salt: bytes) -> Any:
    try:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as exc:
        raise MissingDependency("cryptography", "batch") from exc
    secret = check_key(passphrase)
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def save_mapping(path: Path, passphrase: str | bytes, payload: Mapping[str, Any], *, writer: Any) -> None:
    """Encrypt ``payload`` (JSON) and write it atomically with ``writer(path, bytes)``."""
    salt = os.urandom(16)
    token = _fernet(passphrase, salt).encrypt(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    writer(path, _MAGIC + base64.b64encode(salt) + b"\n" + token + b"\n")


def load_mapping(path: Path, passphrase: str | bytes) -> dict[str, Any]:
    """Decrypt a mapping file. MappingError when the key is wrong or the file is not one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"cannot read mapping file {path} ({exc.strerror})") from None
    if not data.startswith(_MAGIC):
        raise MappingError(f"{path} is not a privroute mapping file")
    try:
        salt_line, token = data[len(_MAGIC):].split(b"\n", 1)
        salt = base64.b64decode(salt_line, validate=True)
    except ValueError:
        raise MappingError(f"{path} is damaged") from None
    from cryptography.fernet import InvalidToken

    try:
        clear = _fernet(passphrase, salt).decrypt(token.strip())
    except InvalidToken:
        raise MappingError(f"the key does not open {path} (wrong key, or the file was modified)") from None
    return json.loads(clear.decode("utf-8"))


def vault_entries(vault: Vault) -> dict[str, dict[str, str]]:
    """token -> {"type", "value"} for everything a vault issued."""
    return {token: {"type": type_, "value": vault.restore(token)} for token, type_ in vault.tokens().items()}


def vault_from_entries(entries: Mapping[str, Mapping[str, str]]) -> Vault:
    """A Vault that issued exactly ``entries`` and will continue numbering after them."""
    vault = Vault()
    keys: dict[str, set[int]] = {}
    ordered = []
    for token, entry in entries.items():
        match = ISSUED_TOKEN.fullmatch(token)
        if match is None or not entry.get("value"):
            raise MappingError("mapping holds a malformed entry; it cannot be continued")
        keys.setdefault(match["type"], set()).add(int(match["num"]))
        ordered.append((match["type"], int(match["num"]), entry["value"]))
    # Numbers skipped the first time (reserved for look-alikes in the input) stay skipped.
    gaps = [f"<{t}_{n}>" for t, numbers in keys.items() for n in range(1, max(numbers)) if n not in numbers]
    if gaps:
        vault.redact(" ".join(gaps), ())
    for type_, _, value in sorted(ordered):
        vault.redact(value, (Entity(0, len(value), type_),))
    if vault_entries(vault) != {t: {"type": ISSUED_TOKEN.fullmatch(t)["type"], "value": e["value"]}  # type: ignore[index]
                                for t, e in entries.items()}:
        raise MappingError("mapping cannot be continued exactly; rerun with --force and a new mapping file")
    return vault
