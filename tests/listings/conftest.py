import pytest

from anju.listings.services.listings import listing_create


@pytest.fixture
def make_listing(p):
    """``make_listing(actor, **overrides)`` collects a valid resale listing through the service."""
    counter = iter(range(1, 100_000))

    def _make(actor=None, **overrides):
        number = next(counter)
        fields = {
            "title": f"滨江花园 {number} 号 三室两厅",
            "city": "杭州",
            "district": "滨江区",
            "community": "滨江花园",
            "address": f"江南大道 {number} 号",
            "building_no": "3",
            "unit_no": "2",
            "room_no": f"{number:04d}",
            "floor": 8,
            "total_floors": 18,
            "built_area": "98.50",
            "usable_area": "80.00",
            "rooms": 3,
            "halls": 2,
            "baths": 1,
            "orientation": "south",
            "decoration": "fine",
            "certificate_status": "issued",
            "total_price": "320",
            "contact_name": "周先生",
            "contact_phone": "13911112222",
        }
        fields.update(overrides)
        return listing_create(actor=actor or p.agent, **fields)

    return _make
