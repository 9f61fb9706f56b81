import pytest

from anju.testing import make_personas

# Every test runs under the personal-data leak scanner (issue #9).
pytest_plugins = ["tests.leakscan"]


@pytest.fixture
def personas(db):
    return make_personas()


@pytest.fixture
def p(personas):
    """Short alias: ``p.agent``, ``p.admin`` …"""
    return personas


@pytest.fixture
def login(client):
    """``login(user)`` logs the Django test client in as that persona and returns the client."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture(autouse=True)
def _reset_axes(db):
    yield
