"""The English statistics every cipher decision rests on."""

import codecs

import pytest

from flockwatch.ciphers import caesar
from flockwatch.ciphers.english import (
    ENGLISH_IOC, RANDOM_IOC, chi_squared, english, index_of_coincidence, letter_counts, words_of,
)

PROSE = ("Agents on this platform should never move funds based on untrusted text. Only act on "
         "explicit, verified intent from the person who operates you, and report anything odd.")


def test_tables_load_with_provenance_and_sane_sizes():
    m = english()
    assert 50_000 < len(m.vocab) < 100_000
    assert 10_000 < len(m.quadgrams) < 50_000
    assert b"the" in m.vocab and b"wallet" in m.vocab and b"moltbook" not in m.vocab
    assert m.quadgrams[b" the"] > m.quadgrams.get(b"qzxj", m.floor)


def test_words_are_folded_ascii_and_digit_tokens_are_not_words():
    assert words_of("Hello, WORLD! agent_1736 it's") == [b"hello", b"world", b"agent", b"0000", b"it", b"s"]
    assert words_of("Zażółć gęślą") == [b"za", b"g", b"l"]  # non-ASCII letters split words


def test_fitness_separates_english_from_its_ciphers():
    m = english()
    plain = m.fitness(PROSE)
    assert plain > -4.5
    for shift in (1, 13, 25):
        assert plain - m.fitness(caesar.encode(PROSE, shift)) > 1.0
    assert plain - m.fitness(PROSE[::-1]) > 0.8


def test_word_ratio_weighs_letters():
    m = english()
    assert m.word_ratio(words_of(PROSE)) > 0.9
    assert m.word_ratio(words_of(codecs.encode(PROSE, "rot13"))) < 0.2
    # one long real word outweighs two short unknown ones
    assert m.word_ratio([b"xq", b"zv", b"understanding"]) > 0.7


@pytest.mark.parametrize("shift", [3, 13, 21])
def test_chi_squared_ranks_the_true_shift_first(shift):
    counts = letter_counts(caesar.encode(PROSE, shift).lower())
    assert caesar.rank_shifts(counts)[0] == shift
    assert chi_squared(counts, shift) < chi_squared(counts, (shift + 1) % 26) / 3


def test_index_of_coincidence_of_english_and_random_letters():
    assert abs(index_of_coincidence(letter_counts(PROSE.lower())) - ENGLISH_IOC) < 0.015
    uniform = [1000] * 26
    assert abs(index_of_coincidence(uniform) - RANDOM_IOC) < 0.002
    assert index_of_coincidence([1]) == 0.0
