"""Test settings: the same as production but fast hashing and the immediate task backend."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# No shared anchor file: one test's anchors would be checked against the next test's audit rows.
# Tests that anchor the audit chain pass their own file (tests/core/test_audit_anchor.py).
ANJU_AUDIT_ANCHOR_FILE = None
