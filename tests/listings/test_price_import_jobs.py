"""Large price-list imports run as background jobs with visible progress; the site keeps serving
other users meanwhile, and the task worker outlives a locked database (issue #9, R3.1.1)."""

from __future__ import annotations

import io
import signal
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from openpyxl import Workbook

from anju.core.models import AuditEvent
from anju.core.scoping import Scope
from anju.listings.models import Listing, ListingChange, PriceListImport
from anju.listings.services import import_jobs, imports
from anju.listings.services.imports import COLUMNS
from anju.listings.services.listings import listing_change_status, listing_create
from anju.listings.services.projects import building_create, project_create
from anju.testing import UserFactory
from tests.helpers import in_thread, listing_fields

HEADER = [column.header for column in COLUMNS]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
ROOMS = [f"{floor}{number:02d}" for floor in range(1, 5) for number in (1, 2)]  # 8 units


@pytest.fixture
def project(p):
    project = project_create(
        actor=p.manager, name="钱江府", city="杭州", district="上城区", address="钱江路 8 号", branch=p.branch_a
    )
    building_create(
        actor=p.manager,
        project=project,
        name="1幢",
        floors=4,
        units_per_floor=2,
        built_area="100",
        usable_area="80",
        rooms=3,
        halls=2,
        baths=1,
        orientation="south",
        decoration="shell",
        base_price="300",
    )
    return project


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    """Eight rows count as "large" here, so the tests stay fast; the threshold is the only difference."""
    monkeypatch.setattr(import_jobs, "SYNC_ROWS", 3)
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 2)


@pytest.fixture
def db_tasks():
    """Queue into the database (as production does) instead of running tasks inline."""
    with override_settings(TASKS=DB_TASKS):
        yield


def price_list(prices: dict[str, object]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for room in ROOMS:
        sheet.append(["1幢", room, None, None, None, None, None, prices.get(room, "300"), None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client, project, content: bytes, name: str = "全部房源价目表.xlsx"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("listings:price-import", args=[project.pk]),
        {"file": SimpleUploadedFile(name, content, content_type=XLSX)},
    )


def job_url(project, job) -> str:
    return reverse("listings:price-import-job", args=[project.pk, job.pk])


def price(project, room: str) -> Decimal:
    return Listing.objects.get(project=project, room_no=room).total_price


def command(*args: str) -> None:
    """A worker command, once through the queue (it installs signal handlers: restore pytest's)."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command(*args, "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


# --- queued, run by the worker, result on the page -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_large_price_list_is_queued_and_the_worker_imports_it(client, p, project, db_tasks):
    client.force_login(p.manager)
    response = upload(client, project, price_list({"101": "320", "402": 410.5}))

    job = PriceListImport.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(project, job)
    assert (job.status, job.rows, job.created_by, job.content[:2]) == ("queued", 8, p.manager, b"PK")
    queued = DBTaskResult.objects.get(task_path="anju.listings.tasks.price_list_import_run")
    assert queued.status == TaskResultStatus.READY
    assert price(project, "101") == Decimal("300")  # nothing written before the job runs
    waiting = client.get(job_url(project, job))
    assert 'data-status="queued"' in waiting.content.decode() and 'hx-trigger="every 2s"' in waiting.content.decode()

    command("worker")

    job.refresh_from_db()
    assert (job.status, job.processed, job.changed, job.content) == ("done", 8, 2, b"")  # the upload is gone
    assert (price(project, "101"), price(project, "402")) == (Decimal("320"), Decimal("410.5"))
    assert ListingChange.objects.filter(reason="价目表导入 全部房源价目表.xlsx").count() == 2
    event = AuditEvent.objects.get(action="listings.project.price_list_imported")
    assert (event.actor_id, event.source, event.after["changed"]) == (p.manager.pk, "task", 2)
    done = client.get(job_url(project, job), headers={"HX-Request": "true"})
    body = done.content.decode()
    assert 'data-status="done"' in body and "hx-trigger" not in body  # polling stops
    assert "8 套房源中有 2 套发生变更" in body
    assert done["Vary"] and "HX-Request" in done["Vary"]
    listed = client.get(reverse("listings:price-import", args=[project.pk])).content.decode()
    assert 'data-testid="import-job" data-status="done"' in listed


@pytest.mark.django_db
def test_progress_shows_on_the_page_while_the_job_runs(client, p, project, db_tasks, monkeypatch):
    client.force_login(p.manager)
    upload(client, project, price_list({"101": "330"}))
    job = PriceListImport.objects.get()
    pages: list[str] = []
    importing = import_jobs.price_list_import

    def watching(**kwargs):
        reported = kwargs["progress"]

        def progress(done: int, total: int) -> None:
            reported(done, total)
            pages.append(client.get(job_url(project, job), headers={"HX-Request": "true"}).content.decode())

        return importing(**{**kwargs, "progress": progress})

    monkeypatch.setattr(import_jobs, "price_list_import", watching)
    import_jobs.price_list_job_run(job_id=job.pk)

    assert len(pages) == 4  # every second row of eight
    assert 'data-status="running"' in pages[1] and 'aria-valuenow="50"' in pages[1]
    assert "已核对 4 行，共 8 行" in pages[1] and 'hx-trigger="every 2s"' in pages[1]
    job.refresh_from_db()
    assert job.status == "done" and price(project, "101") == Decimal("330")


@pytest.mark.django_db
def test_a_job_with_bad_rows_fails_shows_every_problem_and_writes_nothing(client, p, project, db_tasks):
    client.force_login(p.manager)
    upload(client, project, price_list({"101": "320", "202": "-1", "301": "abc"}))
    job = PriceListImport.objects.get()

    assert import_jobs.price_list_job_run(job_id=job.pk)["status"] == "failed"

    job.refresh_from_db()
    assert job.status == "failed" and job.content == b""
    assert {(error["row"], error["column"]) for error in job.errors} == {
        (5, "总价(万元)/total price"),
        (6, "总价(万元)/total price"),
    }
    assert price(project, "101") == Decimal("300") and ListingChange.objects.count() == 0
    body = client.get(job_url(project, job)).content.decode()
    assert "价目表中发现 2 处问题，未导入任何数据。" in body
    assert 'data-row="5" data-column="总价(万元)/total price"' in body and "hx-trigger" not in body


@pytest.mark.django_db
def test_a_job_runs_once_however_often_it_is_started(p, project, client, db_tasks):
    client.force_login(p.manager)
    upload(client, project, price_list({"101": "320"}))
    job = PriceListImport.objects.get()
    assert import_jobs.price_list_job_run(job_id=job.pk)["status"] == "done"
    assert import_jobs.price_list_job_run(job_id=job.pk)["status"] == "skipped"
    assert ListingChange.objects.count() == 1


@pytest.mark.django_db
def test_a_job_whose_uploader_lost_the_project_fails_without_writing(p, project, client, db_tasks):
    client.force_login(p.manager)
    upload(client, project, price_list({"101": "320"}))
    job = PriceListImport.objects.get()
    p.manager.roles.update(data_scope=Scope.OWN)  # the role no longer reaches the sales office

    assert import_jobs.price_list_job_run(job_id=job.pk)["status"] == "failed"
    assert price(project, "101") == Decimal("300")


@pytest.mark.django_db
def test_small_price_lists_are_still_imported_at_once(client, p, project, monkeypatch):
    monkeypatch.setattr(import_jobs, "SYNC_ROWS", 8)
    client.force_login(p.manager)
    response = upload(client, project, price_list({"101": "320"}))
    assert response["Location"] == reverse("listings:project-detail", args=[project.pk])
    assert price(project, "101") == Decimal("320") and not PriceListImport.objects.exists()


@pytest.mark.django_db
def test_a_bounds_refusal_of_a_large_file_comes_at_once_without_a_job(client, p, project, monkeypatch):
    from anju.listings.services import import_workbook

    monkeypatch.setattr(import_workbook, "MAX_COLUMNS", 5)
    client.force_login(p.manager)
    response = upload(client, project, price_list({"101": "320"}))
    assert response.status_code == 422 and "5 列" in response.context["form"].non_field_errors()[0]
    assert not PriceListImport.objects.exists()


@pytest.mark.django_db
def test_a_job_without_progress_for_long_stops_polling_and_says_so(client, p, project):
    job = PriceListImport.objects.create(project=project, created_by=p.manager, filename="p.xlsx", status="running")
    client.force_login(p.manager)
    assert 'hx-trigger="every 2s"' in client.get(job_url(project, job)).content.decode()
    stale = timezone.now() - timedelta(minutes=import_jobs.STUCK_AFTER_MINUTES + 1)
    PriceListImport.objects.filter(pk=job.pk).update(updated_at=stale)
    body = client.get(job_url(project, job)).content.decode()
    assert 'data-testid="import-job-stuck"' in body and "hx-trigger" not in body


# --- who sees a job ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "expected"), [("manager", 200), ("admin", 200), ("agent", 403), ("lead", 403)])
def test_job_page_permission_matrix(client, p, project, persona, expected):
    job = PriceListImport.objects.create(project=project, created_by=p.manager, filename="p.xlsx")
    client.force_login(getattr(p, persona))
    assert client.get(job_url(project, job)).status_code == expected


@pytest.mark.django_db
def test_another_office_cannot_see_a_job_nor_reach_it_through_its_own_project(client, p, project):
    job = PriceListImport.objects.create(project=project, created_by=p.manager, filename="p.xlsx")
    other = project_create(
        actor=p.admin, name="西湖公馆", city="杭州", district="西湖区", address="x", branch=p.branch_b
    )
    client.force_login(p.admin)
    assert client.get(reverse("listings:price-import-job", args=[other.pk, job.pk])).status_code == 404
    client.force_login(UserFactory(branch=p.branch_b, roles=["branch_manager"]))
    assert client.get(job_url(project, job)).status_code == 403  # sees the project, may not manage it
    client.force_login(p.manager)
    assert client.get(job_url(project, job)).status_code == 200


# --- the site keeps serving; the worker keeps running -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_other_users_read_and_write_while_a_large_import_is_checked(p, project, client, db_tasks, monkeypatch):
    """The defect of issue #9: the import held the write lock while it parsed. Now, halfway through the
    rows, another user lists listings and changes one (a write) on their own connection, within seconds."""
    other = listing_create(actor=p.agent2, **listing_fields(7))
    client.force_login(p.manager)
    upload(client, project, price_list({"101": "320"}))
    job = PriceListImport.objects.get()
    outcomes: dict = {}
    importing = import_jobs.price_list_import

    def meanwhile() -> tuple[int, str]:
        reader = Client()
        reader.force_login(p.agent2)
        listed = reader.get(reverse("listings:listing-list"))
        changed = listing_change_status(actor=p.agent2, listing=other, to_status="reserved", reason="客户已交认购金")
        return listed.status_code, changed.status

    def checking(**kwargs):
        reported = kwargs["progress"]

        def progress(done: int, total: int) -> None:
            reported(done, total)
            if done == 4:
                thread = in_thread(meanwhile, outcomes, "other user")
                thread.start()
                thread.join(timeout=8)

        return importing(**{**kwargs, "progress": progress})

    monkeypatch.setattr(import_jobs, "price_list_import", checking)
    import_jobs.price_list_job_run(job_id=job.pk)

    assert outcomes == {"other user": (200, "reserved")}
    job.refresh_from_db()
    assert job.status == "done" and price(project, "101") == Decimal("320")


@pytest.mark.django_db(transaction=True)
def test_the_worker_outlives_a_locked_database_where_db_worker_dies(p, project, client, db_tasks, monkeypatch):
    from django_tasks_db.management.commands import db_worker

    from anju.core.management.commands import worker

    client.force_login(p.manager)
    upload(client, project, price_list({"101": "320"}))
    real = db_worker.exclusive_transaction
    locked = {"times": 0}

    def busy_once(using=None):
        if locked["times"] == 0:
            locked["times"] += 1
            raise OperationalError("database is locked")
        return real(using)

    monkeypatch.setattr(db_worker, "exclusive_transaction", busy_once)
    with pytest.raises(OperationalError):  # django-tasks' own worker ends: runstack would stop everything
        command("db_worker")
    locked["times"] = 0
    monkeypatch.setattr(worker, "FIRST_DELAY", 0.01)

    command("worker")

    assert locked["times"] == 1
    assert PriceListImport.objects.get().status == "done" and price(project, "101") == Decimal("320")
