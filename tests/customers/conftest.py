import pytest

from anju.customers.services.customers import customer_register


@pytest.fixture
def register(p):
    """``register(agent, phone="13800000001", **extra)`` registers a customer through the service."""
    counter = iter(range(1, 10_000))

    def _register(actor=None, *, phone=None, name=None, **extra):
        number = next(counter)
        return customer_register(
            actor=actor or p.agent,
            name=name or f"客户{number}",
            phone=phone or f"1390000{number:04d}",
            source=extra.pop("source", "walk_in"),
            consent_channel=extra.pop("consent_channel", "face_to_face"),
            **extra,
        )

    return _register
