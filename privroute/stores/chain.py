"""The audit chain itself, whatever database holds it: record hashes, signatures, checkpoints, verify.

A record's ``hash`` is sha256 over its canonical JSON (every column but ``hash``
and ``sig``), and that JSON includes ``prev_hash``: each record commits to the
whole chain before it. With ``PRIVROUTE_AUDIT_KEY``:

* each record's hash is signed (``sig``): a rebuilt chain needs the key;
* the head (last sequence number = the record count, and last hash) is signed
  with the store's id: cutting the tail and rewriting the head needs the key;
* every ``CHECKPOINT_EVERY`` records a signed checkpoint is stored;
* ``verify`` hands back a signed checkpoint token for the head it verified.
  Kept outside the database, that token is the anchor that shows a rolled-back
  or replaced database later (``verify(since=token)``): nothing stored inside a
  database can prove the database itself was not swapped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AuditError

GENESIS = "0" * 64
ENV_KEY = "PRIVROUTE_AUDIT_KEY"
CHECKPOINT_EVERY = 256

# name -> (SQLite type, PostgreSQL type). The order is the record's column order.
COLUMNS: dict[str, tuple[str, str]] = {
    "seq": ("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY"),
    "ts": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "day": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "tenant": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "policy": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "policy_hash": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "outcome": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "action": ("TEXT", "TEXT"),
    "sensitivity": ("TEXT", "TEXT"),
    "reasons": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "entities": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "target": ("TEXT", "TEXT"),
    "backend": ("TEXT", "TEXT"),
    "model": ("TEXT", "TEXT"),
    "attempts": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "prompt_tokens": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "completion_tokens": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "cost": ("REAL", "DOUBLE PRECISION"),
    "latency_s": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "error": ("TEXT", "TEXT"),
    "fallback_reason": ("TEXT", "TEXT"),
    "truncated": ("INTEGER NOT NULL", "INTEGER NOT NULL"),
    "stream": ("INTEGER NOT NULL", "INTEGER NOT NULL"),
    "prompt_hmac": ("TEXT", "TEXT"),
    "sent_hmac": ("TEXT", "TEXT"),
    "loosened": ("TEXT", "TEXT"),
    "frontier_status": ("INTEGER", "BIGINT"),
    "prev_hash": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "hash": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "sig": ("TEXT", "TEXT"),
}
NAMES = tuple(COLUMNS)
_UNHASHED = ("hash", "sig")
ADDED = ("loosened", "frontier_status")
"""Columns added after the first release: NULL in older records, and left out of the hashed
body while NULL, so records written before they existed still verify."""


def key_from_env() -> bytes | None:
    value = os.environ.get(ENV_KEY)
    return value.encode("utf-8") if value else None


def canonical(record: Mapping[str, Any]) -> bytes:
    body = {k: record.get(k) for k in NAMES if k not in _UNHASHED and not (k in ADDED and record.get(k) is None)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign_record(key: bytes, digest: str) -> str:
    return _mac(key, "record:" + digest)


def sign_head(key: bytes, store_id: str, seq: int, digest: str) -> str:
    # The count (seq) and the store id are signed with the hash: a cut tail, a rewritten
    # head and a head copied from another database all fail.
    return _mac(key, f"head:{store_id}:{seq}:{digest}")


def sign_checkpoint(key: bytes, store_id: str, seq: int, digest: str) -> str:
    return _mac(key, f"checkpoint:{store_id}:{seq}:{digest}")


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a, b)


@dataclass(frozen=True)
class Checkpoint:
    """A verified point of the chain: store, record count, hash, and (with a key) a signature."""

    store_id: str
    seq: int
    hash: str
    sig: str | None = None

    _FORM = re.compile(r"^ckpt1:(?P<store>[0-9a-f-]{8,64}):(?P<seq>\d+):(?P<hash>[0-9a-f]{64}):(?P<sig>[0-9a-f]{64}|-)$")

    def token(self) -> str:
        return f"ckpt1:{self.store_id}:{self.seq}:{self.hash}:{self.sig or '-'}"

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        match = cls._FORM.match(text.strip())
        if not match:
            raise AuditError("not a checkpoint token (expected ckpt1:STORE:SEQ:HASH:SIG, as `audit verify` prints)")
        sig = None if match["sig"] == "-" else match["sig"]
        return cls(match["store"], int(match["seq"]), match["hash"], sig)

    @classmethod
    def signed(cls, key: bytes | None, store_id: str, seq: int, digest: str) -> "Checkpoint":
        return cls(store_id, seq, digest, sign_checkpoint(key, store_id, seq, digest) if key else None)

    def signature_ok(self, key: bytes) -> bool:
        return _same(self.sig, sign_checkpoint(key, self.store_id, self.seq, self.hash))


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    sig: str | None


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` with the record count, or the first bad record and what is wrong with it."""

    ok: bool
    records: int
    first_bad: int | None = None
    problem: str | None = None
    signatures: str = "unchecked"
    """"checked" when a key was given and records were signed, else "unchecked"."""
    checkpoint: str | None = None
    """Token of the verified head (``verify(since=...)`` starts there); None when not ok."""
    since: int = 0
    """The checkpoint's record number the walk started after (0: from the first record)."""


@dataclass(frozen=True)
class Snapshot:
    """What a verify walk reads, in one consistent read transaction of a store."""

    store_id: str | None
    """None for a store from before schema 2 (no store id, unsigned head)."""
    head: Head | None
    rows: Callable[[int], Iterable[Mapping[str, Any]]]
    """rows(after_seq): the records after that number, in seq order."""
    row: Callable[[int], Mapping[str, Any] | None]
    checkpoint: Callable[[int], Checkpoint | None]
    """The stored checkpoint at a record number (for ``since=SEQ``)."""


def _start(snapshot: Snapshot, since: "Checkpoint | int | None", key: bytes | None) -> tuple[int, str] | str:
    """Where the walk starts: (seq, hash) after a trusted checkpoint, or a problem."""
    if since is None or since == 0:
        return 0, GENESIS
    if isinstance(since, int):
        stored = snapshot.checkpoint(since)
        if stored is None:
            return f"no stored checkpoint at record {since}"
        since = stored
    if key is not None and since.sig is not None and not since.signature_ok(key):
        return "the checkpoint's signature is invalid: forged, or made with a different key"
    if key is not None and since.sig is None:
        return "the checkpoint is unsigned but a key was given: use a checkpoint printed with the key"
    if snapshot.store_id != since.store_id:
        return (f"this is a different database (store {snapshot.store_id or 'without an id'}) than the "
                f"checkpoint's (store {since.store_id}): replaced")
    row = snapshot.row(since.seq)
    if row is None:
        end = snapshot.head.seq if snapshot.head else 0
        return (f"record {since.seq} of the checkpoint is gone (the chain now ends at {end}): "
                "records deleted or the database rolled back")
    if row["hash"] != since.hash or record_hash(row) != since.hash:
        return f"record {since.seq} is not the record of the checkpoint: rewritten, or the database replaced"
    return since.seq, since.hash


def verify_snapshot(snapshot: Snapshot, *, key: bytes | None, since: "Checkpoint | int | None" = None,
                    emit: Callable[[Mapping[str, Any]], None] | None = None) -> VerifyReport:
    """Walk the chain; name the first record that was edited, deleted, inserted or moved.

    ``emit`` receives each verified record in order (``audit export`` writes them).
    """
    start = _start(snapshot, since, key)
    if isinstance(start, str):
        first = since if isinstance(since, int) else getattr(since, "seq", 0)
        return VerifyReport(False, 0, first, start)
    count, (prev_seq, prev_hash), signed_seen = 0, start, False
    begin = prev_seq

    def bad(seq: int, problem: str) -> VerifyReport:
        return VerifyReport(False, count, seq, problem, "checked" if key and signed_seen else "unchecked",
                            since=begin)

    for row in snapshot.rows(begin):
        seq = int(row["seq"])
        if seq != prev_seq + 1:
            return bad(prev_seq + 1, f"record {prev_seq + 1} is missing (the next record is {seq}): deleted")
        if row["prev_hash"] != prev_hash:
            return bad(seq, f"record {seq} does not follow record {prev_seq}: "
                            "a record before it was deleted, replaced or reordered")
        if record_hash(row) != row["hash"]:
            return bad(seq, f"record {seq} does not match its hash: edited")
        if key is not None:
            if row["sig"] is not None:
                signed_seen = True
                if not _same(row["sig"], sign_record(key, row["hash"])):
                    return bad(seq, f"record {seq} has an invalid signature: rewritten without the key "
                                    "(or verified with a different key)")
            elif signed_seen:
                return bad(seq, f"record {seq} is unsigned after signed records: rewritten")
        if emit is not None:
            emit(row)
        count, prev_seq, prev_hash = count + 1, seq, row["hash"]
    head = snapshot.head or Head(0, GENESIS, None)
    if (head.seq, head.hash) != (prev_seq, prev_hash):
        if head.seq > prev_seq:
            which = f"record {head.seq} is" if head.seq == prev_seq + 1 else f"records {prev_seq + 1}..{head.seq} are"
            return bad(prev_seq + 1, f"{which} missing from the end: deleted")
        return bad(prev_seq, f"record {prev_seq} is not the recorded head of the chain: tampered")
    if key is not None and snapshot.store_id is None:
        if signed_seen:
            return bad(prev_seq, "the head of the chain is not signed (a store from before schema 2): "
                                 "run `privroute audit migrate` with the key to sign it")
    elif key is not None and not _same(head.sig, sign_head(key, snapshot.store_id, head.seq, head.hash)):
        what = "has an invalid signature" if head.sig else "is not signed"
        return bad(prev_seq, f"the head (record count {head.seq}) {what}: the tail was cut and the head "
                             "rewritten, the database replaced, or it was written without this key")
    signed = key is not None and (signed_seen or snapshot.store_id is not None)
    token = Checkpoint.signed(key, snapshot.store_id, head.seq, head.hash).token() if snapshot.store_id else None
    return VerifyReport(True, count, signatures="checked" if signed else "unchecked", checkpoint=token,
                        since=begin)
