"""Large price-list imports as background jobs with visible progress (issue #9, R3.1.1).

A price list of more than ``SYNC_ROWS`` rows is checked (bounds, format, header) in the request,
stored as a ``PriceListImport`` and imported by the task worker; the import page polls the job.
The job runs the same service as a small import, so its rules, ListingChanges and audit event
are the same; it records its progress and outcome on the row and then drops the upload.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError

from ..models import PriceListImport, Project
from . import import_workbook
from .imports import ImportResult, PriceListRejected, Progress, price_list_apply, price_list_import, price_list_read

logger = logging.getLogger(__name__)

SYNC_ROWS = 500  # larger price lists are imported by the task worker, with progress on the page
MAX_STORED_ERRORS = 2000  # problems kept on a failed job (their count is in its message)
WRITE_ATTEMPTS = 3  # a job tries again when the database stayed busy past its timeout
STUCK_AFTER_MINUTES = 15  # a job without progress for this long is shown as stuck


def price_list_submit(
    *, actor, project: Project, file, filename: str, language: str = ""
) -> ImportResult | PriceListImport:
    """Import a small price list at once; queue a large one as a background job (issue #9).

    The workbook's bounds and header are checked here either way, so a refused file is refused
    at once; the rows of a queued one are validated by the job.
    """
    price_list = price_list_read(actor=actor, project=project, file=file, filename=filename)
    if len(price_list.rows) <= SYNC_ROWS:
        return price_list_apply(actor=actor, project=project, price_list=price_list)
    file.seek(0)
    content = file.read(import_workbook.MAX_BYTES + 1)
    with transaction.atomic():
        job = PriceListImport.objects.create(
            project=project,
            created_by=actor,
            filename=price_list.filename,
            content=content,
            language=language,
            rows=len(price_list.rows),
        )
        transaction.on_commit(lambda: _enqueue_job(job.pk))
    return job


def _enqueue_job(job_id: int) -> None:
    from ..tasks import price_list_import_run  # tasks import the services

    price_list_import_run.enqueue(job_id=job_id)


def import_jobs_for(user, project: Project):
    """The project's background imports that ``user`` may see (those who manage the project)."""
    return PriceListImport.objects.restrict(user, "manage").filter(project=project).defer("content")


def price_list_job_run(*, job_id: int) -> dict:
    """Run one queued import: claim it once, import, keep the outcome and drop the upload."""
    claimed = PriceListImport.objects.filter(pk=job_id, status=PriceListImport.Status.QUEUED).update(
        status=PriceListImport.Status.RUNNING, updated_at=timezone.now()
    )
    if not claimed:  # already run (a second worker, or a retried task)
        return {"job": job_id, "status": "skipped"}
    job = PriceListImport.objects.select_related("project", "created_by").get(pk=job_id)

    def progress(done: int, total: int) -> None:
        PriceListImport.objects.filter(pk=job_id).update(processed=done, rows=total, updated_at=timezone.now())

    with translation.override(job.language or settings.LANGUAGE_CODE):
        outcome = _run_job(job, progress)
    PriceListImport.objects.filter(pk=job_id).update(
        **outcome, content=b"", finished_at=timezone.now(), updated_at=timezone.now()
    )
    return {"job": job_id, "status": outcome["status"], "changed": outcome.get("changed", 0)}


def _run_job(job: PriceListImport, progress: Progress) -> dict:
    """The job's outcome as fields of its row: every failure ends as a message the uploader reads."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            result = price_list_import(
                actor=job.created_by,
                project=job.project,
                file=io.BytesIO(bytes(job.content)),
                filename=job.filename,
                progress=progress,
            )
        except PriceListRejected as exc:
            errors = [asdict(error) for error in exc.errors[:MAX_STORED_ERRORS]]
            return {"status": PriceListImport.Status.FAILED, "message": str(exc.message)[:500], "errors": errors}
        except ApplicationError as exc:
            return {"status": PriceListImport.Status.FAILED, "message": str(exc.message)[:500]}
        except OperationalError:
            # The database stayed busy past its timeout; nothing was written, so try again later.
            logger.warning("Price-list import %s: database busy (attempt %s)", job.pk, attempt, exc_info=True)
            if attempt == WRITE_ATTEMPTS:
                break
            time.sleep(2**attempt)
        except Exception:
            logger.exception("Price-list import %s failed", job.pk)
            break
        else:
            return {
                "status": PriceListImport.Status.DONE,
                "rows": result.rows,
                "processed": result.rows,
                "changed": result.changed,
                "message": import_done_message(result.filename, result.changed, result.rows)[:500],
            }
    return {
        "status": PriceListImport.Status.FAILED,
        "message": _("The import stopped because of a problem on the server; nothing was imported. Upload it again."),
    }


def job_is_stuck(job: PriceListImport) -> bool:
    """Unfinished and without progress for a long time: the worker is down or the job was lost."""
    return not job.finished and job.updated_at < timezone.now() - timedelta(minutes=STUCK_AFTER_MINUTES)


def import_done_message(filename: str, changed: int, rows: int) -> str:
    return _("The price list %(file)s was imported: %(changed)s of %(rows)s units changed.") % {
        "file": filename,
        "changed": changed,
        "rows": rows,
    }
