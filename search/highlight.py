"""Which words of a matching transcript the query asked for. Pure functions; search/moments.py
turns them into the character spans of a moment's snippet, which the CLI and the web UI mark."""

from __future__ import annotations

import re
from functools import lru_cache

from vidseek.search.keyword import query_terms

# Light English suffix stripping: enough that "deadlines" lights up for "deadline" and
# "mentioned" for "mention", as the Porter stemmer of the full-text index matched them.
_SUFFIXES = ("ing", "ed", "s", "ly")


@lru_cache(maxsize=8192)  # a page of snippets stems the same words again and again
def _stem(word: str) -> str:
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """`text` cut into fragments that join back into it, each flagged True when it is a word
    the query asks for (stop words aside)."""
    wanted = {_stem(t) for t in query_terms(query)}
    fragments: list[tuple[str, bool]] = []
    plain_from = 0
    for word in re.finditer(r"\w+", text):
        if _stem(word.group()) in wanted:
            if word.start() > plain_from:
                fragments.append((text[plain_from:word.start()], False))
            fragments.append((word.group(), True))
            plain_from = word.end()
    if plain_from < len(text):
        fragments.append((text[plain_from:], False))
    return fragments
