"""Password hashing (argon2id) and the NIST SP 800-63B-4 rules for a password used alone.

The rules: at least 15 characters, at most 256, no composition rules, refused
when it is a common password (the list in intake/data/common_passwords.txt,
compared case-insensitively, also with padding of digits and symbols taken
off the ends) or when it contains the account's email local part.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 15
MAX_LENGTH = 256
COMMON_LIST = Path(__file__).resolve().parent / "data" / "common_passwords.txt"
# What people pad a common word with to get past a length rule.
PADDING = "0123456789!@#$%^&*()-_=+.,?~ "
# Words naming this service; NIST asks to refuse them as context-specific.
CONTEXT_WORDS = ("intake", "ketamine", "capitalketamine")

# Keyboard rows and alphabet runs; any long stretch of one (either way) is a walk, not a secret.
WALKS = ("qwertyuiopasdfghjklzxcvbnm", "1234567890qwertyuiop", "abcdefghijklmnopqrstuvwxyz",
         "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "zaq1xsw2cde3vfr4bgt5nhy6mju7", "azertyuiopqsdfghjklmwxcvbn",
         "qwertzuiopasdfghjklyxcvbnm", "01234567890123456789", "7894561230", "1472583690")
WALKS = tuple(w * 3 for w in WALKS) + tuple(w[::-1] * 3 for w in WALKS)

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults


def normalize(password: str) -> str:
    """NFKC form, so the same password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for storing."""
    return _hasher.hash(normalize(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; never raises for a bad hash."""
    try:
        return _hasher.verify(stored_hash, normalize(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with older parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("this is not anybody's password, only a timing stand-in")


def burn_verify_time(password: str) -> None:
    """Spend as long as a real check would, so an unknown email answers no faster."""
    verify_password(_dummy_hash(), password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased; lines starting with # are comments."""
    lines = COMMON_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """True when the password, or its core without padding at either end, is a known common one."""
    lowered = normalize(password).lower()
    common = common_passwords()
    candidates = {lowered, lowered.rstrip(PADDING), lowered.lstrip(PADDING), lowered.strip(PADDING),
                  lowered.replace(" ", "")}
    if any(c and c in common for c in candidates):
        return True
    core = lowered.strip(PADDING).replace(" ", "")
    if len(core) >= 8 and any(core in walk for walk in WALKS):
        return True
    # One character, or one short chunk, repeated ("aaaa...", "abcabcabc...").
    return any(core and core == (core[:n] * (len(core) // n + 1))[:len(core)] for n in range(1, 5))


def password_problems(password: str, email: str = "") -> list[str]:
    """Plain-language reasons ``password`` may not be used; empty when it is fine."""
    password = normalize(password)
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters. A few unrelated words make a good one.")
    elif len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    elif is_common(password):
        problems.append("That password is too common. Choose one that is not a well-known phrase or pattern.")
    lowered = password.lower()
    local = email.split("@", 1)[0].lower().strip() if email else ""
    if len(local) >= 3 and local in lowered:
        problems.append("Do not use your email name in your password.")
    elif any(word in lowered.replace(" ", "") for word in CONTEXT_WORDS):
        problems.append("Do not use the name of this service in your password.")
    return problems
