"""Batch redaction of documents: a frontend over the core, never imported by it.

``run`` plans and carries out a batch (``redact_files``); ``discover`` finds the
inputs; ``engines`` detects per document (in process, a process pool, Ray);
``formats`` reads and rewrites each document type; ``mapping`` keeps the
placeholder mapping encrypted between runs.
"""

from __future__ import annotations

from ..errors import BatchUsageError
from .run import BatchOptions, BatchReport, atomic_write, redact_files

__all__ = ["BatchOptions", "BatchReport", "BatchUsageError", "atomic_write", "redact_files"]
