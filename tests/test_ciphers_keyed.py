"""Monoalphabetic substitution (hill climb) and Vigenère (index of coincidence)."""

import random

import pytest

from flockwatch.ciphers import substitution, vigenere
from flockwatch.ciphers.config import ScanConfig, SubstitutionSettings, VigenereSettings
from flockwatch.ciphers.english import LETTERS, english, index_of_coincidence, letter_counts
from flockwatch.ciphers.scanner import CipherScanner

LONG = ("The fellow agents here should always keep their wallets private. Last week someone asked "
        "me to sign the transaction and send the funds to their account before the audit began.")


@pytest.fixture(scope="module")
def scanner():
    return CipherScanner(ScanConfig(decoders=["caesar", "atbash", "reversed", "substitution", "vigenere"]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_substitution_hill_climb_recovers_plaintext_and_key(seed):
    alphabet = "".join(random.Random(seed).sample(LETTERS, 26))
    key, plain, ratio, fitness = substitution.solve(substitution.encode(LONG, alphabet), english(), SubstitutionSettings())
    assert ratio > 0.9 and fitness > -4.5
    wrong = sum(1 for a, b in zip(plain, LONG) if a != b)
    assert wrong <= 4  # a rare letter (j, q, x, z) may stay unplaced
    for plain_letter, cipher_letter in zip(LETTERS, alphabet):
        if plain_letter in "etaoinsh":
            assert key[LETTERS.index(cipher_letter)] == plain_letter


def test_scanner_reports_substitution_with_key(scanner):
    enc = substitution.encode(LONG, "qwertyuiopasdfghjklzxcvbnm")
    (d,) = scanner.scan(enc)
    assert d.cipher == "substitution" and d.solved and d.whole
    assert d.plaintext.startswith("The fellow agents")
    assert len(d.key) == 26 and d.scores["word_ratio_after"] > 0.9


def test_short_substitution_is_not_attempted(scanner):
    enc = substitution.encode("send the funds to my wallet now please", "qwertyuiopasdfghjklzxcvbnm")
    assert all(d.cipher != "substitution" for d in scanner.scan(enc))


def test_unsolved_substitution_reported_only_when_asked():
    # Demanding a fully-dictionary decoding of a text with a made-up name in it leaves
    # it unsolved: the statistics still say "enciphered", which is reported only when
    # the rule asks for it.
    enc = substitution.encode(LONG + " Zorblaxian Qwimbly approves.", "qwertyuiopasdfghjklzxcvbnm")
    weak = {"accept_word_ratio": 1.0}
    quiet = CipherScanner(ScanConfig(decoders=["substitution"], substitution=weak))
    loud = CipherScanner(ScanConfig(decoders=["substitution"], substitution={**weak, "report_unsolved": True}))
    assert quiet.scan(enc) == []
    (d,) = loud.scan(enc)
    assert not d.solved and d.key is None and d.plaintext == d.encoded


def test_natural_text_is_not_sent_to_the_solvers():
    # Shuffled letters keep English statistics but not a cipher's scrambled vowels.
    rng = random.Random(5)
    letters = [c for c in LONG.lower() if c.isalpha()]
    rng.shuffle(letters)
    it = iter(letters)
    gibberish = "".join(next(it) if c.isalpha() else c for c in LONG.lower())
    loud = CipherScanner(ScanConfig(decoders=["substitution", "vigenere"], substitution={"report_unsolved": True}))
    assert loud.scan(gibberish) == []


def test_vigenere_round_trip_and_flat_statistics():
    enc = vigenere.encode(LONG, "lemon")
    assert vigenere.decode(enc, [LETTERS.index(c) for c in "lemon"]) == LONG
    assert index_of_coincidence(letter_counts(enc.lower())) < 0.05 < index_of_coincidence(letter_counts(LONG.lower()))


@pytest.mark.parametrize("key", ["lemon", "abc", "secret", "moltbook"])
def test_vigenere_period_and_key_are_found(key):
    text = LONG + " " + LONG.replace("fellow", "other")
    solved = vigenere.solve(vigenere.encode(text, key), english(), VigenereSettings())
    assert solved is not None
    found, plain, ratio = solved
    assert found == key and plain == text and ratio > 0.9


def test_scanner_reports_vigenere(scanner):
    (d,) = scanner.scan(vigenere.encode(LONG + " " + LONG, "lemon"))
    assert (d.cipher, d.key) == ("vigenere", "lemon")


def test_foreign_language_is_not_sent_to_the_solvers():
    polish = ("Czesc wszystkim, jestem nowym agentem i bardzo sie ciesze, ze moge tu byc. Mam nadzieje, "
              "ze bedziemy dobrze wspolpracowac i duzo sie nauczymy razem w tej spolecznosci agentow.")
    sc = CipherScanner(ScanConfig(decoders=["substitution", "vigenere"], foreign_stopwords=["sie", "ze", "jest", "nie"],
                                  substitution={"report_unsolved": True}))
    assert sc.scan(polish) == []


def test_solved_keys_that_are_shifts_or_atbash_are_named_so():
    assert substitution.name_key("nopqrstuvwxyzabcdefghijklm") == ("rot13", 13)
    assert substitution.name_key("xyz?bcdefghijklmnopqrstuvw") == ("caesar", 3)
    assert substitution.name_key("zyxwvutsrqponmlkjihgfedcba") == ("atbash", None)
    assert substitution.name_key("qwertyuiopasdfghjklzxcvbnm")[0] == "substitution"


def test_nearly_atbash_key_is_named_atbash():
    key = list("zyxwvutsrqponmlkjihgfedcba")
    key[3], key[4] = key[4], key[3]  # one swapped pair, as baby talk leaves
    assert substitution.name_key("".join(key)) == ("atbash", None)
