"""Word-level folds that need a lexicon: odd letter case and leetspeak.

Named-entity recognition reads capitals: "jane roe", "JANE ROE" and "jAnE rOe"
are names to a reader and mostly not to spaCy; "J4ne R0e" is a name to a reader
and to nothing else. These folds rewrite the detection copy only, always to the
same length, so normalize.py's offset map still holds:

* a word whose case alternates (two or more separate capital runs after its
  first letter: "jAnE", "eKlUnD"; not "McDonald", "iPhone", "mRNA") is
  title-cased;
* in English text, a lower-case word that is no English word (after taking
  off inflections) and no clinical term is capitalised, as a proper noun would
  be, when it is a known name or stands next to another such word ("tomomi
  nishiyama" -> "Tomomi Nishiyama"); a lone unknown word is more often a typo
  or jargon;
* an all-capital word of five or more letters that is no English word and no
  clinical term is title-cased ("LAPPEENRANTA", "NICOLE"); shorter ones are
  acronyms and stay;
* a word mixing letters with the digits people type for letters (0 1 3 4 5 7)
  becomes the word it spells when that is a known word or name ("J4ne" ->
  "Jane", "R0e" -> "Roe"; "B12", "A1c", "mp3" spell nothing and stay).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import product

from .lexicon import COMMON_NAME_WORDS
from .normalize import Normalized

__all__ = ["fold_words"]

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_LEET_WORD = re.compile(r"(?<![\w@])[^\W_]*[^\W\d_][^\W_]*(?![\w])")
_LEET = {"0": ("o",), "1": ("i", "l"), "3": ("e",), "4": ("a",), "5": ("s",), "7": ("t",)}
_GLUE = re.compile(r"[@_/\\=#%&+]|[.:](?=\S)")


def _glued(text: str, start: int, end: int) -> bool:
    """Part of a longer token (e-mail, URL, path, identifier), not a word of prose."""
    return bool(_GLUE.match(text, end)) or (start > 0 and text[start - 1] in "@_/\\=#%&+.:" and
                                           (start < 2 or not text[start - 2].isspace()) and text[start - 1] != ":")
_NEAR_NUMBER = re.compile(r"\d[\w/-]*[ \t]+(?:[A-Z]+[ \t]+)?$|[ \t]+\d")
_UNITS = frozenset("mg mcg ml kg km cm mm hr hrs min mins sec secs wk wks yr yrs yo th st nd rd am pm x".split())
_SHOUT_GAP = re.compile(r"[ \t]*(?:[ \t]|[,.][ \t]|[ \t]\d+[ \t])[ \t]*")
_NEXT_TO = re.compile(r" (?:[a-z]\.? )?")
_DETERMINERS = frozenset({"the", "this", "that", "these", "those", "its", "our", "their", "your", "any", "each",
                          "every", "such", "said"})
_NUMBER_WORDS = frozenset("zero one two three four five six seven eight nine ten".split())
_SUFFIXES = ("ies", "ied", "es", "ed", "ing", "ly", "er", "est", "s", "d", "'s", "’s")


# Closed-class words WordNet leaves out (it lists nouns, verbs, adjectives and adverbs only):
# modals, and the here-/there-/where- compounds of legal English.
_CLOSED_CLASS = frozenset({"shall", "shalt", "unto", "upon", "whilst", "amongst", "thereupon", "aforesaid",
                           "notwithstanding", "pursuant", "hereinafter", "hereinbefore", "heretofore", "thereto"}
                          | {f"{head}{tail}" for head in ("here", "there", "where") for tail in (
                              "of", "in", "to", "by", "under", "after", "upon", "from", "at", "on", "for", "with",
                              "unto", "inafter", "tofore", "as", "about", "fore")})


def _known_english(word: str, english: frozenset[str]) -> bool:
    if word in english or word in _CLOSED_CLASS:
        return True
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            candidates = (stem, stem + "e", stem + "y", stem[:-1] if len(stem) > 3 and stem[-1] == stem[-2] else stem)
            if any(c in english for c in candidates):
                return True
    return False


def _shouted_name(word: str, lowered: str, english: frozenset[str], names: frozenset[str],
                  given: frozenset[str] = frozenset(), island: bool = False) -> bool:
    """An all-capital word that is a name, not an acronym: five letters or more and no English
    word, or a known name of four letters that is no English word ("ALMA", not "COPD"). A given
    name the word list holds as a proper noun ("TERESA", "TIFFANY": WordNet lists people and
    places) counts too when it is shouted alone among words that are not ("told TERESA and"),
    unless it is an everyday word as well ("MAY", "GRACE")."""
    if island and len(word) >= 5 and lowered in given and lowered not in COMMON_NAME_WORDS:
        return True
    if _known_english(lowered, english):
        return False
    return len(word) >= 5 or (len(word) == 4 and lowered in names)


def _alternating(word: str) -> bool:
    """Case typed at random ("jAnE", "eKlUnD"): short capital runs among lower-case letters,
    not an acronym inside a word ("mRNA") or a key ("MIIEpAIBAAKCAQEA")."""
    runs = re.findall(r"[^\W\d_a-zà-ÿ]+", word[1:])
    lower = sum(ch.islower() for ch in word)
    return len(runs) >= 2 and all(len(run) <= 2 for run in runs) and lower * 4 >= len(word) and len(word) <= 20


def _word_shaped(word: str) -> bool:
    """Lower case, capitalised or all capitals: how a real word is written (not "HbAic")."""
    return word.islower() or word.isupper() or (word[:1].isupper() and word[1:].islower())


def _deleet(token: str, known: Callable[[str], bool]) -> str | None:
    """The word a leetspeak token spells: a known word or name, else any word-shaped spelling."""
    if not any(ch in _LEET for ch in token) or any(ch.isdigit() and ch not in _LEET for ch in token):
        return None
    letters = sum(ch.isalpha() for ch in token)
    if len(token) < 3 or len(token) > 24 or not letters or sum(ch in "1" for ch in token) > 4:
        return None  # a word, not a run (each "1" doubles the spellings to try: the work stays bounded)
    if token[0].isdigit() and token[1].isdigit():
        return None  # a number with something after it ("10am", "30secs")
    options = [_LEET.get(ch, (ch,)) for ch in token]
    first_upper = token[0].isupper() or token[0].isdigit()  # a digit for a capital: names start with one

    def cased(candidate: str) -> str:
        return candidate[:1].upper() + candidate[1:] if first_upper else candidate

    for combination in product(*options):
        candidate = "".join(combination)
        if known(candidate.lower()):
            return cased(candidate)
    # An unknown spelling counts only when it looks like a word of 3+ letters ("Szab1na",
    # "Fanucc1", "5chulz"), not a code or a number with its unit ("A1c", "4th", "10mins", "7days").
    if letters < 3:
        return None
    candidate = "".join(option[0] for option in options)
    if token[0].isdigit():
        if not token[1].isalpha() or known(candidate[1:].lower()) or candidate[1:].lower() in _UNITS:
            return None
        candidate = candidate[0].upper() + candidate[1:]  # a digit for a capital: names start with one
    else:
        candidate = cased(candidate)
    return candidate if _word_shaped(candidate) else None


def fold_words(normalized: Normalized, english: frozenset[str], names: frozenset[str],
               clinical: Callable[[str, str, int], bool], given: frozenset[str] = frozenset()) -> Normalized:
    """``normalized`` with case and leetspeak folded (same length, same offset map).

    ``names``: given names and surnames; ``given``: given names alone (a shouted one stands out).
    """
    text = normalized.text
    if not english:
        return normalized
    chars: list[str] | None = None

    def put(start: int, new: str) -> None:
        nonlocal chars
        if len(new) != len(text[start:start + len(new)]) or new == text[start:start + len(new)]:
            return
        if chars is None:
            chars = list(text)
        chars[start:start + len(new)] = list(new)

    if any(ch in text for ch in "013457"):
        def known(word: str) -> bool:
            return word in names or (len(word) >= 4 and word in english) or word in _NUMBER_WORDS

        for match in _LEET_WORD.finditer(text):
            token = match.group()
            if not token.isalpha():
                new = _deleet(token, known)
                if new is not None:
                    put(match.start(), new)
        if chars is not None:
            text = "".join(chars)
            chars = None
    # Words of prose only: a piece of an e-mail, URL, path or identifier keeps its case.
    words = [m for m in _WORD.finditer(text) if len(m.group()) >= 3 and len(m.group().lower()) == len(m.group())
             and not _glued(text, m.start(), m.end())]
    lower = [m.group() for m in words if m.group().islower()]
    # A lower-case word stands out as a name only in English text: in French or in
    # jargon most words are unknown to an English word list, and none is a name for that.
    # A word the text itself uses more than once in lower case is ordinary in it ("shall",
    # "hereunder"), whatever the word list says: names are not typed that way twice.
    seen: dict[str, int] = {}
    for w in lower:
        seen[w] = seen.get(w, 0) + 1
    strangers = sum(not _known_english(w, english) for w in lower)
    english_text = bool(lower) and strangers <= max(3, 0.15 * len(lower))

    def unknown(match: re.Match[str] | None) -> bool:
        if match is None:
            return False
        word = match.group()
        return (word.islower() and len(word) >= 3 and seen.get(word, 0) < 2 and not _known_english(word, english)
                and not clinical(word, text, match.end()))

    shouted: list[int] = []
    for index, match in enumerate(words):
        word = match.group()
        lowered = word.lower()
        if word.islower():
            if not english_text or not unknown(match):
                continue
            # A known name, or two unknown words side by side ("tomomi nishiyama").
            # Next to each other, or with a middle initial between ("ravil g yefimov").
            before = words[index - 1] if index and _NEXT_TO.fullmatch(text, words[index - 1].end(),
                                                                       match.start()) else None
            after = words[index + 1] if index + 1 < len(words) and _NEXT_TO.fullmatch(
                text, match.end(), words[index + 1].start()) else None
            first_names = given or names
            if word in names and ((before is not None and before.group() in first_names)
                                  or (word in first_names and after is not None and after.group() in names)):
                continue  # a given name and a known name after it: names.py reads those pairs as they are
            if word in names or unknown(before) or unknown(after):
                put(match.start(), word[0].upper() + word[1:])
                if after is not None and match.end() + 2 < after.start():  # the middle initial too
                    put(match.end() + 1, text[match.end() + 1].upper())
        elif word.isupper():
            if index and words[index - 1].group().lower() in _DETERMINERS and text[
                    words[index - 1].end():match.start()] == " ":
                continue  # "the FERA", "this NOTE": an acronym or a heading word, not a name
            island = not any(0 <= other < len(words) and words[other].group().isupper()
                             and abs(words[other].start() - match.start()) < 40 for other in (index - 1, index + 1))
            if _shouted_name(word, lowered, english, names, given, island) and not clinical(
                    word, text, match.end()):
                put(match.start(), word[0] + lowered[1:])
                shouted.append(index)
        elif _alternating(word):
            put(match.start(), word[0].upper() + lowered[1:])
    # In an address line, the capital words around a shouted name belong with it ("DIAKOU STREET").
    for index in shouted:
        if not _NEAR_NUMBER.search(text, max(0, words[index].start() - 12), words[index].start()) and not (
                _NEAR_NUMBER.match(text, words[index].end())):
            continue  # only an address line ("1987 74 DIAKOU STREET"), not a shouted clause
        for step in (-1, 1):
            other = index + step
            while 0 <= other < len(words) and words[other].group().isupper() and _SHOUT_GAP.fullmatch(
                    text[min(words[other].end(), words[other - step].end()):max(words[other].start(),
                                                                                 words[other - step].start())]):
                found = words[other]
                if not clinical(found.group(), text, found.end()):
                    put(found.start(), found.group()[0] + found.group()[1:].lower())
                other += step
    if chars is not None:
        text = "".join(chars)
    if text == normalized.text:
        return normalized
    return Normalized(text, normalized.original, normalized._starts, normalized._ends)
