"""Two workers writing audit events at once still produce one unbroken chain (DESIGN.md §3)."""

import threading

import pytest
from django.db import close_old_connections, connection, transaction

from anju.core import audit
from anju.core.models import AuditEvent


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_chain_intact():
    if connection.vendor != "postgresql":
        pytest.skip("needs real concurrent transactions (PostgreSQL); SQLite serialises writers itself")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for index in range(15):
                with transaction.atomic():
                    audit.record(
                        actor=None, actor_name=f"writer{number}", action="test.concurrent", after={"index": index}
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert AuditEvent.objects.filter(action="test.concurrent").count() == 60
    result = audit.verify()
    assert result.ok, result
    assert result.count == AuditEvent.objects.count()
