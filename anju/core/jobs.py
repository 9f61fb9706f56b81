"""Periodic jobs (DESIGN.md §8): a tiny registry plus the idempotent "enqueue what is due" step.

A job is a django-tasks task registered with ``@periodic(name, every=...)``. Time is cut
into slots of length ``every`` (counted from the Unix epoch, shifted by ``offset``); the
scheduler enqueues a job once per slot. Which scheduler does it is decided by the
database: only the process that manages to insert ``ScheduledRun(job, slot)`` enqueues,
so any number of schedulers on any number of hosts run each job once per slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_tasks import task
from django_tasks.base import Task

from .models import ScheduledRun

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    offset: timedelta
    task: Task

    def slot(self, now: datetime) -> str:
        """The start of the slot ``now`` falls in, as UTC text (readable in the admin)."""
        index = (now - EPOCH - self.offset) // self.every
        start = EPOCH + self.offset + index * self.every
        return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_registry: dict[str, PeriodicJob] = {}


def periodic(
    name: str, *, every: timedelta, offset: timedelta = timedelta(0), **task_options
) -> Callable[[Callable], Task]:
    """Make the function a task and run it once per ``every``.

    ``offset`` moves the slot boundaries away from UTC midnight, e.g. ``every=timedelta(days=1),
    offset=timedelta(hours=18)`` runs daily at 02:00 Asia/Shanghai.
    """
    if every < timedelta(minutes=1):
        raise ValueError(f"Periodic job {name!r}: every must be at least one minute")

    def decorate(func: Callable) -> Task:
        job_task = func if isinstance(func, Task) else task(**task_options)(func)
        existing = _registry.get(name)
        if existing is not None and existing.task.module_path != job_task.module_path:
            raise ValueError(f"Periodic job {name!r} is already registered by {existing.task.module_path}")
        _registry[name] = PeriodicJob(name=name, every=every, offset=offset, task=job_task)
        return job_task

    return decorate


def discover() -> None:
    """Import every installed app's ``tasks`` module so its ``@periodic`` jobs register."""
    autodiscover_modules("tasks")


def registered() -> list[PeriodicJob]:
    return sorted(_registry.values(), key=lambda job: job.name)


def enqueue_due(*, now: datetime | None = None) -> list[ScheduledRun]:
    """Enqueue every job whose current slot has not been enqueued yet (by this or another host)."""
    now = now or timezone.now()
    enqueued: list[ScheduledRun] = []
    for job in registered():
        slot = job.slot(now)
        try:
            # The claim row and the queued task commit together: a failed enqueue leaves
            # the slot free for the next round instead of silently skipping it.
            with transaction.atomic():
                run = ScheduledRun.objects.create(job=job.name, slot=slot)
                result = job.task.enqueue()
                run.task_result_id = str(result.id)
                run.save(update_fields=["task_result_id"])
        except IntegrityError:
            continue  # another scheduler (or an earlier round) already took this slot
        logger.info("Enqueued periodic job %s for slot %s (task %s)", job.name, slot, run.task_result_id)
        enqueued.append(run)
    return enqueued
