"""The Simplified Chinese catalogue is complete, well-formed and actually used.

The static checks read ``anju/locale/zh_Hans/LC_MESSAGES/django.po`` with Babel; the
rendering checks need the compiled ``django.mo`` that ``make test`` builds first
(``manage.py compiletranslations``) and skip with the command to run when it is missing
or older than the .po. The completeness check re-runs ``makemessages`` on a copy of the
sources and skips when GNU gettext is not installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

ANJU_DIR = Path(settings.BASE_DIR) / "anju"
LOCALE_DIR = ANJU_DIR / "locale"
PO_PATH = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# %(name)s, %s, %d, %.2f … but not the literal "%%".
PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
# {name}, {0}, {name.attr}, {name!r:>10} … but not the escaped "{{" / "}}".
BRACE = re.compile(r"(?<!\{)\{([A-Za-z_]\w*|\d+)?(?:[.\[][^{}!:]*)?(?:![rsa])?(?::[^{}]*)?\}(?!\})")


def _read_catalogue() -> Catalog:
    with PO_PATH.open("rb") as handle:
        return read_po(handle, locale="zh_Hans", domain="django")


@pytest.fixture(scope="module")
def catalogue() -> Catalog:
    return _read_catalogue()


def _entries(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def _ids(message: Message) -> list[str]:
    return list(message.id) if message.pluralizable else [message.id]


def _strings(message: Message) -> list[str]:
    return list(message.string) if message.pluralizable else [message.string]


def _percent_placeholders(text: str) -> list[str]:
    return sorted(token for token in PERCENT.findall(text) if token != "%%")


def _brace_placeholders(text: str) -> set[str]:
    return {match.group(0) for match in BRACE.finditer(text)}


def _key(message: Message) -> tuple[str | None, str]:
    """What gettext looks a message up by: its context and its (singular) msgid."""
    return message.context, _ids(message)[0]


def _where(message: Message) -> str:
    context, msgid = _key(message)
    return f"line {message.lineno}: {msgid!r}" + (f" (context {context!r})" if context else "")


# --- the .po file itself -------------------------------------------------------------------------


def test_header_declares_simplified_chinese_with_one_plural_form(catalogue):
    assert not catalogue.fuzzy, "the header is still marked fuzzy"
    header = dict(catalogue.mime_headers)
    assert header["Language"] == "zh_Hans"
    assert "charset=utf-8" in header["Content-Type"].lower()
    assert header["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
    assert catalogue.num_plurals == 1


def test_catalogue_is_not_empty(catalogue):
    ids = {_ids(message)[0] for message in _entries(catalogue)}
    assert len(ids) > 300
    assert {"Home", "Audit trail", "Log in", "Data scope", "Sales agent"} <= ids


def test_every_entry_is_translated(catalogue):
    empty = [
        _where(message)
        for message in _entries(catalogue)
        # Chinese has one plural form: msgstr[0] is the only one gettext ever uses.
        if not all(string.strip() for string in _strings(message)[: catalogue.num_plurals])
    ]
    assert not empty, "untranslated entries:\n" + "\n".join(empty)


def test_no_entry_is_fuzzy(catalogue):
    fuzzy = [_where(message) for message in _entries(catalogue) if message.fuzzy]
    assert not fuzzy, "fuzzy entries (check them, then drop the flag):\n" + "\n".join(fuzzy)


def test_plural_entries_carry_only_the_forms_the_header_declares():
    """Babel pads missing forms itself, so count the msgstr[n] lines in the file."""
    forms = {int(n) for n in re.findall(r"^msgstr\[(\d+)\]", PO_PATH.read_text(encoding="utf-8"), re.MULTILINE)}
    assert forms <= {0}, f"Chinese has one plural form, found msgstr[{max(forms)}]"


def test_python_format_placeholders_are_kept(catalogue):
    """A missing or extra ``%(name)s`` raises KeyError/TypeError when the string is formatted."""
    problems = []
    for message in _entries(catalogue):
        if not message.python_format:
            continue
        # The single Chinese form stands for every count, so it must fit the plural msgid.
        wanted = _percent_placeholders(_ids(message)[-1])
        for string in _strings(message)[: catalogue.num_plurals]:
            got = _percent_placeholders(string)
            if got != wanted:
                problems.append(f"{_where(message)}: expected {wanted}, got {got}")
    assert not problems, "placeholder mismatches:\n" + "\n".join(problems)


def test_brace_placeholders_are_kept(catalogue):
    problems = []
    for message in _entries(catalogue):
        wanted = set().union(*(_brace_placeholders(text) for text in _ids(message)))
        if not wanted:
            continue
        for string in _strings(message)[: catalogue.num_plurals]:
            missing = wanted - _brace_placeholders(string)
            if missing:
                problems.append(f"{_where(message)}: missing {sorted(missing)}")
    assert not problems, "placeholder mismatches:\n" + "\n".join(problems)


def test_percent_signs_in_python_format_strings_stay_valid(catalogue):
    """``"%" % {}`` on the translation must not fail: a stray ``%`` is an error."""
    problems = []
    for message in _entries(catalogue):
        if not message.python_format:
            continue
        for string in _strings(message)[: catalogue.num_plurals]:
            names = re.findall(r"%\(([^)]*)\)", string)
            try:
                if names:
                    string % dict.fromkeys(names, 1)
                else:
                    string % tuple(1 for _ in _percent_placeholders(string) if _ != "%%")
            except (TypeError, ValueError, KeyError) as error:
                problems.append(f"{_where(message)}: {error}")
    assert not problems, "\n".join(problems)


def test_html_tags_are_kept(catalogue):
    tag = re.compile(r"</?[A-Za-z][^<>]*>")
    problems = [
        _where(message)
        for message in _entries(catalogue)
        for string in _strings(message)[: catalogue.num_plurals]
        if sorted(tag.findall(_ids(message)[-1])) != sorted(tag.findall(string))
    ]
    assert not problems, "HTML tags changed:\n" + "\n".join(problems)


# --- the catalogue covers the sources -------------------------------------------------------------


@pytest.mark.skipif(not (shutil.which("xgettext") and shutil.which("msgmerge")), reason="GNU gettext is not installed")
def test_catalogue_covers_every_translatable_string(tmp_path, monkeypatch):
    """``makemessages`` on a copy of anju/ finds nothing the catalogue lacks.

    Fix a failure with ``cd anju && ../.venv/bin/python ../manage.py makemessages -l zh_Hans
    --no-obsolete --no-location``, then translate the new entries.
    """
    copy = tmp_path / "anju"
    shutil.copytree(ANJU_DIR, copy, ignore=shutil.ignore_patterns("static", "__pycache__", "*.mo", "migrations"))
    copied_po = copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, no_location=True, verbosity=0)
    with copied_po.open("rb") as handle:
        fresh = read_po(handle, locale="zh_Hans")
    known = {_key(message) for message in _entries(_read_catalogue())}
    new = sorted((_key(message) for message in _entries(fresh) if _key(message) not in known), key=str)
    assert not new, "strings missing from the zh_Hans catalogue (context, msgid):\n" + "\n".join(map(repr, new))


# --- the compiled catalogue is what Django serves -------------------------------------------------


@pytest.fixture
def compiled():
    if not MO_PATH.exists():
        pytest.skip(f"{MO_PATH.name} is missing: run `make translations` (manage.py compiletranslations)")
    if MO_PATH.stat().st_mtime < PO_PATH.stat().st_mtime:
        pytest.skip(f"{MO_PATH.name} is older than the .po: run `make translations` (manage.py compiletranslations)")


@pytest.mark.usefixtures("compiled")
def test_chinese_is_served_in_chinese_and_english_in_english():
    with translation.override("zh-hans"):
        assert translation.gettext("Home") == "首页"
        assert translation.gettext("Audit trail") == "审计日志"
        assert translation.gettext("Sales agent") == "置业顾问"
        assert translation.ngettext("%(counter)s record", "%(counter)s records", 5) % {"counter": 5} == "共 5 条记录"
    with translation.override("en"):
        assert translation.gettext("Home") == "Home"
        assert translation.gettext("Audit trail") == "Audit trail"


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled")
def test_login_page_is_chinese_without_accept_language(client):
    response = client.get("/login/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "登录" in content
    assert "Log in" not in content
