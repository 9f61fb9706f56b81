"""Two workers writing audit events at once still produce one unbroken chain (DESIGN.md §3)."""

from functools import partial

import pytest
from django.db import transaction

from anju.core import audit
from anju.core.models import AuditEvent
from tests.helpers import raised, require_postgresql, run_at_once


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_chain_intact():
    require_postgresql()

    def writer(number: int) -> None:
        for index in range(15):
            with transaction.atomic():
                audit.record(actor=None, actor_name=f"writer{number}", action="test.concurrent", after={"index": index})

    errors = raised(run_at_once(**{f"writer{n}": partial(writer, n) for n in range(4)}))

    assert errors == []
    assert AuditEvent.objects.filter(action="test.concurrent").count() == 60
    result = audit.verify()
    assert result.ok, result
    assert result.count == AuditEvent.objects.count()
