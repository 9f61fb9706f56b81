"""Search terms that are phone or ID numbers stay out of URLs (issue #9 defect 2, R5.2.2).

A URL ends up in the access log, the browser history, a proxy's log and the Referer of the
next request. A list whose search box takes a phone number therefore posts its filter form;
the view answers with the list URL in which such a term is replaced by ``qt=<token>``. The
term itself is kept, encrypted, in the user's own session under that token, so a copied link
finds nothing in anyone else's session. Other terms (a name, four last digits) and the other
filters stay readable in the URL.

    if request.method == "POST":
        return private_search.results_response(request, "customers:customer-list")
    if (cleaned := private_search.redirect_if_private(request)) is not None:
        return cleaned  # an old ``?q=13812345678`` link: same page, number out of the URL
    data, expired = private_search.resolved_query(request)
"""

from __future__ import annotations

import json
import secrets
import unicodedata

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse

from .crypto import decrypt, encrypt

SEARCH_PARAM = "qt"
# Sent with ``term`` when a token is turned back into the user's own search term: the page may
# show that term (in its search box) although the request did not carry it. The tests' leak
# scanner listens, as it does to ``core.reveal.number_revealed``.
search_term_recalled = Signal()
SESSION_KEY = "anju.private_searches"
# Enough for a working day of searches; the oldest is forgotten first.
KEPT = 20
# Four digits are the "last four" search and identify nobody; five or more may be most of a number.
PRIVATE_DIGITS = 5
_NOT_IN_URL = {"csrfmiddlewaretoken", SEARCH_PARAM}


def is_private(term: str) -> bool:
    """Whether a search term holds enough digits to be (part of) a phone or ID number."""
    text = unicodedata.normalize("NFKC", term or "")
    return sum(ch.isdigit() for ch in text) >= PRIVATE_DIGITS


def _stash(request, term: str) -> str:
    kept: dict[str, str] = dict(request.session.get(SESSION_KEY, {}))
    for token, sealed in kept.items():
        if _unseal(sealed) == term:  # typing pauses post the same term again: one token for it
            return token
    token = secrets.token_urlsafe(9)
    kept[token] = encrypt(term)
    while len(kept) > KEPT:
        kept.pop(next(iter(kept)))
    request.session[SESSION_KEY] = kept
    return token


def _unseal(sealed: str) -> str | None:
    try:
        return decrypt(sealed)
    except ImproperlyConfigured:  # sealed under a key rotated away since: forgotten
        return None


def _recall(request, token: str) -> str | None:
    sealed = request.session.get(SESSION_KEY, {}).get(token)
    return _unseal(sealed) if sealed else None


def url_query(request, data: QueryDict, field: str = "q") -> QueryDict:
    """The filters for a URL: empty ones dropped, a private ``field`` replaced by a token."""
    query = QueryDict(mutable=True)
    for key, values in data.lists():
        filled = [value for value in values if value != ""]
        if key not in _NOT_IN_URL and filled:
            query.setlist(key, filled)
    term = (query.get(field) or "").strip()
    if term and is_private(term):
        del query[field]
        query[SEARCH_PARAM] = _stash(request, term)
    return query


def _with_query(path: str, query: QueryDict) -> str:
    return f"{path}?{query.urlencode()}" if query else path


def results_response(request, url_name: str, field: str = "q") -> HttpResponse:
    """Answer a posted filter form: go to the list URL with these filters, a number never in it.

    HTMX gets ``HX-Location``: it fetches that URL into the same target and pushes it to the
    history, so typing in the search box still updates the table in place.
    """
    url = _with_query(reverse(url_name), url_query(request, request.POST, field))
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target:
        response = HttpResponse()
        response["HX-Location"] = json.dumps({"path": url, "target": f"#{htmx.target}"})
        return response
    return HttpResponseRedirect(url)


def redirect_if_private(request, field: str = "q") -> HttpResponse | None:
    """For an old-style link with the number in ``?q=``: the same page, the number moved out."""
    if not is_private(request.GET.get(field, "")):
        return None
    return HttpResponseRedirect(_with_query(request.path, url_query(request, request.GET, field)))


def resolved_query(request, field: str = "q") -> tuple[QueryDict, bool]:
    """``request.GET`` with the token turned back into the term, and whether the token was unknown.

    Unknown means another user's link, an ended session or a forgotten search: the term is then
    left empty and the caller must not show the unfiltered list as if it were the result.
    """
    token = request.GET.get(SEARCH_PARAM)
    if not token:
        return request.GET, False
    data = request.GET.copy()
    del data[SEARCH_PARAM]
    term = _recall(request, token)
    if term is None:
        data.pop(field, None)
        return data, True
    data[field] = term
    search_term_recalled.send(sender=resolved_query, request=request, term=term)
    return data, False
