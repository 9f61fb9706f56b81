import pytest

from anju.listings.services.listings import listing_create
from tests.helpers import listing_fields


@pytest.fixture
def make_listing(p):
    """``make_listing(actor, **overrides)`` collects a valid resale listing through the service."""
    counter = iter(range(1, 100_000))

    def _make(actor=None, **overrides):
        return listing_create(actor=actor or p.agent, **listing_fields(next(counter), **overrides))

    return _make
