"""Spotting words of suicide or self-harm in a message, to mark a lead urgent.

A miss is worse than a false alarm, but common figures of speech ("this pain is
killing me") should not page the front desk. The patterns were chosen for
first-person statements of intent, plan or wish, plus explicit terms.
"""

from __future__ import annotations

import re
import unicodedata

_ME = r"(?:i|i'm|im|i am|i've|ive|i have|i was|i've been|i keep|i feel like)"

PATTERNS = [
    r"\bsuicid\w*",
    r"\bkill(?:ing)? my ?self\b",
    r"\bkms\b",
    r"\bend(?:ing)? (?:it all|my life|things|my own life)\b",
    r"\btake my (?:own )?life\b",
    r"\bself[- ]?harm\w*",
    r"\bhurt(?:ing)? my ?self\b",
    r"\bcut(?:ting)? my ?self\b",
    r"\b(?:want|wanna|wish|going|plan|planning) (?:to )?die\b",
    r"\bwish i (?:was|were) dead\b",
    r"\bwish i (?:wasn't|was not|weren't) (?:here|alive|around)\b",
    r"\bbetter off (?:dead|without me)\b",
    r"\bno (?:reason|point) (?:to|in) (?:live|living|go on|going on)\b",
    r"\bdon'?t want to (?:live|be alive|be here anymore|wake up)\b",
    r"\b(?:can'?t|cannot) go on\b",
    r"\boverdos\w*",
    r"\b(?:hang|hanging) my ?self\b",
    r"\bnot (?:want|wanting) to be alive\b",
    r"\b" + _ME + r" (?:thinking|thought|thoughts) (?:about|of) (?:dying|death|ending)\b",
    r"\b(?:(?:don'?t|do not|can'?t|cannot|no longer) (?:see|find) (?:the|any)|(?:see|find) no) (?:point|reason) (?:in|to|of) (?:living|live|going on|go on|life)\b",
    r"\bno (?:will|wish|desire) to live\b",
    r"\bnot worth living\b",
    r"\brather (?:be|i was|i were) dead\b",
    r"\bnever wake up\b",
    r"\btoo many pills\b",
    r"\bdisappear forever\b",
]
_RE = re.compile("|".join(f"(?:{p})" for p in PATTERNS), re.IGNORECASE)

# Figures of speech that contain a pattern above but are not about the writer's life.
FALSE_ALARMS = re.compile(
    r"\b(?:suicide (?:squad|door|doors|lane|king)|(?:die|dying) (?:of|from) (?:laughter|laughing|embarrassment|boredom))\b",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


def mentions_crisis(text: str) -> bool:
    """True when ``text`` speaks of suicide or self-harm."""
    cleaned = FALSE_ALARMS.sub(" ", normalise(text))
    return bool(_RE.search(cleaned))
