"""Which characters a case-insensitive regex matches that lower-casing would not reveal.

Several searches run on lower-cased text instead of with re.IGNORECASE, which is faster; this
finds the letters (such as "ı", "İ" and "ſ") for which the two disagree, so tests can prove that
such searches fall back to the full pattern whenever one is present.
"""

from __future__ import annotations

import re
import sys


def ignorecase_only(letters: set[str]) -> set[str]:
    """Characters that re.IGNORECASE matches to one of `letters` but str.lower() does not turn
    into that letter: lower-cased text would miss them (a fast search must fall back for them)."""
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    found = set(re.findall(f"[{re.escape(''.join(letters))}]", everything, re.IGNORECASE))
    return {
        char
        for char in found
        for letter in letters
        if char.lower() != letter and re.fullmatch(re.escape(letter), char, re.IGNORECASE)
    }
