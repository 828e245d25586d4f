"""Which words of a matching transcript the query asked for. Pure functions; search/moments.py
turns them into the character spans of a moment's snippet, which the CLI and the web UI mark."""

from __future__ import annotations

import re
from functools import lru_cache

from vidseek.search.queries.keyword import SPACELESS_CHARACTERS, query_terms

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
    the query asks for (stop words aside). A term in a script written without spaces
    (Chinese...) is flagged wherever it occurs, as keyword search finds it inside runs."""
    terms = query_terms(query)
    wanted = {_stem(t) for t in terms}
    inside = sorted((t for t in terms if re.search(SPACELESS_CHARACTERS, t)), key=len, reverse=True)
    within = re.compile("|".join(map(re.escape, inside))) if inside else None
    fragments: list[tuple[str, bool]] = []
    plain_from = 0
    for word in re.finditer(r"\w+", text):
        if _stem(word.group()) in wanted:
            spans = [word.span()]
        elif within:
            spans = [(word.start() + m.start(), word.start() + m.end())
                     for m in within.finditer(word.group())]
        else:
            continue
        for start, end in spans:
            if start > plain_from:
                fragments.append((text[plain_from:start], False))
            fragments.append((text[start:end], True))
            plain_from = end
    if plain_from < len(text):
        fragments.append((text[plain_from:], False))
    return fragments
