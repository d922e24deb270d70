"""Word lists of the synthetic stories, English spelling rules, and Zipf-like draws.

The lists live in ``words/*.txt`` (one entry per line, most common first, ``#`` comments). Their
order is the rank of a Zipf-Mandelbrot draw: entry ``r`` (1-based) of a pool is drawn with
probability proportional to ``1 / (r + offset) ** exponent``, so the first few words of a list
fill most slots and the rest make the long tail that real text has. Made-up words extend the
tails in the way children's stories make them: compounds ("moon" + "bell" -> "moonbell"), ``-y``
adjectives ("twig" -> "twiggy") and rare names built from name parts.

Everything here is deterministic: lists are read in file order, made-up words are ordered by a
fixed ``random.Random`` shuffle, and nothing depends on set or hash order.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
import re
from pathlib import Path

WORDS_DIR = Path(__file__).with_name("words")


def read_list(name: str) -> list[str]:
    """Entries of ``words/<name>.txt`` in file order, without comments, blanks or repeats."""
    seen: dict[str, None] = {}
    for line in (WORDS_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            seen.setdefault(line, None)
    return list(seen)


def read_sections(name: str) -> dict[str, list[str]]:
    """A list file split into ``[section]`` parts."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for entry in read_list(name):
        if entry.startswith("[") and entry.endswith("]"):
            current = sections.setdefault(entry[1:-1], [])
        else:
            current.append(entry)
    return sections


# --- spelling rules --------------------------------------------------------------------------

_VOWELS = "aeiou"
# One syllable ending consonant-vowel-consonant doubles the consonant: hop -> hopped, sun -> sunny.
_CVC = re.compile(r"^[^aeiou]*[aeiou][^aeiouwxy]$")


@functools.lru_cache(maxsize=None)
def _irregular_verbs() -> dict[str, tuple[str, str]]:
    table = {}
    for entry in read_list("irregular_verbs"):
        base, past_form, ing_form = entry.split("|")
        table[base] = (past_form, ing_form)
    return table


@functools.lru_cache(maxsize=None)
def _irregular_plurals() -> dict[str, str]:
    return dict(entry.split("|") for entry in read_list("irregular_plurals"))


def _split_phrase(phrase: str) -> tuple[str, str]:
    """'pick up' -> ('pick', ' up'): the verb is the first word, the rest rides along."""
    head, sep, rest = phrase.partition(" ")
    return head, sep + rest


def past(phrase: str) -> str:
    """Simple past of a verb phrase: walk -> walked, hop -> hopped, pick up -> picked up."""
    verb, rest = _split_phrase(phrase)
    if verb in _irregular_verbs():
        return _irregular_verbs()[verb][0] + rest
    if verb.endswith("e"):
        form = verb + "d"
    elif verb.endswith("y") and verb[-2] not in _VOWELS:
        form = verb[:-1] + "ied"
    elif _CVC.match(verb):
        form = verb + verb[-1] + "ed"
    else:
        form = verb + "ed"
    return form + rest


def ing(phrase: str) -> str:
    """Present participle: walk -> walking, hop -> hopping, make -> making, tie -> tying."""
    verb, rest = _split_phrase(phrase)
    if verb in _irregular_verbs():
        return _irregular_verbs()[verb][1] + rest
    if verb.endswith("ie"):
        form = verb[:-2] + "ying"
    elif verb.endswith("e") and not verb.endswith(("ee", "oe", "ye")):
        form = verb[:-1] + "ing"
    elif _CVC.match(verb):
        form = verb + verb[-1] + "ing"
    else:
        form = verb + "ing"
    return form + rest


def plural(phrase: str) -> str:
    """Plural of a noun phrase (its last word): cat -> cats, box -> boxes, teddy bear -> teddy bears."""
    if phrase in _irregular_plurals():
        return _irregular_plurals()[phrase]
    head, _, noun = phrase.rpartition(" ")
    prefix = head + " " if head else ""
    if noun in _irregular_plurals():
        return prefix + _irregular_plurals()[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return prefix + noun + "es"
    if noun.endswith("y") and noun[-2] not in _VOWELS:
        return prefix + noun[:-1] + "ies"
    return prefix + noun + "s"


def y_adjective(noun: str) -> str:
    """sand -> sandy, mud -> muddy, bubble -> bubbly, ice -> icy, wave -> wavy."""
    if noun.endswith("le"):
        return noun[:-1] + "y"
    if noun.endswith("e"):
        return noun[:-1] + "y"
    if _CVC.match(noun):
        return noun + noun[-1] + "y"
    return noun + "y"


# --- made-up words ---------------------------------------------------------------------------


def _shuffled(items: list[str], seed: str) -> list[str]:
    """A fixed order for made-up words (their ranks in the tail), the same on every machine."""
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def compounds() -> list[str]:
    """Every head + tail compound ("moonbell", "sugarbox"), in a fixed shuffled order."""
    heads, tails = read_list("compound_heads"), read_list("compound_tails")
    made = [h + t for h, t in itertools.product(heads, tails) if h[-1] != t[0]]  # not "rainnest"
    return _shuffled(made, "compounds")


def made_up_names() -> tuple[list[str], list[str]]:
    """Rare names from name parts: (girls' names, boys' names), each in a fixed shuffled order."""
    parts = read_sections("name_parts")
    girls, boys = [], []
    for start, middle, ending in itertools.product(parts["start"], [""] + parts["middle"], parts["ending"]):
        end, pronoun = ending.split("|")
        if middle and len(start) > 3:
            continue  # long starts stay two-part: "Quilla", not "Quilarella"
        name = (start + middle + end).capitalize()
        if re.search(r"[aeiou]{3}|[^aeiou]{3}", name.lower()) or (start + middle)[-1:] == end[:1]:
            continue  # no vowel or consonant pile-ups ("Eliie", "Stenlbel") and no doubled seam
        (girls if pronoun == "she" else boys).append(name)
    return _shuffled(girls, "girls"), _shuffled(boys, "boys")


# --- Zipf-like pools -------------------------------------------------------------------------


class Pool:
    """Entries drawn with probability ``1 / (rank + offset) ** exponent`` (rank from 1).

    Two laws over the same entries: ``fresh`` for a word used once in passing (``draw``), and
    ``story`` for a word a story is about and repeats (``pick``). TinyStories stories are built
    around prompt words drawn evenly from a vocabulary, so a story's own words reach deeper into
    the tail than its passing words; a flatter ``story`` law gives that.
    """

    def __init__(self, entries: list[str], fresh: tuple[float, float], story: tuple[float, float]):
        if not entries:
            raise ValueError("a pool needs at least one entry")
        self.entries = tuple(entries)
        self._cum = {law: self._cumulative(*params) for law, params in (("fresh", fresh), ("story", story))}

    def _cumulative(self, exponent: float, offset: float) -> list[float]:
        """Cumulative probabilities; the last one is raised above 1 so that any ``random()`` lands."""
        cum = list(itertools.accumulate(1.0 / (r + offset) ** exponent for r in range(1, len(self.entries) + 1)))
        total = cum[-1]
        cum = [c / total for c in cum]
        cum[-1] = 2.0
        return cum

    def __len__(self) -> int:
        return len(self.entries)

    def law(self, name: str) -> list[float]:
        """The cumulative probabilities of a law ("fresh" or "story"), for ``bisect``."""
        return self._cum[name]

    def index(self, rng: random.Random, law: str = "fresh") -> int:
        return bisect.bisect(self._cum[law], rng.random())

    def draw(self, rng: random.Random) -> str:
        return self.entries[self.index(rng)]

    def pick(self, rng: random.Random) -> str:
        return self.entries[self.index(rng, "story")]


def unique(*lists: list[str]) -> list[str]:
    """The entries of the lists in order, each once."""
    return list(dict.fromkeys(itertools.chain(*lists)))
