"""Tests for the synthetic children's-story corpus (predictive_training.data.synthetic)."""

from __future__ import annotations

import collections
import os
import random
import re
import subprocess
import sys
import time

import pytest

from predictive_training.data import synthetic as S
from predictive_training.data.synthetic import VOCABULARY, generate_stories, words_of

# One moderate sample shared by several tests (about 1,500 stories, well under a second).
_SAMPLE_WORDS = 200_000


@pytest.fixture(scope="module")
def sample() -> list[str]:
    return generate_stories(123, _SAMPLE_WORDS)


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


def test_duplicate_share_below_one_percent(sample):
    dup = len(sample) - len(set(sample))
    assert dup / len(sample) < 0.01


def test_vocabulary_size_and_form():
    assert 1_000 <= len(VOCABULARY) <= 2_500
    assert all(w == w.lower() and w == w.strip(".,!?\";:") and " " not in w for w in VOCABULARY)
    # Character names are part of the vocabulary (lowercased).
    assert {n.lower() for n in S.CHARACTER_NAMES} <= VOCABULARY


def test_stories_use_vocabulary_words(sample):
    tokens = [w for s in sample for w in words_of(s)]
    names = {n.lower() for n in S.CHARACTER_NAMES}
    known = sum(w in VOCABULARY or w in names for w in tokens)
    assert known / len(tokens) >= 0.98
    # VOCABULARY is derived from the templates, so in fact every token should be in it.
    assert {w for w in tokens if w not in VOCABULARY} == set()
    # ...and the vocabulary is not padded with words that never occur.
    assert len(set(tokens)) / len(VOCABULARY) > 0.9


def test_dialogue_in_most_stories_and_quotes_balanced(sample):
    with_quotes = [s for s in sample if '"' in s]
    assert len(with_quotes) / len(sample) >= 0.8
    assert all(s.count('"') % 2 == 0 for s in sample)


def test_story_shape(sample):
    for s in sample:
        assert "\n" not in s and "  " not in s and "{" not in s and "}" not in s
        assert s[0].isupper()
        assert s[-1] in '.!?"'
        # Every sentence starts with a capital letter (optionally after a quote).
        assert not re.search(r'[.!?] "?[a-z]', s), s
    lengths = [len(s.split()) for s in sample]
    assert 60 <= min(lengths) and max(lengths) <= 400
    assert 100 <= sum(lengths) / len(lengths) <= 250


def test_articles_agree(sample):
    text = " ".join(sample)
    assert not re.search(r"\b[Aa] [aeiouAEIOU]", text)
    assert not re.search(r"\b[Aa]n [^aeiouAEIOU\W]", text)


def test_hero_pronoun_matches_gender(sample):
    """In openings like 'there was a kind girl named Lily. She ...' the pronoun fits."""
    pattern = re.compile(r"there was an? (?:\w+ )?(girl|boy) named (\w+)\. (She|He) ")
    matches = [m.groups() for s in sample for m in pattern.finditer(s)]
    assert len(matches) > 50
    for kind, name, pronoun in matches:
        assert pronoun == ("She" if kind == "girl" else "He"), (kind, name, pronoun)
        names = S._GIRL_NAMES if kind == "girl" else S._BOY_NAMES
        assert name in names


def test_every_plot_renders():
    """Each plot skeleton, over many draws, fills all its slots without error."""
    for plot in S._PLOTS:
        rng = random.Random(plot.__name__)
        for _ in range(150):
            sentences, slots = plot(rng)
            text = " ".join(sentences)
            assert "{" not in text and len(sentences) >= 6
            assert slots["A"] in text


def test_plots_are_all_used(monkeypatch):
    """Every plot skeleton is drawn, in roughly equal shares."""
    calls = collections.Counter()

    def counted(plot):
        def wrapper(rng):
            calls[plot.__name__] += 1
            return plot(rng)
        return wrapper

    names = {p.__name__ for p in S._PLOTS}
    monkeypatch.setattr(S, "_PLOTS", tuple(counted(p) for p in S._PLOTS))
    n = len(generate_stories(4, 150_000))
    assert set(calls) == names
    expected = n / len(calls)
    assert all(0.6 * expected < c < 1.4 * expected for c in calls.values()), calls


def test_generation_speed_generous_bound():
    t0 = time.perf_counter()
    stories = generate_stories(0, 1_000_000)
    elapsed = time.perf_counter() - t0
    assert sum(len(s.split()) for s in stories) >= 1_000_000
    assert elapsed < 20.0, f"1M words took {elapsed:.1f} s"


def test_words_of():
    assert words_of('"Don\'t go!" said Lily.') == ["don't", "go", "said", "lily"]
    assert words_of("  ,  ") == []
