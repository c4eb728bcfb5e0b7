"""Sector structure: where judgments and contracts put their people.

NER sees words; documents have a layout that says who is who:

* **party blocks** of a judgment's cause title: the text before a role marker
  (``X ..... Appellant``, ``Y ...Respondents``, ``Z …Petitioner(s)``), back to the
  previous block (a blank line, ``Versus``/``Vs.``/``And``/``Between``, a numbered
  item or another marker) is a party, with its address: PERSON when a person was
  detected in it, else ORGANIZATION;
* **notice clauses** of a contract: the name after ``Attention:``/``Attn.:`` is a
  PERSON and what follows ``Address:`` up to the next label or line end is a
  STREET_ADDRESS;
* **signature blocks**: the name after ``By: /s/`` is a PERSON.

These spans are added after the keep rules ran, so a party named like a common
phrase or a court ("Common Cause", "State of Bihar") is still redacted.
"""

from __future__ import annotations

import re

from .base import Entity

__all__ = ["structure_entities", "PARTY_SOURCE"]

PARTY_SOURCE = "privroute-party"

_MARKER = re.compile(
    r"(?:\.{2,}|…+|_{3,}|-{3,})[ \t]*(?:the[ \t]+)?(?:appellants?|petitioners?|respondents?|plaintiffs?|"
    r"defendants?|applicants?|complainants?|accused|claimants?|revisionists?|opposite[ \t]+part(?:y|ies)|"
    r"objectors?|appellees?)(?:\(s\)|/s)?\b", re.IGNORECASE)
_BLOCK_BOUNDARY = re.compile(
    r"\n[ \t]*\n|(?:^|\n)[ \t]*(?:versus|vs\.?|v/s|v\.|and|between|with|against)[ \t]*:?[ \t]*(?=\n|$)|"
    r"(?:\.{2,}|…+)[ \t]*(?:the[ \t]+)?(?:appellants?|petitioners?|respondents?|plaintiffs?|defendants?|"
    r"applicants?|complainants?|accused|claimants?)(?:\(s\)|/s)?\b|\b(?:versus|vs\.|v/s)[ \t]",
    re.IGNORECASE)
_LEADING = re.compile(r"^(?:[\s.,:;\-–]|\d{1,2}[.)]?(?=\s)|(?:the|m/s\.?|mr\.?|mrs\.?|ms\.?|sri|shri|smt\.?|"
                      r"between|and)\b)+", re.IGNORECASE)
_TRAILING = re.compile(r"(?:[\s.,:;&\-–]|\b(?:and|&)?\s*(?:ors|others|anr|another)\b\.?)+$", re.IGNORECASE)
_PARTY_MAX = 400

_ATTENTION = re.compile(r"\b(?:Attention|Attn)[ \t]*\.?[ \t]*:[ \t]*([A-Z][^\n,;:]{1,60}?)(?=[ \t]*(?:[\n,;]|$|"
                        r"\b(?:Address|Fax|Facsimile|Tel|Telephone|Phone|E-?mail|with\s+a\s+copy)\b))")
_ADDRESS = re.compile(r"\bAddress[ \t]*:[ \t]*([^\n]{3,200}?)(?=[ \t]*(?:\n|$|\b(?:Fax|Facsimile|Tel|Telephone|"
                      r"Phone|E-?mail|Attn|Attention)\b[ \t]*\.?[ \t]*:))")
_SIGNED = re.compile(r"\bBy[ \t]*:[ \t]*/[ \t]*s[ \t]*/[ \t]*((?:[A-Z][\w'’-]*\.?|[A-Z][ \t]?\.)(?:[ \t]+(?:[A-Z][\w'’-]*"
                     r"|[A-Z][ \t]?\.)){0,4})")


def structure_entities(text: str, entities: list[Entity]) -> list[Entity]:
    """Spans found from the document's layout (party blocks, notices, signatures)."""
    found: list[Entity] = []
    if "..." in text or "…" in text or "__" in text or "--" in text:
        found.extend(_parties(text, entities))
    if "Att" in text:
        found.extend(Entity(m.start(1), m.end(1), "PERSON", 0.7, "privroute-notice") for m in _ATTENTION.finditer(text))
    if "Address" in text:
        found.extend(Entity(m.start(1), m.end(1), "STREET_ADDRESS", 0.7, "privroute-notice")
                     for m in _ADDRESS.finditer(text))
    if "/" in text:
        found.extend(Entity(m.start(1), m.end(1), "PERSON", 0.7, "privroute-signature") for m in _SIGNED.finditer(text))
    return found


def _parties(text: str, entities: list[Entity]) -> list[Entity]:
    out = []
    for marker in _MARKER.finditer(text):
        window_start = max(0, marker.start() - _PARTY_MAX)
        start = window_start
        for boundary in _BLOCK_BOUNDARY.finditer(text, window_start, marker.start()):
            start = boundary.end()
        segment = text[start:marker.start()]
        lead = _LEADING.match(segment)
        begin = start + (lead.end() if lead else 0)
        tail = _TRAILING.search(text, begin, marker.start())
        end = tail.start() if tail else marker.start()
        if end - begin < 2 or not any(c.isalpha() for c in text[begin:end]):
            continue
        person = any(e.type == "PERSON" and begin <= e.start < end for e in entities)
        out.append(Entity(begin, end, "PERSON" if person else "ORGANIZATION", 0.75, PARTY_SOURCE))
    return out
