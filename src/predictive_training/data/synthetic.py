"""Seeded generator of children's stories: the study's offline default corpus.

The stories imitate TinyStories: short, simple English about named children and animals, a
problem and its resolution, dialogue, sometimes a lesson or a sad ending. The aim is text with
the statistics of the real thing: a long-tailed vocabulary with rare words, names and
compounds; sentences of varied structure and length; and story-specific details that the
templates alone do not predict. ``corpus_stats.py`` measures how close it comes.

How a story is made
-------------------
1. A cast: the hero (a girl, a boy or a named animal), a friend and a grown-up.
2. A plot (one of ``PLOTS`` in ``beats.py``) lists beats, some of them optional; a beat is one
   of several sentence templates. Some sentences grow a clause (", and the wind moved the
   tulips"), get a lead-in ("Then, ") or say "she" for the hero's name.
3. Templates are small grammars (``beats.py``): ``[a|b|c]`` picks one alternative, ``{key}`` is
   a story prop or a fresh word. Story props (the story's object, food, place, animal, verb...)
   are drawn when a sentence first needs them and then kept, so they recur through the story as
   the prompt words of a TinyStories story do; they come from a flat Zipf-like law over the word
   lists in ``words/`` and so reach into the tail. Fresh words ("a {adj} {animal}") are new at
   every use, from a steeper law: mostly common words, sometimes rare ones (``lexicon.py``).
4. "a" becomes "an" before a vowel sound.

The word lists and the laws' exponents were tuned only to the four text statistics of real
TinyStories (``corpus_stats.TINYSTORIES``: distinct words per 100,000, words seen once per
340,000, gzip ratio, share of the ten most frequent words), never to a training outcome.

Public API
----------
``generate_stories(seed, n_words) -> list[str]``
    Stories, one string each (a single line), whose whitespace-separated word count sums to at
    least ``n_words``. Deterministic in ``seed``; a longer request returns the shorter request's
    stories as a prefix. ``iter_stories(seed, n_words)`` yields the same stories one at a time.
``words_of(text) -> list[str]``
    The words of a text as the corpus statistics count them (``corpus_stats.words``).
``CHARACTER_NAMES``
    Every name a character can have (capitalised as in the stories).

Randomness comes only from a ``random.Random(seed)`` passed down explicitly; global random
state is never touched.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Iterator

from . import lexicon as lx
from .beats import AND, BEATS, JOINABLE, MACROS, NO_LEAD_IN, PLOTS, PREFIXES
from .corpus_stats import words as words_of

__all__ = ["generate_stories", "iter_stories", "words_of", "CHARACTER_NAMES", "PLOTS"]

# ---------------------------------------------------------------------------------------------
# Word pools. Exponent and offset of the Zipf-Mandelbrot law of fresh words, per kind of pool: a
# steeper law keeps the tail rare, a larger offset spreads the head.
# ---------------------------------------------------------------------------------------------

ZIPF = {"noun": (1.35, 2.0), "name": (1.3, 1.0), "describe": (1.35, 2.0), "verb": (1.35, 2.0), "style": (1.0, 1.0)}
# The law of a story's own words (its object, food, animal, verb, names; see lexicon.Pool).
STORY_ZIPF = (0.8, 5.0)


def _pool(entries: list[str], kind: str) -> lx.Pool:
    return lx.Pool(entries, ZIPF[kind], STORY_ZIPF if kind != "style" else ZIPF[kind])


_made_girls, _made_boys = lx.made_up_names()
_GIRL_NAMES = lx.read_list("girl_names") + _made_girls
_BOY_NAMES = lx.read_list("boy_names") + _made_boys
_PET_NAMES = lx.read_list("pet_names")
CHARACTER_NAMES: frozenset[str] = frozenset(_GIRL_NAMES + _BOY_NAMES + _PET_NAMES)

_THINGS = _pool(lx.unique(lx.read_list("things"), lx.compounds()), "noun")
_ANIMALS = _pool(lx.read_list("animals"), "noun")
_FOODS = _pool(lx.read_list("foods"), "noun")
_PLANTS = _pool(lx.read_list("plants"), "noun")
_SOUNDS = _pool(lx.read_list("sounds"), "noun")
_ADJS = _pool(lx.unique(lx.read_list("adjectives"), [lx.y_adjective(n) for n in lx.read_list("y_bases")]), "describe")
_FOOD_ADJS = _pool(lx.read_list("food_adjectives"), "describe")
_CHAR_ADJS = _pool(lx.read_list("character_adjectives"), "describe")
_COLORS = _pool(lx.read_list("colors"), "describe")
_ADVERBS = _pool(lx.read_list("adverbs"), "style")
_MOVES = _pool(lx.read_list("verbs_move"), "verb")
_HANDLES = _pool(lx.read_list("verbs_handle"), "verb")
_ACTIVITIES = _pool(lx.read_list("activities"), "verb")
_DISHES = _pool(lx.read_list("dishes"), "noun")
_INGREDIENTS = _pool(lx.read_list("ingredients"), "noun")
_SPOTS_OUT = _pool(lx.read_list("spots_outdoor"), "noun")
_SPOTS_IN = _pool(lx.read_list("spots_indoor"), "noun")
_GIRLS = _pool(_GIRL_NAMES, "name")
_BOYS = _pool(_BOY_NAMES, "name")
_PETS = _pool(_PET_NAMES, "name")
_FEELINGS = {k: _pool(v, "style") for k, v in lx.read_sections("feelings").items()}

_PLACE_ROWS = [row.split("|") for row in lx.read_list("places")]
_PLACES_OUT = _pool([p for p, _, where in _PLACE_ROWS if where == "o"], "noun")
_PLACE_AT = {p: f"{prep} the {p}" for p, prep, _ in _PLACE_ROWS}


def _forms(pool: lx.Pool, form) -> tuple[str, ...]:
    return tuple(form(e) for e in pool.entries)


# Forms drawn together with their base word (one index, several lists).
_THINGS_PL = _forms(_THINGS, lx.plural)
_ANIMALS_PL = _forms(_ANIMALS, lx.plural)
_FOODS_PL = _forms(_FOODS, lx.plural)
_PLANTS_PL = _forms(_PLANTS, lx.plural)
_MOVES_PAST, _MOVES_ING = _forms(_MOVES, lx.past), _forms(_MOVES, lx.ing)
_HANDLES_PAST, _HANDLES_ING = _forms(_HANDLES, lx.past), _forms(_HANDLES, lx.ing)
_ACTIVITIES_PAST, _ACTIVITIES_ING = _forms(_ACTIVITIES, lx.past), _forms(_ACTIVITIES, lx.ing)


# Fresh slots: every occurrence of one of these keys in a template is a new draw, from the
# pool's "fresh" law; a key maps to (cumulative probabilities, the words or their forms).
_FRESH: dict[str, tuple[list[float], tuple[str, ...]]] = {
    key: (pool.law("fresh"), forms if forms is not None else pool.entries)
    for key, pool, forms in (
        ("thing", _THINGS, None), ("things", _THINGS, _THINGS_PL),
        ("animal", _ANIMALS, None), ("animals", _ANIMALS, _ANIMALS_PL),
        ("food", _FOODS, None), ("foods", _FOODS, _FOODS_PL),
        ("plant", _PLANTS, None), ("plants", _PLANTS, _PLANTS_PL),
        ("sound", _SOUNDS, None), ("adj", _ADJS, None), ("yum", _FOOD_ADJS, None), ("char_adj", _CHAR_ADJS, None),
        ("color", _COLORS, None), ("adverb", _ADVERBS, None),
        ("move", _MOVES, None), ("moved", _MOVES, _MOVES_PAST), ("moving", _MOVES, _MOVES_ING),
        ("handle", _HANDLES, None), ("handled", _HANDLES, _HANDLES_PAST),
        ("activity", _ACTIVITIES, None), ("activity_ed", _ACTIVITIES, _ACTIVITIES_PAST),
        ("ingredient", _INGREDIENTS, None), ("spot", _SPOTS_OUT, None), ("spot_in", _SPOTS_IN, None),
        ("place", _PLACES_OUT, None), ("girl", _GIRLS, None), ("boy", _BOYS, None), ("pet_name", _PETS, None),
        *((k, p, None) for k, p in _FEELINGS.items()),
    )
}


class _Slots(dict):
    """A story's slots. A missing key is a story prop, drawn when first used and then kept (see
    ``_PROPS``), or else a fresh draw from its word pool, new at every use (``_FRESH``)."""

    __slots__ = ("rng",)

    def __missing__(self, key: str) -> str:
        prop = _PROPS.get(key)
        if prop is not None:
            prop(self.rng, self)
            return dict.__getitem__(self, key)
        if key[-1] == "^":  # starts a sentence
            value = self[key[:-1]]
            return value[:1].upper() + value[1:]
        cum, words = _FRESH[key]
        return words[bisect.bisect(cum, self.rng.random())]


# ---------------------------------------------------------------------------------------------
# Templates (the text is in beats.py): parsed once into nested parts, rendered lazily
# ---------------------------------------------------------------------------------------------

# A parsed template is a tuple of parts; a part is literal text (with {slots}) or a tuple of
# alternatives, each itself a tuple of parts.
Parts = tuple


def _parse(template: str) -> Parts:
    """Parse ``[a|b]`` groups (nested) after replacing ``<macros>``."""
    while "<" in template:
        expanded = template
        for name, body in MACROS.items():
            expanded = expanded.replace(name, body)
        if expanded == template:
            raise ValueError(f"unknown macro in template: {template!r}")
        template = expanded
    parts, i = _parse_seq(template, 0, top=True)
    return parts


def _parse_seq(text: str, i: int, top: bool) -> tuple[Parts, int]:
    parts: list = []
    literal: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "[":
            if literal:
                parts.append("".join(literal))
                literal = []
            alternatives = []
            i += 1
            while True:
                alt, i = _parse_seq(text, i, top=False)
                alternatives.append(alt)
                if text[i] == "]":
                    i += 1
                    break
                i += 1  # "|"
            parts.append(tuple(alternatives))
        elif ch in "|]" and not top:
            break
        elif ch in "|]":
            raise ValueError(f"unbalanced {ch!r} in template: {text!r}")
        else:
            literal.append(ch)
            i += 1
    else:
        if not top:
            raise ValueError(f"unclosed '[' in template: {text!r}")
    if literal:
        parts.append("".join(literal))
    return tuple(parts), i


def _emit(parts: Parts, rng: random.Random, out: list[str]) -> None:
    for part in parts:
        if part.__class__ is str:
            out.append(part)
        else:  # rng.choice, without its per-call overhead
            _emit(part[int(rng.random() * len(part))], rng, out)


# A slot that starts a sentence inside a template (after ". ", or an opening quote after a
# sentence end or a comma) becomes "{key^}": its value capitalised (see _Slots.__missing__).
_SLOT_START = re.compile(r'((?:[.!?]|,) "\[?|[.!?] \[?)\{(\w+)\}')


class Template:
    """A parsed template (see ``_parse``)."""

    __slots__ = ("parts", "flat")

    def __init__(self, text: str):
        self.parts = _parse(_SLOT_START.sub(r"\1{\2^}", text))
        # a template without alternatives is one string (most of the time saved in _emit)
        self.flat = self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], str) else None


def _fill(template: Template, rng: random.Random, s: "_Slots") -> str:
    """Render a template: choose alternatives, fill slots, tidy the spaces they leave."""
    if template.flat is not None:
        text = template.flat.format_map(s)
    else:
        out: list[str] = []
        _emit(template.parts, rng, out)
        text = "".join(out).format_map(s)
    if "  " in text or " ," in text or " ." in text:
        text = " ".join(text.split()).replace(" ,", ",").replace(" .", ".")
    return text


_BEATS = {name: tuple(Template(t) for t in templates) for name, templates in BEATS.items()}
_AND = tuple(Template(t) for t in AND)


def _compile_plot(beats: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """("open", "trait?", "extra?0.4") -> (("open", 1.0), ("trait", 0.5), ("extra", 0.4))."""
    out = []
    for b in beats:
        name, optional, p = b.partition("?")
        if name not in _BEATS:
            raise ValueError(f"plot names unknown beat {name!r}")
        out.append((name, (float(p) if p else 0.5) if optional else 1.0))
    return tuple(out)


_PLOT_SPECS = {name: _compile_plot(beats) for name, beats in PLOTS.items()}
_PLOT_NAMES = tuple(PLOTS)

# Story-level choices (uniform: these are style, not vocabulary).
_PARENTS = (("mom", "she"), ("dad", "he"), ("mommy", "she"), ("daddy", "he"), ("grandma", "she"),
            ("grandpa", "he"), ("mom", "she"), ("dad", "he"), ("mother", "she"), ("father", "he"))
_HOMES = ("in a small house", "in a little house near the woods", "on a big farm", "in a busy town",
          "in a cozy house by the sea", "in a tall house on a hill", "in a quiet village",
          "near a big park", "in a little house by a river", "in a small town", "in the forest",
          "by a pond", "in a big city", "in a yellow house", "under a big tree", "next to a bakery")
_SKILLS = ("ride a bike", "swim", "tie shoes", "read", "whistle", "skip", "climb the big tree",
           "fly a kite", "jump rope", "skate", "bake bread", "count to ten", "write {A_his} name",
           "do a cartwheel", "play the {INSTR}")
_INSTRUMENTS = ("drum", "piano", "flute", "violin", "guitar", "harmonica", "recorder", "trumpet", "ukulele")
_TREES = ("tree", "oak tree", "apple tree", "pine tree", "tall tree", "big tree", "maple tree", "willow")
_SHEDS = ("shed", "house", "barn", "garage", "playhouse")
_DANGERS = ("pond", "road", "river", "stove", "big hole", "old well", "cliff", "fire", "deep water",
            "broken fence", "bees' nest", "train tracks")
_PRONOUNS = {"she": ("she", "her", "her", "herself"), "he": ("he", "him", "his", "himself")}


def _character(rng: random.Random, s: _Slots, role: str, animal_share: float) -> None:
    """Name, kind, adjective and pronouns of a character, stored under ``role`` in ``s``."""
    if rng.random() < animal_share:
        kind = _ANIMALS.pick(rng)
        pronoun = rng.choice(("she", "he"))
        name = _PETS.pick(rng)
    elif rng.random() < 0.6:  # TinyStories has more girls (Lily, Sue, Mia) than boys
        kind, pronoun, name = "girl", "she", _GIRLS.pick(rng)
    else:
        kind, pronoun, name = "boy", "he", _BOYS.pick(rng)
    he, him, his, self_ = _PRONOUNS[pronoun]
    s[role] = name
    s.update({f"{role}_kind": kind, f"{role}_he": he, f"{role}_him": him, f"{role}_his": his,
              f"{role}_self": self_, f"{role}_adj": _CHAR_ADJS.pick(rng)})


def _cast(rng: random.Random) -> _Slots:
    """The characters of a story; its props are drawn when a sentence first needs them."""
    s = _Slots()
    s.rng = rng
    _character(rng, s, "A", 0.25)
    _character(rng, s, "B", 0.3)
    while s["B"] == s["A"]:
        _character(rng, s, "B", 0.3)
    parent, pronoun = rng.choice(_PARENTS)
    he, him, his, _self = _PRONOUNS[pronoun]
    s.update(P=parent, P_Cap=parent.capitalize(), P_he=he, P_him=him, P_his=his)
    return s


# Story props: each function draws one group of slots (a story's object, its food...).


def _object(rng, s):
    s.update(O=_THINGS.pick(rng), O_adj=_ADJS.pick(rng), O_color=_COLORS.pick(rng))


def _second_thing(rng, s):
    s.update(X2=_THINGS.pick(rng), X2_adj=_ADJS.pick(rng))


def _food(rng, s):
    f = _FOODS.index(rng, "story")
    s.update(F=_FOODS.entries[f], F_s=_FOODS_PL[f], F_adj=_FOOD_ADJS.pick(rng))


def _place(rng, s):
    place = _PLACES_OUT.pick(rng)
    s.update(L_the=f"the {place}", L_at=_PLACE_AT[place])


def _spots(rng, s):
    h: list[str] = []
    while len(h) < 3:  # three different spots
        spot = _SPOTS_OUT.pick(rng)
        if spot not in h:
            h.append(spot)
    s.update(H1=h[0], H2=h[1], H3=h[2])


def _creature(rng, s):
    c = _ANIMALS.index(rng, "story")
    s.update(C=_ANIMALS.entries[c], C_s=_ANIMALS_PL[c], C_adj=_CHAR_ADJS.pick(rng),
             C_moved=_MOVES_PAST[_MOVES.index(rng, "story")])


def _verb(rng, s):
    v = _HANDLES.index(rng, "story")
    s.update(V=_HANDLES.entries[v], V_ed=_HANDLES_PAST[v])


def _activity(rng, s):
    a = _ACTIVITIES.index(rng, "story")
    s.update(ACT=_ACTIVITIES.entries[a], ACT_ed=_ACTIVITIES_PAST[a], ACT_ing=_ACTIVITIES_ING[a])


def _dish(rng, s):
    dish = _DISHES.pick(rng)
    many = dish.endswith(("s", "men"))
    s.update(DISH=dish, DISH_it="them" if many else "it", DISH_was="were" if many else "was",
             DISH_was_cap="They were" if many else "It was", DISH_this="These are" if many else "This is")


def _pet(rng, s):
    s.update(PET=_PETS.pick(rng), PET_kind=_ANIMALS.pick(rng), PET_his=rng.choice(("his", "her")))


def _home(rng, s):
    home = rng.choice(_HOMES)
    s.update(home=home, home_Cap=home[:1].upper() + home[1:])


def _skill(rng, s):
    s["SK"] = rng.choice(_SKILLS).replace("{A_his}", s["A_his"]).replace("{INSTR}", rng.choice(_INSTRUMENTS))


def _one(key: str, draw):
    def prop(rng, s):
        s[key] = draw(rng)
    return prop


def _choice(options: tuple[str, ...]):
    return lambda rng: rng.choice(options)


_PROPS = {key: group for group, keys in (
    (_object, "O O_adj O_color"), (_second_thing, "X2 X2_adj"), (_food, "F F_s F_adj"), (_place, "L_the L_at"),
    (_spots, "H1 H2 H3"), (_creature, "C C_s C_adj C_moved"), (_verb, "V V_ed"), (_activity, "ACT ACT_ed ACT_ing"),
    (_dish, "DISH DISH_it DISH_was DISH_was_cap DISH_this"), (_pet, "PET PET_kind PET_his"), (_home, "home home_Cap"),
    (_skill, "SK"),
) for key in keys.split()}
_PROPS.update({key: _one(key, draw) for key, draw in (
    ("J", _ADJS.pick), ("SND", _SOUNDS.pick), ("excited", _FEELINGS["happy"].draw),
    ("activity_ing", lambda rng: _ACTIVITIES_ING[_ACTIVITIES.index(rng)]),
    ("A_age", _choice(("four", "five", "six", "seven"))), ("tree", _choice(_TREES)), ("shed", _choice(_SHEDS)),
    ("W", _choice(_DANGERS)), ("SUDDEN", _choice(("Suddenly", "All of a sudden", "Just then"))),
    ("SUDDEN_l", _choice(("suddenly", "all of a sudden", "just then"))), ("SAID", _choice(("asked", "called", "said"))),
    ("cried", _choice(("cried", "said", "sobbed"))), ("shouted", _choice(("shouted", "cried", "yelled", "called"))),
)})


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

# "a" before a vowel becomes "an", except before "u" read "yu" and "o" read "wo" ("a unicorn",
# "a one"). A replacement string, not a callback: this runs on every story.
_ARTICLE = re.compile(r'([ "][Aa]) (?=[aeiou])(?!uni|use|usu|ukul|one|once|eu)')


def _cap(text: str) -> str:
    if text[:1] == '"':
        return '"' + text[1:2].upper() + text[2:]
    return text[:1].upper() + text[1:]


# How often a sentence of a JOINABLE beat grows a clause (", and the sun was warm"); how often a
# sentence that starts with the hero gets a lead-in ("Then, "); how often the hero's name at the
# start of a sentence becomes a pronoun when the sentence before was about the hero, too.
JOIN_SHARE = 0.45
PREFIX_SHARE = 0.15
PRONOUN_SHARE = 0.7


def _sentence(rng: random.Random, s: _Slots, beat: str, about_hero: bool) -> str:
    """One beat, rendered; sometimes joined with a clause, led in or pronominalised; capitalised."""
    templates = _BEATS[beat]
    text = _fill(templates[int(rng.random() * len(templates))], rng, s)
    if about_hero and text.startswith(s["A"] + " ") and rng.random() < PRONOUN_SHARE:
        text = s["A_he"] + text[len(s["A"]):]
    if beat in JOINABLE and rng.random() < JOIN_SHARE and text[-1:] == "." and text[-2:] != ".." and '"' not in text:
        joint = rng.choice((", and ", " and ", ", and then "))
        text = text[:-1] + joint + _fill(rng.choice(_AND), rng, s) + "."
    elif beat not in NO_LEAD_IN and rng.random() < PREFIX_SHARE and text.startswith((s["A"] + " ", s["A_he"] + " ")):
        text = rng.choice(PREFIXES) + text
    return _cap(text)


def _story(rng: random.Random) -> str:
    spec = _PLOT_SPECS[rng.choice(_PLOT_NAMES)]
    s = _cast(rng)
    sentences: list[str] = []
    about_hero = False
    hero = (s["A"] + " ", s["A_he"].capitalize() + " ")
    for name, prob in spec:
        if prob >= 1.0 or rng.random() < prob:
            text = _sentence(rng, s, name, about_hero)
            sentences.append(text)
            about_hero = text.startswith(hero) or text.rsplit(". ", 1)[-1].startswith(hero)
    return _ARTICLE.sub(r"\1n ", " " + " ".join(sentences))[1:]


def generate_stories(seed: int, n_words: int) -> list[str]:
    """Return stories (one string each, no line breaks inside a story) whose total
    whitespace-separated word count is at least ``n_words``. Deterministic in ``seed``.

    Args:
        seed: any integer; drives a private ``random.Random(seed)``.
        n_words: minimum total number of whitespace-separated words (>= 0).

    Returns:
        A list of single-line stories. For a fixed seed the stories for a smaller ``n_words``
        are a prefix of those for a larger one.

    Raises:
        ValueError: if ``seed`` is not an int or ``n_words`` is not a non-negative int.
    """
    _check_args(seed, n_words)
    return list(iter_stories(seed, n_words))


def _check_args(seed, n_words) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if isinstance(n_words, bool) or not isinstance(n_words, int) or n_words < 0:
        raise ValueError(f"n_words must be a non-negative int, got {n_words!r}")


def iter_stories(seed: int, n_words: int) -> Iterator[str]:
    """The stories of :func:`generate_stories`, one at a time (``prepare`` streams them; the
    arguments are checked when it is called)."""
    _check_args(seed, n_words)
    return _stories(seed, n_words)


def _stories(seed: int, n_words: int) -> Iterator[str]:
    rng = random.Random(seed)
    total = 0
    while total < n_words:
        story = _story(rng)
        yield story
        total += story.count(" ") + 1  # single spaces only, so this is len(story.split())
