"""The password rules (NIST SP 800-63B-4, password used alone) and hashing."""

from __future__ import annotations

import pytest

from intake import passwords


@pytest.mark.parametrize("password", [
    "correct horse battery staple 42",
    "seven orange kites over the bay",
    "Ünïcode pässwörds are fine too",
    "x" * 3 + "7kq!zP09mRw2vLs",
])
def test_good_passwords_pass(password):
    assert passwords.password_problems(password, "dana.front@example.org") == []


@pytest.mark.parametrize("password, fragment", [
    ("short one", "at least 15"),
    ("fourteen chars", "at least 15"),
    ("p" * 257 + "q", "at most 256"),
    ("password12345678", "too common"),
    ("PASSWORD12345678", "too common"),
    ("Password2026!!!!", "too common"),
    ("qwertyuiopasdfgh", "too common"),
    ("iloveyouiloveyou", "too common"),
    ("123456789012345", "too common"),
    ("aaaaaaaaaaaaaaaaaaaa", "too common"),
    ("abcabcabcabcabcabc", "too common"),
    ("!!!!letmein2024!!!!", "too common"),
    ("dana.front loves long walks", "email name"),
    ("my intake account password", "name of this service"),
])
def test_bad_passwords_are_refused_with_a_reason(password, fragment):
    problems = passwords.password_problems(password, "dana.front@example.org")
    assert problems and fragment in " ".join(problems)


def test_no_composition_rules():
    # All lower case, no digits, no symbols: fine when long and uncommon.
    assert passwords.password_problems("lanterns drift across quiet harbours") == []


def test_the_shipped_list_is_substantial_and_has_long_entries():
    common = passwords.common_passwords()
    assert len(common) > 3000
    assert sum(len(p) >= 15 for p in common) > 1000
    assert "password" in common and not any(p.startswith("#") for p in common)


def test_hash_is_argon2id_and_verifies():
    stored = passwords.hash_password("correct horse battery staple 42")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery staple 42")
    assert not passwords.verify_password(stored, "correct horse battery staple 43")
    assert not passwords.verify_password("not a hash", "anything")
    assert not passwords.needs_rehash(stored)


def test_old_parameters_are_flagged_for_rehash():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery staple 42")
    assert passwords.needs_rehash(weak)
    assert passwords.verify_password(weak, "correct horse battery staple 42")


def test_same_password_in_another_unicode_form_matches():
    composed = "caf\u00e9 au lait every single morning"
    decomposed = "cafe\u0301 au lait every single morning"
    assert passwords.verify_password(passwords.hash_password(composed), decomposed)
