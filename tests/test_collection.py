"""The suite's own hygiene: every test module is collected under a unique package name."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_test_directory_is_a_package():
    # Without __init__.py, tests/customers/test_services.py and tests/deals/test_services.py
    # collide ("import file mismatch") or, worse, one of them is silently skipped.
    missing = sorted(
        str(directory.relative_to(TESTS.parent))
        for directory in {path.parent for path in TESTS.rglob("test_*.py")}
        if not (directory / "__init__.py").exists()
    )
    assert missing == []
