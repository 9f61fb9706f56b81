"""API fuzzing (issue #9 guard): schemathesis drives every operation of /api/v1/openapi.json.

As a sales agent and as an administrator, with bearer tokens, against a small company with records
in every API area. For every generated request: no server error, a documented status code and
content type, and a body that matches the documented schema. Reproducible (derandomized) and
bounded in time so that it runs in ``make test`` on SQLite and on PostgreSQL; the writes the fuzzer
makes live in the test's transaction and are rolled back with it.

To hunt for more failures locally, vary the examples: ``ANJU_FUZZ_SEED=7 ANJU_FUZZ_EXAMPLES=60 pytest
tests/core/test_api_fuzz.py``.
"""

import datetime as dt
import os
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from anju.core.api import MAX_ID
from anju.customers.services.communications import communication_record
from anju.customers.services.customers import customer_register
from anju.customers.services.followups import followup_create
from anju.customers.services.reception import visit_register
from anju.listings.models import Building, Project
from anju.listings.services.listings import listing_create
from anju.org.services.auth import token_create
from tests.helpers import listing_fields

SEED = os.environ.get("ANJU_FUZZ_SEED")
MAX_EXAMPLES = int(os.environ.get("ANJU_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(db):
    """The schema as the running app serves it, called in-process through Django's WSGI handler."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _one_connection():
    """Django's handler closes the database connection after every request, which would end the
    test's transaction; Django's own test client disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def company(p, django_capture_on_commit_callbacks):
    """Records in every area the API serves, owned by the agent, so that reads return rows and
    writes have something to change (follow-up plans start on commit, hence the callbacks)."""
    with django_capture_on_commit_callbacks(execute=True):
        customers = [
            customer_register(
                actor=p.agent,
                name=f"模糊客户{number}",
                phone=f"1390000{number:04d}",
                source="walk_in",
                consent_channel="face_to_face",
                budget_min=200,
                budget_max=400,
            )
            for number in range(1, 4)
        ]
        visit = visit_register(actor=p.cs, branch=p.branch_a, phone="13900000001", name="模糊客户1")
        communication_record(actor=p.agent, customer=customers[0], channel="phone", summary="电话回访，客户关注学区")
        followup = followup_create(
            actor=p.agent, customer=customers[0], due_at=timezone.now() + dt.timedelta(days=1), title="回访"
        )
    project = Project.objects.create(
        name="滨江壹号", city="杭州", district="滨江区", address="江南大道 1 号", branch=p.branch_a, created_by=p.admin
    )
    building = Building.objects.create(project=project, name="1幢", floors=18, units_per_floor=2)
    listings = [listing_create(actor=p.agent, **listing_fields(number)) for number in range(1, 4)]
    listing_create(
        actor=p.agent,
        kind="new_home",
        project=project,
        building=building,
        **listing_fields(9, total_price=Decimal("300"), floor=3),
    )
    return {
        "customer_id": customers[0].pk,
        "listing_id": listings[0].pk,
        "visit_id": visit.pk,
        "followup_id": followup.pk,
        "project_id": project.pk,
        "building_id": building.pk,
        "branch_id": p.branch_a.pk,
        "team_id": p.team_a1.pk,
        "user_id": p.agent.pk,
    }


@pytest.fixture
def callers(p, company):
    """Bearer tokens of a sales agent and of an administrator, and the ids of real records to aim at."""
    headers = {}
    for persona in ("agent", "admin"):
        _token, raw = token_create(actor=getattr(p, persona), name="fuzz")
        headers[persona] = {"Authorization": f"Bearer {raw}"}
    return headers, company


def aim(case, ids: dict[str, int]) -> None:
    """Half of the valid ids point at real records, so that writes really run (the other half are
    random: 404). Invalid values generated on purpose are left as they are."""
    for name, value in (case.path_parameters or {}).items():
        if name in ids and isinstance(value, int) and 1 <= value <= MAX_ID and value % 2 == 0:
            case.path_parameters[name] = ids[name]


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=SEED is None,
    # No shrinking: a failure is reported as found, which keeps a failing run short too.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


# One test drives every operation through ``as_strategy``: the company is built once (not once per
# operation), and schemathesis' lazy pytest loader (``from_fixture``) does not run on pytest 9.
def test_api_answers_as_documented(api_schema, callers):
    """Every operation, with valid and with invalid input, as the agent and as the administrator."""
    headers, ids = callers
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case):
                aim(case, ids)
                for persona in ("agent", "admin"):
                    case.call_and_validate(headers=headers[persona], checks=CHECKS)

            if SEED is not None:
                exercise = seed(int(SEED))(exercise)
            try:
                exercise()
            except Exception as exc:  # collect every operation's failure, not only the first
                failures.append(f"{operation.label} [{mode.value}]\n{exc}")
    assert not failures, "\n\n".join(failures)
