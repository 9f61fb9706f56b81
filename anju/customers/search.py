"""Customer name search through ``CustomerNameGram`` (R2.4.1 customer file).

The same unigram/bigram inverted index as listings (``anju.core.grams``): ``name__icontains``
read the whole table for branch managers and company-wide roles (330 ms at 1,000,000
customers), and pg_trgm cannot index two-character names. ``Customer.search_name`` holds the
normalised name (NFKC, lower case, no spaces) the grams are cut from; the services call
``set_search_name`` before and ``rebuild_name_grams`` after every save that sets a name.
"""

from __future__ import annotations

from django.db.models import Q

from anju.core.grams import gram_q, normalise, sync_grams

from .models import Customer, CustomerNameGram


def name_search_q(term: str) -> Q:
    """Customers whose (normalised) name contains the (normalised) term."""
    return gram_q(term, gram_model=CustomerNameGram, fk="customer", text_field="search_name")


def set_search_name(customer: Customer) -> bool:
    """Derive ``search_name`` from ``name`` (before a save); True when it changed."""
    text = normalise(customer.name)
    changed = text != customer.search_name
    customer.search_name = text
    return changed


def rebuild_name_grams(customer: Customer, *, created: bool = False) -> None:
    """Make the customer's grams those of ``search_name`` (after a save); ``created``: there are none yet."""
    sync_grams(CustomerNameGram, "customer", customer, customer.search_name, created=created)
