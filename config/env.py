"""Strict environment helpers: a malformed value is an error, never a silent default."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# var/ holds the SQLite database (sessions, TOTP secrets), key files and uploads: this user only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# SQLite's companions of a database file; SQLite gives them the database file's own mode.
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        parsed = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"{name}={parsed} must be at least {minimum}")
    return parsed


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty item")
    return items


def _tighten(path: Path, mode: int) -> None:
    """Drop any permission beyond ``mode`` from an existing path (a checkout made with a loose umask)."""
    try:
        current = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return
    if current & ~mode:
        os.chmod(path, current & mode)


def private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if missing and tighten it and the files directly inside it (0600)."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR_MODE)
    for child in path.iterdir():
        if child.is_file() and not child.is_symlink():
            _tighten(child, PRIVATE_FILE_MODE)
    return path


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would use the umask, often 0644)
    and tighten an existing one with its -wal/-shm/-journal files, which SQLite creates with the
    database file's mode."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    for suffix in SQLITE_SUFFIXES:
        _tighten(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)


def secret_from_env_or_file(name: str, path: Path, *, generate=lambda: secrets.token_urlsafe(50)) -> str:
    """Read a secret from the environment, else from ``path``; create the file on first use.

    The file lives under ``var/keys`` (git-ignored, mode 0600) so a bare checkout runs
    without configuration while production passes secrets through the environment.
    """
    value = os.environ.get(name)
    if value is not None:
        if not value.strip():
            raise ImproperlyConfigured(f"{name} is set but empty")
        return value.strip()
    private_dir(path.parent)
    if path.exists():
        _tighten(path, PRIVATE_FILE_MODE)
        return path.read_text(encoding="utf-8").strip()
    value = generate()
    # O_EXCL: when two processes start at once, exactly one writes the key and both read it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value
