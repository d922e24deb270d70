"""Tests for the synthetic children's-story corpus (predictive_training.data.synthetic)."""

from __future__ import annotations

import collections
import os
import random
import re
import string
import subprocess
import sys
import time

import pytest

from predictive_training.data import beats as B
from predictive_training.data import lexicon as lx
from predictive_training.data import synthetic as S
from predictive_training.data.corpus_stats import TINYSTORIES, corpus_stats
from predictive_training.data.synthetic import CHARACTER_NAMES, generate_stories, words_of

# One moderate sample shared by several tests (about 1,300 stories, well under a second).
_SAMPLE_WORDS = 200_000
# The default config's corpus: data.synthetic_seed; the statistics read its first 340,000 words.
_DEFAULT_SEED = 1234


@pytest.fixture(scope="module")
def sample() -> list[str]:
    return generate_stories(123, _SAMPLE_WORDS)


@pytest.fixture(scope="module")
def default_stats() -> dict:
    return corpus_stats(generate_stories(_DEFAULT_SEED, 350_000))


# --- determinism and the API ---------------------------------------------------------------


def test_same_seed_same_stories_and_different_seed_differs():
    a = generate_stories(7, 20_000)
    b = generate_stories(7, 20_000)
    c = generate_stories(8, 20_000)
    assert a == b
    assert a != c
    # Different seeds should not merely reorder the same stories.
    assert len(set(a) & set(c)) == 0


def test_longer_request_extends_shorter_one():
    short = generate_stories(3, 5_000)
    long = generate_stories(3, 15_000)
    assert long[: len(short)] == short


def test_deterministic_across_processes():
    """Output must not depend on hash randomisation or anything process-specific."""
    code = ("import hashlib; from predictive_training.data.synthetic import generate_stories; "
            "print(hashlib.sha256('\\n'.join(generate_stories(11, 5000)).encode()).hexdigest())")
    digests = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_does_not_touch_global_random_state():
    random.seed(99)
    expected = random.random()
    random.seed(99)
    generate_stories(1, 3_000)
    assert random.random() == expected


@pytest.mark.parametrize("n_words", [1, 50, 999, 10_000])
def test_word_count_reaches_n_words_and_stops(n_words):
    stories = generate_stories(5, n_words)
    counts = [len(s.split()) for s in stories]
    assert sum(counts) >= n_words
    # It stops as soon as the target is met: without the last story it falls short.
    assert sum(counts[:-1]) < n_words


def test_zero_words_gives_no_stories():
    assert generate_stories(0, 0) == []


@pytest.mark.parametrize("seed, n_words, name", [
    ("1", 10, "seed"), (1.0, 10, "seed"), (True, 10, "seed"),
    (1, -1, "n_words"), (1, 10.0, "n_words"), (1, "10", "n_words"), (1, False, "n_words"),
])
def test_bad_arguments_raise_value_error_naming_them(seed, n_words, name):
    with pytest.raises(ValueError, match=name):
        generate_stories(seed, n_words)


def test_generation_speed_generous_bound():
    t0 = time.perf_counter()
    stories = generate_stories(0, 1_000_000)
    elapsed = time.perf_counter() - t0
    assert sum(len(s.split()) for s in stories) >= 1_000_000
    assert elapsed < 20.0, f"1M words took {elapsed:.1f} s"


def test_words_of():
    assert words_of('"Don\'t go!" said Lily.') == ["don't", "go", "said", "lily"]
    assert words_of("  ,  ") == []


# --- the statistics of real children's stories ---------------------------------


def test_vocabulary_tail_exists(default_stats):
    """Words seen once per 340,000 running words: 14 for the old generator, 1,490 in TinyStories."""
    assert default_stats["hapax_per_340k"] > 1_000


@pytest.mark.parametrize("key", sorted(TINYSTORIES))
def test_default_corpus_within_15_percent_of_tinystories(default_stats, key):
    value, target = default_stats[key], TINYSTORIES[key]
    assert abs(value - target) <= 0.15 * target, f"{key}: {value} vs TinyStories {target}"


@pytest.mark.parametrize("seed", [0, 99])
def test_other_seeds_within_15_percent_too(seed):
    stats = corpus_stats(generate_stories(seed, 350_000))
    for key, target in TINYSTORIES.items():
        assert abs(stats[key] - target) <= 0.15 * target, f"seed {seed}, {key}: {stats[key]} vs {target}"


def test_story_specific_details_recur_within_a_story(sample):
    """A story's own words (its object, food, animal, names) reach into the vocabulary's tail and
    come back within the story, as the prompt words of a TinyStories story do: of the words rare
    in the whole sample (at most 5 times) that a story uses, a good share occur twice or more."""
    corpus = collections.Counter(w for story in sample for w in words_of(story))
    again = total = 0
    for story in sample:
        counts = collections.Counter(words_of(story))
        rare = [w for w in counts if corpus[w] <= 5]
        total += len(rare)
        again += sum(counts[w] > 1 for w in rare)
    assert again / total > 0.12


# --- the shape of the text -----------------------------------------------------------------


def test_duplicate_share_below_one_percent(sample):
    dup = len(sample) - len(set(sample))
    assert dup / len(sample) < 0.01


def test_dialogue_in_most_stories_and_quotes_balanced(sample):
    with_quotes = [s for s in sample if '"' in s]
    assert len(with_quotes) / len(sample) >= 0.8
    assert all(s.count('"') % 2 == 0 for s in sample)


def test_story_shape(sample):
    for s in sample:
        assert "\n" not in s and "  " not in s and " ," not in s and " ." not in s
        assert not set(s) & set("{}[]<>|"), s  # no template syntax left over
        assert s[0].isupper()
        assert s[-1] in '.!?"'
        # Every sentence starts with a capital letter (optionally after a quote).
        assert not re.search(r'(?<!\.\.)[.!?] "?[a-z]', s), s  # "one, two, three... ten" is fine
    lengths = [len(s.split()) for s in sample]
    assert 40 <= min(lengths) and max(lengths) <= 450
    assert 130 <= sum(lengths) / len(lengths) <= 200


def test_sentence_lengths_vary(sample):
    sentences = [x for s in sample[:300] for x in re.split(r"(?<=[.!?])\s+(?=[A-Z\"])", s)]
    lengths = [len(x.split()) for x in sentences]
    assert min(lengths) <= 3 and max(lengths) >= 25
    assert len(set(lengths)) >= 20


def test_articles_agree(sample):
    text = " ".join(sample)
    for m in re.finditer(r"\b[Aa] ([aeiouAEIOU]\w*)", text):
        assert re.match(r"(?i)(uni|use|usu|ukul|one|once|eu)", m.group(1)), m.group(0)
    assert not re.search(r"\b[Aa]n [^aeiouAEIOU\W]", text)


def test_a_word_twice_in_a_row_is_rare(sample):
    """Two slots can meet as "a rubber rubber duck"; the templates avoid it where it is likely."""
    text = " ".join(sample)
    doubles = re.findall(r"\b([a-z]+) \1\b(?! goose)", text)  # "duck duck goose" is a game
    assert len(doubles) <= 2, doubles  # in 200,000 words


def test_hero_pronoun_matches_gender(sample):
    """In openings like 'there was a kind girl named Lily. She ...' the pronoun fits."""
    pattern = re.compile(r"there was an? (?:\w+ )?(girl|boy) named (\w+)\. (She|He) ")
    matches = [m.groups() for s in sample for m in pattern.finditer(s)]
    assert len(matches) > 50
    for kind, name, pronoun in matches:
        assert pronoun == ("She" if kind == "girl" else "He"), (kind, name, pronoun)
        names = S._GIRL_NAMES if kind == "girl" else S._BOY_NAMES
        assert name in names


def test_character_names_appear(sample):
    text = " ".join(sample)
    used = {n for n in re.findall(r"\b[A-Z][a-z]+\b", text) if n in CHARACTER_NAMES}
    assert len(used) > 300  # common names and made-up rare ones


# --- templates and plots -------------------------------------------------------------------


def test_every_beat_renders_with_every_slot_known():
    """Every template of every beat, over many draws, parses and fills without a missing slot."""
    rng = random.Random(0)
    for name, templates in S._BEATS.items():
        for parts in templates:
            for _ in range(30):
                s = S._cast(rng)
                text = S._fill(parts, rng, s)
                assert text and not set(text) & set("{}[]<>|"), (name, text)


def test_plots_use_known_beats_and_every_beat_is_used():
    used = {b.partition("?")[0] for plot in B.PLOTS.values() for b in plot}
    assert used <= set(B.BEATS)
    assert set(B.BEATS) - used == set(), "beats that no plot uses"


def test_every_plot_renders():
    for name in S._PLOT_NAMES:
        rng = random.Random(name)
        for _ in range(100):
            spec = S._PLOT_SPECS[name]
            s = S._cast(rng)
            text = " ".join(S._sentence(rng, s, beat, False) for beat, _ in spec)
            assert s["A"] in text and not set(text) & set("{}[]<>|")


def test_plots_are_all_used(monkeypatch):
    """Every plot is drawn, in roughly equal shares."""
    calls = collections.Counter()

    class Counting(dict):
        def __getitem__(self, key):
            calls[key] += 1
            return dict.__getitem__(self, key)

    monkeypatch.setattr(S, "_PLOT_SPECS", Counting(S._PLOT_SPECS))
    n = len(generate_stories(4, 150_000))
    assert set(calls) == set(B.PLOTS)
    expected = n / len(calls)
    assert all(0.6 * expected < c < 1.4 * expected for c in calls.values()), calls


@pytest.mark.parametrize("bad", ["[a|b", "a]b", "a|b", "<nope> x"])
def test_bad_template_syntax_is_an_error(bad):
    with pytest.raises(ValueError):
        S._parse(bad)


def test_parse_alternatives_and_optional_parts():
    template = S.Template("a [b|c [d|e]|] f")
    rng = random.Random(0)
    seen = {S._fill(template, rng, S._Slots()) for _ in range(300)}
    assert seen == {"a b f", "a c d f", "a c e f", "a f"}


def test_a_slot_that_starts_a_sentence_is_capitalised():
    s = S._Slots(A="Lily", A_he="she")
    s.rng = random.Random(0)
    assert S._fill(S.Template('{A} smiled. {A_he} said, "{A_he} is here."'), s.rng, s) == \
        'Lily smiled. She said, "She is here."'


# --- the word lists and spelling rules -----------------------------------------------------


def test_word_lists_are_clean():
    for path in sorted(lx.WORDS_DIR.glob("*.txt")):
        for entry in lx.read_list(path.stem):
            assert entry == entry.strip() and "  " not in entry, (path.name, entry)
            assert set(entry) <= set(string.ascii_letters + " '-|[]"), (path.name, entry)


def test_pools_are_long_tailed():
    """The first words of a pool are drawn most; the tail is drawn, but rarely."""
    rng = random.Random(0)
    draws = collections.Counter(S._THINGS.draw(rng) for _ in range(20_000))
    first = S._THINGS.entries[0]
    assert draws[first] == max(draws.values())
    assert len(S._THINGS) > 2_000 and len(draws) > 1_000
    assert sum(c == 1 for c in draws.values()) > 500
    # a story's own words (pick) come from a flatter law than passing words (draw)
    picks = collections.Counter(S._THINGS.pick(rng) for _ in range(20_000))
    assert picks[first] < draws[first] and len(picks) > len(draws)


@pytest.mark.parametrize("verb, past, ing", [
    ("walk", "walked", "walking"), ("hop", "hopped", "hopping"), ("make", "made", "making"),
    ("tie", "tied", "tying"), ("hurry", "hurried", "hurrying"), ("play", "played", "playing"),
    ("pick up", "picked up", "picking up"), ("run", "ran", "running"), ("visit", "visited", "visiting"),
    ("tiptoe", "tiptoed", "tiptoeing"), ("fix", "fixed", "fixing"), ("dance", "danced", "dancing"),
])
def test_verb_forms(verb, past, ing):
    assert lx.past(verb) == past and lx.ing(verb) == ing


@pytest.mark.parametrize("noun, plural", [
    ("cat", "cats"), ("box", "boxes"), ("bunny", "bunnies"), ("day", "days"), ("mouse", "mice"),
    ("teddy bear", "teddy bears"), ("leaf", "leaves"), ("field mouse", "field mice"), ("potato", "potatoes"),
])
def test_plurals(noun, plural):
    assert lx.plural(noun) == plural


@pytest.mark.parametrize("noun, adjective", [
    ("sand", "sandy"), ("mud", "muddy"), ("bubble", "bubbly"), ("ice", "icy"), ("leaf", "leafy"), ("snow", "snowy"),
])
def test_y_adjectives(noun, adjective):
    assert lx.y_adjective(noun) == adjective


def test_made_up_names_are_names():
    girls, boys = lx.made_up_names()
    assert len(girls) > 500 and len(boys) > 500
    for name in girls[:200] + boys[:200]:
        assert name[0].isupper() and name[1:].islower() and name.isalpha()
    assert girls == lx.made_up_names()[0]  # fixed order
