"""Personal-data leak scanner (issue #9, R5.2.2): a pytest plugin watching everything the app puts out.

During every test it looks at what leaves the application and fails the test when a clear
mainland mobile number or ID number shows up where it should not:

* every HTTP response the app builds (pages, HTMX fragments, API answers, CSV/XLSX exports,
  uploaded-file and photo downloads), from the test client and from the live server of the
  browser tests alike — streamed bodies are scanned as they stream, XLSX files are unzipped;
* every log record, as the configured handlers would write it (their filters applied);
* every audit event and notification the moment it is saved.

Two things are not leaks and are allowed: a number the request itself carried (a user's own
input echoed back in a form, a search box, an API validation error — the upload bodies of
files excepted, so a photo's metadata is still caught), and a number handed out by a deliberate
reveal (``anju.core.reveal.number_revealed``) in the answer to that same request — a search term
recalled from the user's own session (``anju.core.private_search``) counts as carried by the request.

A test that must handle clear numbers on purpose says so with
``@pytest.mark.allow_personal_data("why")``. Nothing here needs an app to opt in: a new app's
pages, exports and logs are scanned the day it is added.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import zipfile
from dataclasses import dataclass
from urllib.parse import unquote_plus

import pytest
from django.http.request import RawPostDataException

# A mainland mobile (optionally +86 / 86, optionally split as 3-4-4) or an 18-character ID
# number with a plausible birth date, standing alone (not inside a longer run of letters or
# digits such as a hash or a token).
_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
PHONE = re.compile(_EDGE_BEFORE + r"(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})" + _EDGE_AFTER)
ID_NUMBER = re.compile(
    _EDGE_BEFORE + r"(\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])" + _EDGE_AFTER
)
_NOT_DIGIT = re.compile(r"[^0-9Xx]")

XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
MAX_SCANNED_BYTES = 20 * 1024 * 1024  # more than any page or export of the suite


def numbers_in(text: str) -> set[str]:
    """The clear personal numbers in ``text``, as bare digits (ID numbers with an upper-case X)."""
    found = {_NOT_DIGIT.sub("", match) for match in PHONE.findall(text)}
    found |= {match.upper() for match in ID_NUMBER.findall(text)}
    return found


def masked(number: str) -> str:
    return f"{number[:3]}…{number[-4:]}"


@dataclass
class Leak:
    where: str
    number: str
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {masked(self.number)} in …{self.context}…"


class Scanner:
    """Collects leaks for the test that is running; one instance for the whole session."""

    def __init__(self) -> None:
        self.leaks: list[Leak] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    # --- what a request may show -------------------------------------------------------

    @property
    def allowed(self) -> set[str]:
        if not hasattr(self._local, "allowed"):
            self._local.allowed = set()
        return self._local.allowed

    def start_request(self, request) -> set[str]:
        """Allow what the request itself carried (not uploaded files); return the live allow-set."""
        carried = [request.path, unquote_plus(request.META.get("QUERY_STRING", ""))]
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith("multipart/"):
            carried.extend(str(value) for _key, values in request.POST.lists() for value in values)
        else:
            try:
                carried.append(request.body.decode("utf-8", "replace"))
                carried.append(unquote_plus(request.body.decode("utf-8", "replace")))
            except RawPostDataException:  # the view read the stream already; POST holds the fields
                carried.extend(str(value) for _key, values in request.POST.lists() for value in values)
        self._local.allowed = set().union(*(numbers_in(text) for text in carried))
        return self._local.allowed

    def revealed(self, value: str) -> None:
        """A deliberate reveal: this request may answer with the number."""
        self.allowed.update(numbers_in(value) | {_NOT_DIGIT.sub("", value)})

    # --- scanning -----------------------------------------------------------------------

    def scan(self, text: str, where: str, allowed: set[str] | frozenset = frozenset()) -> None:
        for number in numbers_in(text) - set(allowed):
            position = text.find(number[:3])
            snippet = text[max(position - 40, 0) : position + 60].replace(number, masked(number))
            with self._lock:
                self.leaks.append(Leak(where, number, " ".join(snippet.split())))

    def scan_bytes(self, data: bytes, where: str, content_type: str, allowed: set[str]) -> None:
        data = data[:MAX_SCANNED_BYTES]
        if content_type.startswith(XLSX_TYPES) or data[:4] == b"PK\x03\x04":
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for name in archive.namelist():
                        self.scan(archive.read(name).decode("utf-8", "replace"), f"{where} [{name}]", allowed)
                return
            except zipfile.BadZipFile:
                pass
        # latin-1 keeps every byte, so numbers inside binary files (image comments, EXIF) are seen too.
        text = data.decode("utf-8") if _is_utf8(data) else data.decode("latin-1")
        self.scan(text, where, allowed)

    def take(self) -> list[Leak]:
        with self._lock:
            leaks, self.leaks = self.leaks, []
        return leaks


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


SCANNER = Scanner()


# --- hooks into Django -------------------------------------------------------------------


def _scan_response(request, response, allowed: set[str]) -> None:
    where = f"{request.method} {request.path} → {response.status_code}"
    content_type = response.get("Content-Type", "")
    if getattr(response, "streaming", False):
        response.streaming_content = _scanning(response.streaming_content, where, content_type, allowed)
    else:
        SCANNER.scan_bytes(bytes(response.content), where, content_type, allowed)


def _scanning(chunks, where: str, content_type: str, allowed: set[str]):
    """Pass the streamed chunks on unchanged, scanning the whole body once it has been sent."""
    body = bytearray()
    for chunk in chunks:
        if len(body) < MAX_SCANNED_BYTES:
            body.extend(chunk if isinstance(chunk, bytes) else str(chunk).encode())
        yield chunk
    SCANNER.scan_bytes(bytes(body), where, content_type, allowed)


def _install_response_hook():
    from django.core.handlers.base import BaseHandler

    original = BaseHandler.get_response

    def get_response(self, request):
        allowed = SCANNER.start_request(request)
        response = original(self, request)
        _scan_response(request, response, allowed)
        return response

    BaseHandler.get_response = get_response
    return lambda: setattr(BaseHandler, "get_response", original)


class _LogScanner(logging.Handler):
    """Sees every record the way the configured handlers would write it (their filters applied)."""

    def __init__(self, filters) -> None:
        super().__init__(level=logging.DEBUG)
        self.configured_filters = list(filters)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "_leakscan_seen", False):
            return
        record._leakscan_seen = True
        copy = logging.makeLogRecord(record.__dict__)
        for configured in self.configured_filters:
            if not (configured.filter(copy) if hasattr(configured, "filter") else configured(copy)):
                return
        text = copy.getMessage()
        if copy.exc_info and not copy.exc_text:
            copy.exc_text = logging.Formatter().formatException(copy.exc_info)
        # No allowance for logs: a number the user typed into a URL must not reach the log either.
        SCANNER.scan(f"{text}\n{copy.exc_text or ''}", f"log {copy.name} {copy.levelname}")


def _install_log_hook():
    root = logging.getLogger()
    # The filters the project's own handlers carry (LOGGING in settings), e.g. the number redactor.
    filters = [f for handler in root.handlers if not _is_pytest_handler(handler) for f in handler.filters]
    handler = _LogScanner(filters)
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(handler)
    return lambda: [logger.removeHandler(handler) for logger in loggers]


def _is_pytest_handler(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("_pytest")


def _install_model_hooks():
    from django.db.models.signals import post_save

    from anju.core.models import AuditEvent, Notification

    def audit_saved(sender, instance, created, **kwargs):
        if created:
            text = f"{instance.target_repr}\n{instance.reason}\n{instance.before}\n{instance.after}"
            SCANNER.scan(text, f"audit event {instance.action}")

    def notification_saved(sender, instance, **kwargs):
        text = " ".join(str(getattr(instance, field.attname, "")) for field in instance._meta.concrete_fields)
        SCANNER.scan(text, "notification")

    post_save.connect(audit_saved, sender=AuditEvent, weak=False, dispatch_uid="leakscan-audit")
    post_save.connect(notification_saved, sender=Notification, weak=False, dispatch_uid="leakscan-notification")

    def remove():
        post_save.disconnect(sender=AuditEvent, dispatch_uid="leakscan-audit")
        post_save.disconnect(sender=Notification, dispatch_uid="leakscan-notification")

    return remove


def _install_recall_hook():
    """A search term recalled from the user's own session is their input, as if the request carried it."""
    from anju.core import private_search

    def on_recall(sender, term, **kwargs):
        SCANNER.revealed(term)

    signal = private_search.search_term_recalled
    signal.connect(on_recall, dispatch_uid="leakscan-recall", weak=False)
    return lambda: signal.disconnect(dispatch_uid="leakscan-recall")


def _install_reveal_hook():
    from anju.core import reveal

    def on_reveal(sender, value, **kwargs):
        SCANNER.revealed(value)

    signal = reveal.number_revealed
    signal.connect(on_reveal, dispatch_uid="leakscan-reveal", weak=False)  # a local function: keep it alive
    return lambda: signal.disconnect(dispatch_uid="leakscan-reveal")


# --- pytest ------------------------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allow_personal_data(reason): the test handles clear phone/ID numbers on purpose (leak scanner off)"
    )


@pytest.fixture(scope="session", autouse=True)
def _leak_scanner(django_db_setup):
    """Install the hooks once for the whole session (after Django and the test database are set up)."""
    removers = [
        _install_response_hook(),
        _install_log_hook(),
        _install_model_hooks(),
        _install_reveal_hook(),
        _install_recall_hook(),
    ]
    yield SCANNER
    for remove in removers:
        remove()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    _fail_on_leaks(item, "during the test")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    _fail_on_leaks(item, "during teardown")
    return result


def _fail_on_leaks(item, when: str) -> None:
    leaks = SCANNER.take()
    if not leaks or item.get_closest_marker("allow_personal_data"):
        return
    listed = "\n  ".join(str(leak) for leak in leaks[:20])
    more = f"\n  … and {len(leaks) - 20} more" if len(leaks) > 20 else ""
    pytest.fail(f"Clear phone/ID numbers left the app {when}:\n  {listed}{more}", pytrace=False)
