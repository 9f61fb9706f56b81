"""Plain helpers shared by the test modules: signing in, reading exports, two real transactions at once."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection


def as_user(client, user):
    """Log the Django test client in as ``user`` and return it (``as_user(client, p.agent).get(…)``)."""
    client.force_login(user)
    return client


# --- exports -----------------------------------------------------------------------------------


def streamed(response) -> bytes:
    """The whole body of a (streaming or plain) response."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_text(response) -> str:
    """The CSV export as text, byte-order mark included (UTF-8 with BOM so that Excel shows Chinese)."""
    return streamed(response).decode("utf-8")


def csv_rows(response) -> list[list[str]]:
    """The rows of a CSV export, header first; the export must start with the BOM."""
    text = csv_text(response)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def csv_column(response, column: int) -> list[str]:
    """The values of one column of a CSV export below the header, sorted."""
    return sorted(row[column] for row in csv_rows(response)[1:])


def xlsx_workbook(response):
    """The XLSX export opened with openpyxl."""
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(streamed(response)))


def xlsx_rows(response) -> list[list]:
    """The rows of the first sheet of an XLSX export, header first."""
    return [list(row) for row in xlsx_workbook(response).active.iter_rows(values_only=True)]


# --- two real transactions (PostgreSQL) -------------------------------------------------------


def require_postgresql() -> None:
    """Skip unless the tests run on PostgreSQL: SQLite serialises writers itself."""
    if connection.vendor != "postgresql":
        pytest.skip("needs real concurrent transactions (PostgreSQL); SQLite serialises writers itself")


def in_thread(target: Callable, outcomes: dict, key) -> threading.Thread:
    """A thread running ``target`` on its own database connection, keeping its result or exception
    in ``outcomes[key]``. Start and join it yourself."""

    def run():
        try:
            outcomes[key] = target()
        except BaseException as exc:  # the test inspects whatever happened
            outcomes[key] = exc
        finally:
            close_old_connections()
            connection.close()

    return threading.Thread(target=run, name=str(key))


def run_at_once(timeout: float = 60, **calls: Callable) -> dict:
    """Run each call on its own thread and connection, all released together by a barrier.

    Returns ``{name: result or the exception raised}``; a call still running after ``timeout``
    seconds is missing from the result.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: dict = {}

    def released(call: Callable) -> Callable:
        def run():
            barrier.wait(timeout=timeout)
            return call()

        return run

    threads = [in_thread(released(call), outcomes, name) for name, call in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes


def raised(outcomes: dict) -> list[BaseException]:
    """The exceptions among the outcomes of ``run_at_once``."""
    return [value for value in outcomes.values() if isinstance(value, BaseException)]


def assert_error(response, status: int, code: str) -> dict:
    """The API's one error shape with this status and code; returns the error body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def listing_fields(number: int = 1, **overrides) -> dict:
    """The fields of a valid resale listing for ``listing_create`` (``number`` keeps units apart)."""
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
    return {**fields, **overrides}
