"""No clear phone or ID number in any log line; expected 403s as one INFO line (issue #9 defects 2 and 12, R5.2.2)."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from anju.core.logredact import ExpectedForbiddenFilter, RedactingFilter, gunicorn_logconfig
from anju.core.masking import redact_text
from tests.helpers import as_user

PHONE = "13551234567"
ID_NUMBER = "11010119900307123X"
SECRETS = (PHONE, "1355123", ID_NUMBER, "110101199003")


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} in {text!r}"


# --- redact_text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/customers/?q=13551234567", "/customers/?q=135****4567"),
        ("/customers/?q=%2B86%20135-5123-4567&page=2", "/customers/?q=135****4567&page=2"),
        ("/customers/?q=135+5123+4567", "/customers/?q=135****4567"),
        ("call +86 135 5123 4567 today", "call 135****4567 today"),
        ("0086-13551234567", "135****4567"),
        ("８６１３５５１２３４５６７", "135****4567"),
        ("id=11010119900307123X&x=1", "id=110***********123X&x=1"),
        ("110101 19900307 1234", "110***********1234"),
        ("office 010-12345678", "office 010****5678"),
        # the login redirect carries the searched URL escaped twice
        ("/login/?next=/customers/%3Fq%3D%252B86%252013551234567", "/login/?next=/customers/%3Fq%3D135****4567"),
    ],
)
def test_redact_text_masks_phones_and_id_numbers_like_the_screen(text, expected):
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # idempotent: a masked line stays as it is


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-05 12:20:31,580 [21282] [INFO] Booting worker",
        "order 1135512345678901 ok",  # glued to other digits: not a phone
        "took 0.0123456789 s",
        "GET /customers/?q=1234 HTTP/1.1",  # last four digits identify nobody
        "uuid 3f2a1355-1234-5678-9abc",
    ],
)
def test_redact_text_leaves_other_numbers_alone(text):
    assert redact_text(text) == text


# --- the filter on records ------------------------------------------------------------------------


def record(msg, args=(), exc_info=None, name="anju.test", level=logging.INFO):
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_filter_merges_tuple_args_then_redacts():
    rec = record("search %s by %s (100%%)", (PHONE, "agent"))
    assert RedactingFilter().filter(rec) is True
    assert rec.getMessage() == "search 135****4567 by agent (100%)"


def test_filter_merges_dict_args_like_gunicorns_access_log():
    rec = record('"%(r)s" %(s)s', ({"r": f"GET /customers/?q={PHONE} HTTP/1.1", "s": "200"},))
    RedactingFilter().filter(rec)
    assert rec.getMessage() == '"GET /customers/?q=135****4567 HTTP/1.1" 200'


def test_filter_redacts_arguments_that_do_not_fit_the_format():
    rec = record("id %s and %s", (ID_NUMBER,))
    RedactingFilter().filter(rec)
    assert rec.args == ("110***********123X",)


def test_filter_redacts_the_traceback_and_the_stack():
    try:
        raise ValueError(f"no customer with phone {PHONE}")
    except ValueError:
        rec = record("lookup failed", exc_info=sys.exc_info())
    rec.stack_info = f"Stack (most recent call last):\n  lookup({ID_NUMBER!r})"
    RedactingFilter().filter(rec)
    formatted = logging.Formatter().format(rec)
    assert "ValueError: no customer with phone 135****4567" in formatted
    assert "Traceback" in formatted
    assert_clean(formatted)


def test_every_django_handler_redacts_and_django_keeps_no_handler_of_its_own():
    for name, handler in settings.LOGGING["handlers"].items():
        assert "redact" in handler["filters"], name
    loggers = settings.LOGGING["loggers"]
    assert loggers["django"]["handlers"] == [] and loggers["django.server"]["handlers"] == []
    assert not logging.getLogger("django").handlers and not logging.getLogger("django.server").handlers
    configured = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    assert configured and any(isinstance(f, RedactingFilter) for h in configured for f in h.filters)


# --- real requests ------------------------------------------------------------------------------


@pytest.fixture
def console():
    """What the configured console handler writes, for the duration of a test."""
    (handler,) = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactingFilter) for f in h.filters)]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_requests_leave_no_clear_number_in_any_record(client, p, caplog, console):
    caplog.set_level(logging.INFO)
    as_user(client, p.agent)
    client.get(f"/customers/{PHONE}/")  # a 404 whose path is the number
    client.get(reverse("customers:customer-list"), {"q": PHONE, "id": ID_NUMBER})
    client.logout()
    client.get("/api/v1/customers", {"search": PHONE})  # 401: logged by django.request
    logging.getLogger("django.server").info('"%s" %s %s', f"GET /customers/?q={PHONE} HTTP/1.1", 200, 512)

    assert any(r.name == "django.request" for r in caplog.records)
    assert any(r.name == "django.server" for r in caplog.records)
    for rec in caplog.records:
        assert_clean(rec.getMessage())
    assert "Not Found: /customers/135****4567/" in console.getvalue()
    assert_clean(console.getvalue())


@pytest.mark.django_db
def test_a_real_500_keeps_its_traceback_redacted(client, p, caplog, console, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError(f"lookup of {PHONE} failed")

    monkeypatch.setattr("anju.customers.views.customer_list.customer_list_for", broken)
    client.raise_request_exception = False
    response = as_user(client, p.manager).get(reverse("customers:customer-list"))
    assert response.status_code == 500
    (error,) = [r for r in caplog.records if r.name == "django.request"]
    assert error.levelno == logging.ERROR and error.exc_info is not None
    output = console.getvalue()
    assert "Traceback (most recent call last)" in output
    assert "RuntimeError: lookup of 135****4567 failed" in output
    assert_clean(output)


# --- 403s ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_permission_denied_is_one_info_line_without_traceback(client, p, caplog, console):
    caplog.set_level(logging.INFO)
    legal = as_user(client, p.legal)  # may list customers, may not export (R5.2.2)
    assert legal.get(reverse("customers:customer-export"), {"q": PHONE}).status_code == 403
    (forbidden,) = [r for r in caplog.records if r.name == "django.request"]
    assert forbidden.levelno == logging.INFO and forbidden.exc_info is None
    assert forbidden.getMessage() == f"Forbidden: GET /customers/export/ (user {p.legal.pk})"
    assert "INFO [" in console.getvalue() and "django.request: Forbidden: GET /customers/export/" in console.getvalue()
    assert "Traceback" not in console.getvalue()


@pytest.mark.django_db
def test_api_403_is_one_info_line_too(client, p, caplog):
    caplog.set_level(logging.INFO)
    p.agent.roles.clear()
    response = as_user(client, p.agent).get("/api/v1/customers", {"search": PHONE})
    assert response.status_code == 403
    (forbidden,) = [r for r in caplog.records if r.name == "django.request"]
    assert forbidden.levelno == logging.INFO and forbidden.exc_info is None
    assert forbidden.getMessage() == f"Forbidden: GET /api/v1/customers (user {p.agent.pk})"


def test_only_403s_are_turned_into_info():
    for status, level in [(404, logging.WARNING), (500, logging.ERROR)]:
        rec = record("Not Found: %s", (f"/customers/{PHONE}/",), level=level)
        rec.status_code = status
        ExpectedForbiddenFilter().filter(rec)
        assert rec.levelno == level


# --- gunicorn's access log ----------------------------------------------------------------------


def test_gunicorn_config_installs_the_filter_on_access_and_error_logs():
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    root = logging.getLogger()
    saved = root.handlers[:], root.level  # gunicorn's dictConfig replaces the root handlers of this process
    try:
        config = Config()
        config.set("logconfig_dict", gunicorn_logconfig())
        logger = Logger(config)
        for name in ("gunicorn.access", "gunicorn.error"):
            handlers = logging.getLogger(name).handlers
            assert handlers and all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers), name
        stream = io.StringIO()
        logging.getLogger("gunicorn.access").handlers[0].setStream(stream)
        logger.access_log.info('"%(r)s" %(s)s', {"r": f"GET /customers/?q={PHONE} HTTP/1.1", "s": "200"})
        assert stream.getvalue() == '"GET /customers/?q=135****4567 HTTP/1.1" 200\n'
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_gunicorn_access_log_line_is_redacted(tmp_path):
    """gunicorn started as runstack starts it, a phone search requested, its access line read back."""
    port = _free_port()
    out = tmp_path / "access.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    root = Path(settings.BASE_DIR)
    command = [sys.executable, "-m", "gunicorn", "-c", str(root / "config" / "gunicorn.conf.py")]
    with out.open("w") as stdout, (tmp_path / "error.log").open("w") as stderr:
        server = subprocess.Popen(  # noqa: S603 (fixed argv)
            [*command, f"--bind=127.0.0.1:{port}", "--workers=1"], cwd=root, env=env, stdout=stdout, stderr=stderr
        )
        try:
            url = f"http://127.0.0.1:{port}/customers/?q=%2B86%20{PHONE}&id={ID_NUMBER}"
            request = urllib.request.Request(url, headers={"Referer": f"http://x/customers/?q={PHONE}"})
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 (local test server)
                    break
                except urllib.error.HTTPError:
                    break  # an answer, whatever its status, is logged
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            while "GET /customers/" not in out.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            server.terminate()
            server.wait(timeout=15)
    access = out.read_text()
    assert "GET /customers/?q=135****4567&id=110***********123X HTTP/1.1" in access
    assert '"http://x/customers/?q=135****4567"' in access
    assert_clean(access + (tmp_path / "error.log").read_text())
