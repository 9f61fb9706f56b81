"""Chinese substring search through a unigram/bigram inverted index, for any model.

``LIKE '%滨江%'`` cannot use a B-tree index, and PostgreSQL's pg_trgm is no help for Chinese
(it ignores CJK characters under the C locale, and most Chinese names are only two or three
characters: fewer than a trigram needs). So a searchable model keeps the unigrams and bigrams
of its normalised text in a "gram" table ``(owner FK, gram CharField(2))`` with an index on
``(gram, owner)`` and a unique constraint on ``(owner, gram)``; ``gram_q`` turns a search term
into a filter over that table. Used by listings (``SearchGram``) and customer names
(``CustomerNameGram``); see docs/decisions.md "Chinese substring search".

A query of n ≥ 2 characters looks up its bigrams, keeps the rows that have all of them and
(n ≥ 3) confirms the exact substring on that small set against the stored normalised text; a
one-character query uses its unigram.
"""

from __future__ import annotations

import re
import unicodedata

from django.db.models import F, Model, Q, Value
from django.db.models.lookups import In

_SPACE = re.compile(r"\s+")

# More bigrams than this add semi-joins without narrowing the candidates much; the substring
# check on the stored text keeps the result exact whichever bigrams are used.
MAX_KEYS = 6


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower case, no whitespace: the form grams are cut from."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def grams_of(text: str) -> set[str]:
    """The distinct characters and character pairs of the normalised text."""
    text = normalise(text)
    return set(text) | {text[i : i + 2] for i in range(len(text) - 1)}


def _keys(needle: str) -> list[str]:
    """The grams a match must contain: the character itself, or the term's distinct bigrams
    (at most MAX_KEYS, spread over the whole term)."""
    if len(needle) == 1:
        return [needle]
    bigrams = list(dict.fromkeys(needle[i : i + 2] for i in range(len(needle) - 1)))
    if len(bigrams) <= MAX_KEYS:
        return bigrams
    step = (len(bigrams) - 1) / (MAX_KEYS - 1)
    return [bigrams[round(i * step)] for i in range(MAX_KEYS)]


def sync_grams(gram_model: type[Model], fk: str, owner: Model, text: str, *, created: bool = False) -> None:
    """Make ``owner``'s rows in ``gram_model`` the grams of ``text``: delete the stale ones, add
    the missing ones (``created``: a new row has none yet, so nothing is read first)."""
    grams = gram_model._default_manager
    wanted = grams_of(text)
    existing = set() if created else set(grams.filter(**{fk: owner}).values_list("gram", flat=True))
    if existing - wanted:
        grams.filter(**{fk: owner, "gram__in": existing - wanted}).delete()
    grams.bulk_create([gram_model(**{fk: owner, "gram": gram}) for gram in sorted(wanted - existing)])


def gram_q(term: str, *, gram_model: type[Model], fk: str, text_field: str) -> Q:
    """A filter on the searched model: rows whose normalised text contains ``term``.

    ``gram_model`` is the gram table, ``fk`` its foreign key to the searched model (e.g.
    ``"listing"``), ``text_field`` the searched model's stored normalised text, used to confirm
    terms of three or more characters (the bigrams alone would also accept 轩明轩 for 明轩明).

    One ``id IN (SELECT fk … WHERE gram = …)`` per gram rather than one GROUP BY … HAVING
    COUNT(DISTINCT gram) = n: the planner estimates each gram from its statistics (a HAVING
    clause is a blind 0.5 % guess, which sent PostgreSQL into nested loops over thousands of
    rows) and can intersect the sorted (gram, fk) index ranges with merge joins. For one or
    two characters the gram *is* the substring, so no text check is needed.
    """
    needle = normalise(term)
    if not needle:
        return Q()
    grams = gram_model._default_manager
    if len(needle) == 1:
        # A single character is in thousands of rows. "id + 0" keeps both databases from
        # driving the query from the gram list (one row fetch per match, then a sort of them
        # all: over a second on SQLite); they read the list's sorted index instead and check
        # each row against the gram set built once, so a page is found within a few hundred rows.
        return Q(In(F("pk") + Value(0), grams.filter(gram=needle).values(fk)))
    condition = Q()
    for key in _keys(needle):
        condition &= Q(pk__in=grams.filter(gram=key).values(fk))
    if len(needle) > 2:
        condition &= Q(**{f"{text_field}__contains": needle})
    return condition
