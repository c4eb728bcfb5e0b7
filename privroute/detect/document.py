"""Document-level detection: keep rules, layout, then propagation.

``refine`` runs after every recognizer and the span assembly:

1. the policy's keep rules (keep.py) drop what is not personal data;
2. the document's layout (sector.py) adds parties, notice names and addresses,
   and signatures;
3. **propagation**: what is found once is found everywhere. Every later mention
   of a detected person is redacted too: the full name, and each of its name
   words alone (``Brinley`` after ``Charles E. Brinley``), with the initials in
   front of it (``K. Dhananjay``, ``R.Ayyapillai``). A name word is propagated
   only when it cannot be an ordinary word (not English, or a given name that
   is not a common word), and only where it is written capitalised. A party that
   is an organisation is propagated by its name up to the first comma or bracket.

The vault gives equal values equal placeholders, so each mention of the same
form gets the same placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .base import Entity
from .keep import KeepContext, apply_keep_rules
from .lexicon import COMMON_NAME_WORDS, is_english
from .sector import PARTY_SOURCE, structure_entities

__all__ = ["refine"]

_NAME_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_ROLE = frozenset("""mr mrs ms miss dr prof hon'ble hon’ble honourable honorable hon justice sri shri smt kum adv
advocate ld late sir madam the and of for by""".split())
_INITIALS_BEFORE = re.compile(r"(?:[A-Z]\.?[ \t]?){1,3}$")
_CORE_END = re.compile(r"[,(\n]|\s(?:through|represented|rep\.|by\s+its|having)\b", re.IGNORECASE)


def refine(text: str, entities: Sequence[Entity], keep: Sequence[str], propagate: bool,
           context: KeepContext, names: frozenset[str]) -> list[Entity]:
    kept = apply_keep_rules(text, entities, keep, context) if keep else list(entities)
    out = kept + structure_entities(text, kept)
    if propagate:
        out.extend(_propagate(text, out, context, names))
    return out


def _propagate(text: str, entities: list[Entity], context: KeepContext, names: frozenset[str]) -> list[Entity]:
    forms: dict[str, str] = {}
    for entity in entities:
        value = text[entity.start:entity.end]
        if entity.type == "PERSON":
            for word in _NAME_WORD.findall(value):
                if len(word) >= 3 and word[0].isupper() and _distinctive(word, context, names):
                    forms.setdefault(word, "PERSON")
        elif entity.source == PARTY_SOURCE:
            core = _CORE_END.split(value, 1)[0].strip(" .")
            words = _NAME_WORD.findall(core)
            if len(words) >= 2 and len(core) >= 8:
                forms.setdefault(core, entity.type)
    if not forms:
        return []
    pattern = re.compile(r"(?<![\w'’-])(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
                         + r")(?![\w'’-])")
    covered = sorted((e.start, e.end) for e in entities)
    out = []
    for match in pattern.finditer(text):
        start, end = match.span()
        if _inside(covered, start, end):
            continue
        initials = _INITIALS_BEFORE.search(text, max(0, start - 8), start)
        if initials and initials.start() < start:
            start = initials.start()
        out.append(Entity(start, end, forms[match.group()], 0.7, "privroute-propagated"))
    return out


def _distinctive(word: str, context: KeepContext, names: frozenset[str]) -> bool:
    folded = word.casefold()
    if folded in _ROLE or folded in COMMON_NAME_WORDS:
        return False
    if not is_english(folded, context.english):
        return True
    return folded in names


def _inside(covered: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in covered)


propagate = _propagate
"""Propagation over spans found by several detectors (multilingual.py: one per language)."""
