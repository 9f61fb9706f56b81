"""Price-list import for a project's units, its background jobs, and the XLSX template (R3.1.1, issue #9)."""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import posted, wants_partial

from ..choices import Decoration, ListingStatus, Orientation
from ..forms.projects import PriceImportForm
from ..models import Listing, PriceListImport
from ..services import import_jobs
from ..services import imports as services
from ._common import managed_project

IMPORT = "listings.import_price_list"
TEMPLATE_ROW_LIMIT = services.MAX_ROWS
RECENT_JOBS = 5


@login_required
@permission_required(IMPORT, raise_exception=True)
def price_import(request, pk: int):
    """The upload form: a small price list is imported at once, a large one becomes a job to watch."""
    project = managed_project(request, pk)
    form = PriceImportForm(posted(request), request.FILES or None)
    row_errors = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            outcome = import_jobs.price_list_submit(
                actor=request.user, project=project, file=upload, filename=upload.name, language=get_language()
            )
        except services.PriceListRejected as exc:
            row_errors = exc.errors
            form.add_error(None, str(exc.message))
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            if isinstance(outcome, PriceListImport):
                return redirect("listings:price-import-job", pk=project.pk, job_id=outcome.pk)
            messages.success(request, import_jobs.import_done_message(outcome.filename, outcome.changed, outcome.rows))
            return redirect("listings:project-detail", pk=project.pk)
    context = {
        "project": project,
        "form": form,
        "row_errors": row_errors,
        "columns": services.COLUMNS,
        "column_help": services.COLUMN_HELP,
        "max_rows": services.MAX_ROWS,
        "sync_rows": import_jobs.SYNC_ROWS,
        "jobs": import_jobs.import_jobs_for(request.user, project).select_related("created_by")[:RECENT_JOBS],
    }
    status = 422 if row_errors or form.errors else 200
    return render(request, "listings/imports/price_import.html", context, status=status)


@login_required
@permission_required(IMPORT, raise_exception=True)
def price_import_job(request, pk: int, job_id: int):
    """A background import's progress, then its result or problems; HTMX polls the status card."""
    project = managed_project(request, pk)
    job = get_object_or_404(import_jobs.import_jobs_for(request.user, project).select_related("created_by"), pk=job_id)
    context = {"project": project, "job": job, "stuck": import_jobs.job_is_stuck(job)}
    template = (
        "listings/imports/_job_status.html" if wants_partial(request) else "listings/imports/price_import_job.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _words(words: dict, choices) -> list[str]:
    return [services.choice_word(words, value) for value in choices.values]


@login_required
@permission_required(IMPORT, raise_exception=True)
def price_template(request, pk: int):
    """The header row, the project's units with their current values, and pick lists for the coded columns."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    project = managed_project(request, pk)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Price list")
    sheet.append([column.header for column in services.COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    sheet.freeze_panes = "A2"
    units = (
        Listing.objects.filter(project=project, building__isnull=False)
        .select_related("building")
        .only(*services.IMPORT_FIELDS, "building__name", "room_no", "floor", "unit_no")
        .order_by("building__name", "building_id", "-floor", "unit_no")[:TEMPLATE_ROW_LIMIT]
    )
    rows = 1
    for unit in units.iterator(chunk_size=1000):
        sheet.append(
            [
                unit.building.name,
                unit.room_no,
                unit.built_area,
                unit.usable_area,
                unit.layout,
                services.choice_word(services.ORIENTATION_WORDS, unit.orientation),
                services.choice_word(services.DECORATION_WORDS, unit.decoration),
                unit.total_price,
                services.choice_word(services.STATUS_WORDS, unit.status),
            ]
        )
        rows += 1
    last = max(rows, 2) + 500  # room for rows typed by hand
    positions = {column.key: index for index, column in enumerate(services.COLUMNS, start=1)}
    for key, values in (
        ("orientation", _words(services.ORIENTATION_WORDS, Orientation)),
        ("decoration", _words(services.DECORATION_WORDS, Decoration)),
        ("status", _words(services.STATUS_WORDS, ListingStatus)),
    ):
        letter = get_column_letter(positions[key])
        validation = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True)
        validation.error = _("Choose a value from the list.")
        validation.add(f"{letter}2:{letter}{last}")
        sheet.add_data_validation(validation)
    for index, column in enumerate(services.COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.header) + 4)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    workbook.save(spool)
    spool.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d")
    return FileResponse(
        spool, as_attachment=True, filename=f"{project.name}-price-list-{stamp}.xlsx", content_type=services.XLSX_TYPE
    )
