"""Field encryption and blind indexes (DESIGN.md §4): ciphertext at rest, exact lookups, rotation."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from anju.core import crypto
from anju.core.masking import normalise_phone
from anju.org.models import User

pytestmark = pytest.mark.django_db


def raw_phone(user: User) -> str:
    """The phone column exactly as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM org_user WHERE id = %s", [user.pk])
        return cursor.fetchone()[0]


def set_raw_phone(user: User, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE org_user SET phone = %s WHERE id = %s", [value, user.pk])


@pytest.fixture
def field_keys(settings):
    """Set ANJU_FIELD_KEYS for one test; the cached MultiFernet is rebuilt before and after."""

    def _use(*keys: str) -> None:
        settings.ANJU_FIELD_KEYS = list(keys)
        crypto.reset_key_cache()

    yield _use
    crypto.reset_key_cache()


# --- EncryptedTextField ---------------------------------------------------------------------


def test_phone_is_stored_as_ciphertext(p):
    stored = raw_phone(p.agent)
    assert stored != p.agent.phone
    assert p.agent.phone not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert crypto.decrypt(stored) == p.agent.phone


def test_same_phone_encrypts_differently_each_time(p):
    User.objects.filter(pk=p.agent2.pk).update(phone=p.agent.phone)
    assert raw_phone(p.agent) != raw_phone(p.agent2)
    assert User.objects.get(pk=p.agent2.pk).phone == p.agent.phone


def test_phone_round_trips_through_the_orm(p):
    p.agent.phone = "13812341234"
    p.agent.save(update_fields=["phone"])
    assert User.objects.get(pk=p.agent.pk).phone == "13812341234"
    assert "13812341234" not in raw_phone(p.agent)
    assert User.objects.values_list("phone", flat=True).get(pk=p.agent.pk) == "13812341234"


def test_chinese_text_round_trips(p):
    assert crypto.decrypt(crypto.encrypt("北京市朝阳区建国路88号")) == "北京市朝阳区建国路88号"


def test_empty_value_is_stored_empty_not_encrypted(p):
    p.agent.phone = ""
    p.agent.save(update_fields=["phone"])
    assert raw_phone(p.agent) == ""
    assert User.objects.get(pk=p.agent.pk).phone == ""
    assert User.objects.filter(phone__isnull=False, pk=p.agent.pk).exists()


@pytest.mark.parametrize(
    "lookup", ["phone", "phone__exact", "phone__iexact", "phone__contains", "phone__startswith", "phone__in"]
)
def test_lookups_other_than_isnull_are_refused(p, lookup):
    value = [p.agent.phone] if lookup.endswith("__in") else p.agent.phone
    with pytest.raises(TypeError, match="blind index"):
        User.objects.filter(**{lookup: value})


def test_exact_search_goes_through_the_blind_index(p):
    index = crypto.blind_index(normalise_phone(f"+86 {p.agent.phone}"), purpose="user.phone")
    assert list(User.objects.filter(phone_index=index)) == [p.agent]


def test_value_written_under_unknown_keys_fails_loudly(p):
    set_raw_phone(p.agent, Fernet(Fernet.generate_key()).encrypt(b"13812341234").decode())
    with pytest.raises(ImproperlyConfigured):
        User.objects.get(pk=p.agent.pk)


# --- blind index ----------------------------------------------------------------------------


def test_blind_index_is_deterministic():
    assert crypto.blind_index("13812341234", purpose="user.phone") == crypto.blind_index(
        "13812341234", purpose="user.phone"
    )


def test_blind_index_separates_values_and_purposes():
    base = crypto.blind_index("13812341234", purpose="user.phone")
    assert crypto.blind_index("13812341235", purpose="user.phone") != base
    assert crypto.blind_index("13812341234", purpose="customer.phone") != base


def test_blind_index_is_a_keyed_hash(settings):
    value = crypto.blind_index("13812341234", purpose="user.phone")
    assert len(value) == 64
    assert int(value, 16) >= 0
    assert value != hashlib.sha256(b"user.phone:13812341234").hexdigest()
    settings.ANJU_BLIND_INDEX_KEY = "another-key"
    assert crypto.blind_index("13812341234", purpose="user.phone") != value


# --- key rotation ---------------------------------------------------------------------------


def test_old_ciphertext_still_decrypts_after_a_new_key_is_added(p, settings, field_keys):
    old_key = settings.ANJU_FIELD_KEYS[0]
    old_token = raw_phone(p.agent)
    new_key = Fernet.generate_key().decode()

    field_keys(new_key, old_key)

    assert User.objects.get(pk=p.agent.pk).phone == p.agent.phone
    # New writes use the newest key.
    fresh = crypto.encrypt("13812341234")
    assert Fernet(new_key.encode()).decrypt(fresh.encode()) == b"13812341234"
    assert old_token != fresh


def test_rotate_re_encrypts_under_the_new_key(p, settings, field_keys):
    old_key = settings.ANJU_FIELD_KEYS[0]
    old_token = raw_phone(p.agent)
    new_key = Fernet.generate_key().decode()
    field_keys(new_key, old_key)

    rotated = crypto.rotate(old_token)
    set_raw_phone(p.agent, rotated)

    assert rotated != old_token
    assert Fernet(new_key.encode()).decrypt(rotated.encode()).decode() == p.agent.phone
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(rotated.encode())
    # Once every value is rotated the old key can be retired.
    field_keys(new_key)
    assert User.objects.get(pk=p.agent.pk).phone == p.agent.phone


def test_retiring_the_old_key_too_early_is_detected(p, settings, field_keys):
    field_keys(Fernet.generate_key().decode())
    with pytest.raises(ImproperlyConfigured):
        User.objects.get(pk=p.agent.pk)


def test_an_invalid_key_is_a_configuration_error(field_keys):
    field_keys("not-a-fernet-key")
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
