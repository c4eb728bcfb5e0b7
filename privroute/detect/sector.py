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

# Leader runs start only where their run starts, and are taken whole (possessive): otherwise
# every position inside a long run of dots, dashes or underscores would rescan the rest of
# it (quadratic: 8 kB of "-" took 20 s).
_LEADERS = r"(?:(?<!\.)\.{2,}+|(?<!…)…++|(?<!_)_{3,}+|(?<!-)-{3,}+)"
_MARKER = re.compile(
    _LEADERS + r"[ \t]*(?:the[ \t]+)?(?:appellants?|petitioners?|respondents?|plaintiffs?|"
    r"defendants?|applicants?|complainants?|accused|claimants?|revisionists?|opposite[ \t]+part(?:y|ies)|"
    r"objectors?|appellees?)(?:\(s\)|/s)?\b", re.IGNORECASE)
_BLOCK_BOUNDARY = re.compile(
    r"={4,}|-{4,}|(?:^|\n)[ \t]*(?:versus|vs\.?|v/s|v\.|and|between|with|against)[ \t]*:?[ \t]*(?=\n|$)|"
    r"(?:(?<!\.)\.{2,}+|(?<!…)…++)[ \t]*(?:the[ \t]+)?(?:appellants?|petitioners?|respondents?|plaintiffs?|defendants?|"
    r"applicants?|complainants?|accused|claimants?)(?:\(s\)|/s)?\b|\b(?:versus|vs\.|v/s)(?:[ \t]|[ \t]*(?=\n))",
    re.IGNORECASE)
_LEADING = re.compile(r"(?:[\s.,:;\-–]|\d{1,2}[.)]?|(?:the|versus|vs|v/s|m/s\.?|mr\.?|mrs\.?|ms\.?|sri|shri|smt\.?|"
                      r"between|and)\b)+", re.IGNORECASE)
_TRAILING = re.compile(r"(?:[\s.,:;&\-–]|\b(?:and|&)?\s*(?:ors|others|anr|another)\b\.?)+$", re.IGNORECASE)
_PARTY_MAX = 1500
_PARAGRAPH = re.compile(r"[^\n](?:[^\n]|\n(?![ \t]*\n))*")
_AGENT = re.compile(r"[\s,]*\b(?:through|thru|rep\.|represented|rep\s+by)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"[ \t]*\d{1,2}[.)]")
_ROLES = (r"(?:appellants?|petitioners?|respondents?|plaintiffs?|defendants?|applicants?|complainants?|accused|"
          r"claimants?|revisionists?)")
# "Petitioner: X", "Appellant :- M/S X": a party after its role label, to the end of the line or clause.
_ROLE_LABEL = re.compile(rf"(?<![\w.])(?i:{_ROLES})(?:\(s\)|/s)?(?:[ \t]+(?i:no)\.?[ \t]*\d+)?[ \t]*(?::-|:|-)[ \t]*"
                         r"([A-Z][^\n,;:]{1,120}?)(?=[ \t]*(?:[\n,;:]|$|"
                         r"\b(?i:aged|s/o|d/o|w/o|r/o|through|versus|vs\.?)\b|"
                         rf"\b(?i:{_ROLES})\b))")
# A line "A Vs. B" (optionally numbered, with a case number after).
_VERSUS_LINE = re.compile(r"(?m)^[ \t]*(?:\d{1,3}[.)]?[ \t]+)?([A-Z][^\n]{1,100}?)[ \t]+"
                          r"(?:Vs\.?|V/s\.?|v\.|versus|VERSUS|"
                          r"Versus)[ \t]+([A-Z][^\n(]{1,100}?)[ \t]*(?:\([^\n]*\))?[ \t]*$")
_VERSUS_ALONE = re.compile(r"(?im)^[ \t]*(?:versus|vs\.?|v/s\.?|v\.)[ \t]*$")
_NONEMPTY_LINE = re.compile(r"(?m)^[ \t]*(\S[^\n]*?)[ \t]*$")
_COUNSEL_LINE = re.compile(r"\b(?:advocates?|advs?|counsel|through)\b\.?", re.IGNORECASE)
_COLUMN_GAP = re.compile(r"[ \t]{3,}|\t")
_ROLE_ONLY_LINE = re.compile(rf"^[\W\d_]*(?:(?i:{_ROLES})(?:\(s\)|/s)?[\W\d_]*)+$")
_FOR_BEFORE = re.compile(r"\b(?:for|counsel|advocates?|adv)\b[\s.]*(?:the[ \t]+)?$", re.IGNORECASE)
_TITLE_WORDS = frozenset("of and the through by its rep ors anr others another".split())

_NOTICE_TO = re.compile(r"(?im)\b(?:if[ \t]+to|with[ \t]+a[ \t]+copy[ \t]+to|copy[ \t]+to)\b[^\n:]{0,60}:[ \t]*$")
_LINE = re.compile(r"(?m)^([^\n]*)$")
_NOTICE_STOP = re.compile(r"(?i)(?:attn|attention|fax|facsimile|tel|telephone|phone|e-?mail|with\s+a\s+copy|if\s+to)\b")
_ATTENTION = re.compile(r"\b(?:Attention|Attn)[ \t]*\.?[ \t]*:[ \t]*([A-Z][^\n,;:]{1,60}?)(?=[ \t]*(?:[\n,;]|$|"
                        r"\b(?:Address|Fax|Facsimile|Tel|Telephone|Phone|E-?mail|with\s+a\s+copy)\b))")
_ADDRESS = re.compile(r"\bAddress[ \t]*:[ \t]*([^\n]{3,200}?)(?=[ \t]*(?:\n|$|\b(?:Fax|Facsimile|Tel|Telephone|"
                      r"Phone|E-?mail|Attn|Attention)\b[ \t]*\.?[ \t]*:))")
_SIGNED = re.compile(r"\bBy[ \t]*:[ \t]*/[ \t]*s[ \t]*/[ \t]*"
                     r"((?:[A-Z][ \t]?\.|[A-Z][\w'’-]*\.?)(?:[ \t]+(?:[A-Z][ \t]?\.|"
                     r"[A-Z][\w'’-]*)){0,4})")


def structure_entities(text: str, entities: list[Entity]) -> list[Entity]:
    """Spans found from the document's layout (party blocks, notices, signatures)."""
    found: list[Entity] = []
    if "..." in text or "…" in text or "__" in text or "--" in text:
        found.extend(_parties(text, entities))
    if re.search(r"\b(?:vs?\.?|v/s|versus)[ \t]", text, re.IGNORECASE):
        found.extend(_cause_titles(text, entities))
    if _VERSUS_ALONE.search(text):
        found.extend(_around_versus(text, entities))
    found.extend(_labeled_parties(text, entities))
    if _NOTICE_TO.search(text):
        found.extend(_notice_addresses(text))
    if "Att" in text:
        found.extend(Entity(m.start(1), m.end(1), "PERSON", 0.7, "privroute-notice") for m in _ATTENTION.finditer(text))
    if "Address" in text:
        found.extend(Entity(m.start(1), m.end(1), "STREET_ADDRESS", 0.7, "privroute-notice")
                     for m in _ADDRESS.finditer(text))
    if "/" in text:
        found.extend(Entity(m.start(1), m.end(1), "PERSON", 0.7, "privroute-signature") for m in _SIGNED.finditer(text))
    return found


def _notice_addresses(text: str) -> list[Entity]:
    """A notice block set out on lines: ``If to Borrower:`` (or ``with a copy to:``), the
    addressee's line, then its address lines up to ``Attn``/``Fax``/``Email``/``Tel``."""
    out = []
    for match in _NOTICE_TO.finditer(text):
        lines = list(_LINE.finditer(text, match.end() + 1))[:8]
        if len(lines) < 2:
            continue
        # lines[0] is the addressee (a firm, often a party); its address follows.
        block = []
        for line in lines[1:]:
            value = line.group(1).strip()
            if not value or _NOTICE_STOP.match(value) or len(value) > 90:
                break
            block.append(line)
        else:
            block = []  # no Attn/Fax/Email line closes it: not a notice block
        if block:
            out.append(Entity(block[0].start(1), block[-1].end(1), "STREET_ADDRESS", 0.7, "privroute-notice"))
    return out


def _labeled_parties(text: str, entities: list[Entity]) -> list[Entity]:
    out = []
    for match in _ROLE_LABEL.finditer(text):
        # "Counsel for the petitioner: X" names counsel, not the party.
        if _FOR_BEFORE.search(text, max(0, match.start() - 30), match.start()):
            continue
        begin, end = _trimmed(text, *match.span(1), agent=False)
        if end - begin >= 2:
            out.append(_party(begin, end, entities))
    return out


def _cause_titles(text: str, entities: list[Entity]) -> list[Entity]:
    """``A Vs. B`` on a line of its own (the title of the case, not a precedent in prose)."""
    out = []
    for match in _VERSUS_LINE.finditer(text):
        line = match.group(0)
        if sum(1 for w in re.findall(r"(?<![\w'’])[a-z][\w'’]*", line) if w not in _TITLE_WORDS) > 2:
            continue
        for group in (1, 2):
            begin, end = _trimmed(text, *match.span(group), agent=False)
            if end - begin >= 2 and any(c.isalpha() for c in text[begin:end]):
                out.append(_party(begin, end, entities))
    return out


def _around_versus(text: str, entities: list[Entity]) -> list[Entity]:
    """A cause title set out on lines: the line above ``Versus`` (alone on its line) and
    the line below name the parties, each in the first column (a role marker may stand
    in a second one, after a run of spaces)."""
    out = []
    for match in _VERSUS_ALONE.finditer(text):
        above = text.rfind("\n", 0, match.start())
        lines = [m for m in _NONEMPTY_LINE.finditer(text, 0, max(0, above))][-1:]
        below = _NONEMPTY_LINE.search(text, match.end())
        for line in lines + ([below] if below else []):
            party = _first_column_party(text, line.start(1), line.end(1), entities)
            if party is not None:
                out.append(party)
    return out


def _first_column_party(text: str, begin: int, end: int, entities: list[Entity]) -> Entity | None:
    if _COUNSEL_LINE.search(text, begin, end):
        return None  # "Through: Mr. X, Advocates" above Versus: counsel, not a party
    column = _COLUMN_GAP.search(text, begin, end) or _MARKER.search(text, begin, end)
    begin, end = _trimmed(text, begin, column.start() if column else end)
    value = text[begin:end]
    if not 2 <= len(value) <= 160 or not any(c.isalpha() for c in value) or _ROLE_ONLY_LINE.match(value):
        return None
    return _party(begin, end, entities)


def _trimmed(text: str, begin: int, end: int, *, agent: bool = True) -> tuple[int, int]:
    """A party's name without leading numbers, honorifics and joiners, without trailing
    "and others", and (``agent``) cut where an officer takes over ("X, through its
    Secretary", "X rep. by ..."): the officer acts for the party."""
    lead = _LEADING.match(text, begin, end)
    begin = lead.end() if lead else begin
    if agent:
        by = _AGENT.search(text, begin, end)
        end = by.start() if by else end
    tail = _TRAILING.search(text, begin, end)
    return begin, tail.start() if tail else end


def _party(begin: int, end: int, entities: list[Entity]) -> Entity:
    person = any(e.type == "PERSON" and begin <= e.start < end for e in entities)
    return Entity(begin, end, "PERSON" if person else "ORGANIZATION", 0.75, PARTY_SOURCE)


def _parties(text: str, entities: list[Entity]) -> list[Entity]:
    out = []
    for marker in _MARKER.finditer(text):
        window_start = max(0, marker.start() - _PARTY_MAX)
        start = window_start
        for boundary in _BLOCK_BOUNDARY.finditer(text, window_start, marker.start()):
            start = boundary.end()
        # Paragraphs back from the marker: numbered items ("1. The State of ...",
        # "2. The Collector ...") all belong to the block; an unnumbered one only
        # when it is the first (the party itself, before its marker).
        taken = 0
        pieces = [(m.start(), m.end()) for m in _PARAGRAPH.finditer(text, start, marker.start())]
        for begin, end in reversed(pieces):
            numbered = _NUMBERED.match(text, begin, end) is not None
            if taken and not numbered:
                break
            begin, end = _trimmed(text, begin, end)
            if end - begin < 2 or not any(c.isalpha() for c in text[begin:end]):
                continue
            out.append(_party(begin, end, entities))
            taken += 1
    return out
