"""``manage.py runstack``: the web server, the task worker and the scheduler, together.

This is what ``make run`` ends with. Ctrl-C or SIGTERM stops all three; when one of them
dies the others are stopped too, so the stack is never half up. In production run the
three as separate services instead (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.env import env_int

DEMO_USERNAMES = ["agent", "agent2", "agent3", "cs", "lead", "manager", "legal", "finance", "qa", "admin", "auditor"]
STOP_GRACE_SECONDS = 15


def _die_with_parent() -> None:
    """In the child: get SIGTERM if runstack itself is killed hard, so nothing is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


class Command(BaseCommand):
    help = "Run gunicorn, the task worker and the scheduler together; stop all on Ctrl-C or when one dies."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument(
            "--port", type=int, default=env_int("PORT", 8000, minimum=1), help="Port (default $PORT or 8000)."
        )
        parser.add_argument("--workers", type=_positive_int, default=2, help="gunicorn workers (default 2).")

    def handle(self, *args, host: str, port: int, workers: int, **options):
        manage = str(settings.BASE_DIR / "manage.py")
        web = [sys.executable, "-m", "gunicorn", "config.wsgi", f"--bind={host}:{port}", f"--workers={workers}"]
        commands = {
            "web": [*web, f"--config={settings.BASE_DIR / 'config' / 'gunicorn.conf.py'}", "--graceful-timeout=10"],
            "worker": [sys.executable, manage, "worker", "--no-reload"],
            "scheduler": [sys.executable, manage, "scheduler"],
        }
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._stop_signal: int | None = None
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

        if _listening(host, port):
            raise CommandError(f"Something already listens on {host}:{port}; stop it or choose another PORT.")
        children: dict[str, subprocess.Popen] = {}
        try:
            for name, command in commands.items():
                # Each child leads its own process group: only runstack decides when it stops,
                # and stopping a child's group also stops whatever that child started.
                children[name] = subprocess.Popen(  # noqa: S603 (fixed argv built above, no shell)
                    command, cwd=settings.BASE_DIR, env=env, process_group=0, preexec_fn=_die_with_parent
                )
            exit_code = self._supervise(children, host, port)
        finally:
            self._stop_all(children)
        if exit_code:
            raise CommandError("Stopped because one of the processes ended.", returncode=exit_code)

    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum

    def _supervise(self, children: dict[str, subprocess.Popen], host: str, port: int) -> int:
        announced = False
        started = time.monotonic()
        while self._stop_signal is None:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
                    self.stderr.write(f"runstack: {name} {how}; stopping the others.")
                    return 128 - code if code < 0 else code or 1
            if not announced and _listening(host, port):
                self._announce(host, port)
                announced = True
            elif not announced and time.monotonic() - started > 60:
                self.stderr.write(f"runstack: nothing is listening on {host}:{port} after 60 s.")
                return 1
            time.sleep(0.3)
        self.stdout.write(f"runstack: {signal.Signals(self._stop_signal).name} received, stopping.")
        return 0

    def _stop_all(self, children: dict[str, subprocess.Popen]) -> None:
        # SIGTERM to each child only: gunicorn's master stops its own workers gracefully.
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"runstack: {name} did not stop in {STOP_GRACE_SECONDS} s; killing it.")
                _signal_group(child, signal.SIGKILL)
                child.wait()
            # Anything the child left in its group (e.g. a gunicorn worker) goes too.
            _signal_group(child, signal.SIGKILL)

    def _announce(self, host: str, port: int) -> None:
        from django.contrib.auth import get_user_model

        User = get_user_model()
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"Anju is running at http://{shown_host}:{port}/  (Ctrl-C stops it)"))
        users = {
            user.username: user
            for user in User.objects.filter(username__in=DEMO_USERNAMES, is_active=True).prefetch_related("roles")
        }
        if users:
            out.write(f"Demo logins (password: {settings.ANJU_DEMO_PASSWORD}):")
            for username in DEMO_USERNAMES:
                if username in users:
                    roles = ", ".join(str(role) for role in users[username].roles.all()) or "-"
                    out.write(f"  {username:<9} {roles}")
        out.write("")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host not in ("0.0.0.0", "") else "127.0.0.1", port), timeout=0.3):  # noqa: S104
            return True
    except OSError:
        return False


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)
