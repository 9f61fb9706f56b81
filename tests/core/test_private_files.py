"""var/ holds sessions, TOTP secrets and keys: only the account that runs Anju may read it
(issue #9 defect 12)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.env import private_dir, private_sqlite_file, secret_from_env_or_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """The usual umask 022, which would make new files world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_var_directory_is_private(tmp_path, loose_umask):
    var = private_dir(tmp_path / "var")
    assert mode(var) == 0o700


def test_an_existing_loose_directory_and_its_files_are_tightened(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    os.chmod(var, 0o755)  # noqa: S103 (the loose mode being fixed)
    anchor = var / "audit-anchors.jsonl"
    anchor.write_text("{}\n")
    os.chmod(anchor, 0o644)

    private_dir(var)

    assert mode(var) == 0o700
    assert mode(anchor) == 0o600


def test_tightening_never_widens(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    os.chmod(var, 0o500)
    private_dir(var)
    assert mode(var) == 0o500
    os.chmod(var, 0o700)


def test_key_files_are_created_0600_and_old_ones_tightened(tmp_path, loose_umask, monkeypatch):
    monkeypatch.delenv("ANJU_TEST_SECRET", raising=False)
    keys = tmp_path / "var" / "keys"
    value = secret_from_env_or_file("ANJU_TEST_SECRET", keys / "test_key")
    assert mode(keys) == 0o700
    assert mode(keys / "test_key") == 0o600

    os.chmod(keys / "test_key", 0o644)
    os.chmod(keys, 0o755)  # noqa: S103 (the loose mode being fixed)
    assert secret_from_env_or_file("ANJU_TEST_SECRET", keys / "test_key") == value
    assert mode(keys / "test_key") == 0o600
    assert mode(keys) == 0o700


def test_the_sqlite_database_is_created_0600_before_sqlite_opens_it(tmp_path, loose_umask):
    import sqlite3

    database = tmp_path / "var" / "anju.sqlite3"
    private_sqlite_file(database)
    assert mode(database.parent) == 0o700
    assert mode(database) == 0o600
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE session (key TEXT)")
    connection.commit()
    # SQLite gives its -wal/-shm files the database file's mode.
    assert mode(database.with_name("anju.sqlite3-wal")) == 0o600
    assert mode(database.with_name("anju.sqlite3-shm")) == 0o600
    connection.close()


def test_an_existing_world_readable_database_and_wal_are_tightened(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    for name in ("anju.sqlite3", "anju.sqlite3-wal", "anju.sqlite3-shm"):
        (var / name).write_bytes(b"")
        os.chmod(var / name, 0o644)
    private_sqlite_file(var / "anju.sqlite3")
    for name in ("anju.sqlite3", "anju.sqlite3-wal", "anju.sqlite3-shm"):
        assert mode(var / name) == 0o600


def test_settings_apply_it_at_start_to_a_fresh_var_directory(tmp_path):
    """Loading the settings with ANJU_VAR_DIR on a new folder: var/, keys/, media/ 0700, database and keys 0600."""
    var = tmp_path / "var"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "SECRET_KEY", "ANJU_FIELD_KEYS", "ANJU_BLIND_INDEX_KEY", "ANJU_AUDIT_KEYS"}
    }
    env.update({"ANJU_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "config.settings.base"})
    code = "import django; django.setup()"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=settings.BASE_DIR, timeout=120)  # noqa: S603
    assert mode(var) == 0o700
    assert mode(var / "keys") == 0o700
    assert mode(var / "media") == 0o700
    assert mode(var / "anju.sqlite3") == 0o600
    assert all(mode(key) == 0o600 for key in (var / "keys").iterdir())


def test_uploaded_files_are_private_too():
    assert settings.FILE_UPLOAD_PERMISSIONS == 0o600
    assert settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS == 0o700
