"""The scope fixtures of every route that takes an object id (used by tests/core/test_route_scope.py).

For each route: the object, a user who has it in scope (the *insider*), a user with the same
permissions who does not (the *outsider*, who must get a 404 — never a 403) and the URL
parameters. Pages are keyed by their URL name, API operations by ``"METHOD /api/v1/path"``.

A new route with an id needs an entry in ``PAGES`` / ``API`` (or, when its id is not a scoped
record, one in ``EXEMPT`` with the reason); the route-scope test fails until it has one.

Outsiders are chosen to be out of scope under any reading of the rules: another team's agent
for an agent's own customer, another branch's manager for branch things, another branch's
administrator (a branch-scoped administrator role) for user administration. Listings, projects,
buildings and photos are company resources (R1.1.2) that every role *sees*, so the only user
with the same permissions who lacks them is one holding those permissions without a role (no
data scope): the ``twin_*`` users. Changing a listing is further limited to the collector's own /
team / branch scope; ``also_refused`` names such a visible-but-not-managed user, who must be
refused (403, or 404) too.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Each entry: one line of reason why the route's id is not a record in anyone's data scope.
EXEMPT = {
    "org:role-edit": "Roles are company-wide configuration, edited only by holders of org.manage_roles.",
    "__errors__/<int:code>/": "DEBUG-only preview of the error pages; the id is an HTTP status code.",
}
# Whole URL namespaces outside the scoped application.
EXEMPT_NAMESPACES = {
    "admin": "Django admin: superusers only, not part of the scoped application (DESIGN.md §Stack).",
}


@dataclass(frozen=True)
class Case:
    """One route's scope fixture; ``params`` fill the URL (kwargs of a page, path parameters of the API)."""

    params: dict[str, Any]
    insider: Any
    outsider: Any
    post: bool = False  # pages only: POST (with ``data``) instead of GET
    data: Any = None  # the form data of a page POST, or the JSON body of an API operation
    htmx: bool = False  # send HX-Request: true (the route answers HTMX with a partial)
    also_refused: tuple = field(default=())  # users who see the record but must not change it (403/404)


class World:
    """The personas plus one record of every kind, built once for the whole module."""

    def __init__(self):
        from django.contrib.auth.models import Permission
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.utils import timezone
        from PIL import Image

        from anju.customers.services.communications import feedback_record
        from anju.customers.services.customers import consent_record, customer_register
        from anju.customers.services.followups import followup_create
        from anju.customers.services.ownership import pool_release
        from anju.customers.services.reception import roster_set, rotation_day, visit_register
        from anju.listings.services.listings import listing_create
        from anju.listings.services.photos import photo_upload
        from anju.listings.services.projects import building_create, project_create
        from anju.listings.services.resources import resource_upload
        from anju.org.models import ApiToken, Role
        from anju.testing import UserFactory, make_personas
        from tests.helpers import listing_fields

        self.p = p = make_personas()

        def person(username, roles, branch, team=None):
            return UserFactory(username=username, roles=roles, branch=branch, team=team)

        def twin(user, username):
            """``user``'s permissions granted directly, without a role: no data scope at all."""
            granted = Role.permissions.through.objects.filter(role__in=user.roles.all()).values("permission_id")
            twin = UserFactory(username=username, branch=user.branch, team=user.team)
            twin.user_permissions.set(Permission.objects.filter(pk__in=granted))
            return twin

        self.manager_b = person("manager_b", ["branch_manager"], p.branch_b)
        admin_role = Role.objects.get(code="administrator")
        branch_admin = Role.objects.create(
            code="branch_admin_scope", name="Branch administrator", data_scope="branch", requires_two_factor=False
        )
        branch_admin.permissions.set(admin_role.permissions.all())
        self.admin_a = person("admin_a", ["branch_admin_scope"], p.branch_a)
        self.admin_b = person("admin_b", ["branch_admin_scope"], p.branch_b)
        self.twin_agent = twin(p.agent, "twin_agent")
        self.twin_manager = twin(p.manager, "twin_manager")

        # Customers: one of agent's (team A1, branch A), one in branch A's public pool.
        register = {"source": "walk_in", "consent_channel": "face_to_face"}
        self.customer = customer_register(actor=p.agent, name="范围客户", phone="13900009001", **register)
        self.pooled = customer_register(actor=p.agent, name="公海客户", phone="13900009002", **register)
        pool_release(actor=p.agent, customer=self.pooled, reason="范围测试")
        self.consent = consent_record(actor=p.agent, customer=self.customer, kind="marketing", channel="face_to_face")
        self.followup = followup_create(
            actor=p.agent, customer=self.customer, due_at=timezone.now() + dt.timedelta(days=1)
        )
        self.feedback = feedback_record(
            actor=p.agent, customer=self.customer, channel="phone", category="question", content="车位还有吗"
        )
        # The desk of branch A: agent and agent2 on duty; the customer comes back to their owner.
        self.roster = roster_set(actor=p.manager, branch=p.branch_a, day=rotation_day(), agents=[p.agent, p.agent2])
        self.visit = visit_register(actor=p.agent, branch=p.branch_a, phone="13900009001", name="范围客户")
        self.token = ApiToken.objects.create(
            user=p.agent,
            name="scope",
            prefix="anju_scope",
            key_hash="0" * 64,
            expires_at=timezone.now() + dt.timedelta(days=30),
        )

        # Listings: a project of branch A with one building, a resale listing of agent's with a photo.
        self.project = project_create(
            actor=p.manager, name="范围花园", city="杭州", district="滨江区", address="江南大道 1 号", branch=p.branch_a
        )
        self.building = building_create(
            actor=p.manager,
            project=self.project,
            name="1幢",
            floors=1,
            units_per_floor=1,
            built_area="89",
            rooms=3,
            orientation="south",
            decoration="fine",
            base_price="268",
        )
        fields = listing_fields(title="范围测试 三室两厅", address="江南大道 9 号", room_no="0801")
        self.listing = listing_create(actor=p.agent, **fields)
        image = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 120, 40)).save(image, "PNG")
        self.photo = photo_upload(
            actor=p.agent, listing=self.listing, file=SimpleUploadedFile("a.png", image.getvalue(), "image/png")
        )
        # A brochure of the project that only sales agents may open.
        self.resource = resource_upload(
            actor=p.manager,
            project=self.project,
            kind="brochure",
            title="范围楼书",
            file=SimpleUploadedFile("楼书.pdf", b"%PDF-1.4\n%scope\n", "application/pdf"),
            roles=list(Role.objects.filter(code="sales_agent")),
        )


Builder = Callable[[World], Case]


def _customer(world: World, insider=None, outsider=None, **options) -> Case:
    """The agent's own customer: their teammate of another team (same role, own scope) must not reach it."""
    return Case({"pk": world.customer.pk}, insider or world.p.agent, outsider or world.p.agent2, **options)


PAGES: dict[str, Builder] = {
    # --- account and organisation
    "account-token-revoke": lambda w: Case({"pk": w.token.pk}, w.p.agent, w.p.agent2, post=True),
    "org:user-detail": lambda w: Case({"pk": w.p.agent2.pk}, w.p.manager, w.manager_b),
    "org:user-edit": lambda w: Case({"pk": w.p.agent2.pk}, w.admin_a, w.admin_b),
    "org:user-status": lambda w: Case({"pk": w.p.agent2.pk}, w.admin_a, w.admin_b),
    "org:user-roles": lambda w: Case({"pk": w.p.agent2.pk}, w.admin_a, w.admin_b),
    "org:user-password": lambda w: Case({"pk": w.p.agent2.pk}, w.admin_a, w.admin_b),
    "org:user-two-factor-reset": lambda w: Case({"pk": w.p.agent2.pk}, w.admin_a, w.admin_b),
    "org:team-detail": lambda w: Case({"pk": w.p.team_a2.pk}, w.p.manager, w.manager_b),
    "org:team-edit": lambda w: Case({"pk": w.p.team_a2.pk}, w.admin_a, w.admin_b),
    "org:branch-edit": lambda w: Case({"pk": w.p.branch_a.pk}, w.admin_a, w.admin_b),
    # --- the customer file
    "customers:customer-detail": _customer,
    "customers:customer-edit": _customer,
    "customers:customer-stage": _customer,
    "customers:customer-reveal": lambda w: _customer(w, post=True, htmx=True),
    "customers:customer-transfer": lambda w: _customer(w, w.p.manager, w.manager_b),
    "customers:customer-release": _customer,
    "customers:customer-needs": _customer,
    "customers:consent-record": _customer,
    "customers:consent-withdraw": lambda w: Case({"pk": w.consent.pk}, w.p.agent, w.p.agent2),
    "customers:customer-id-number": _customer,
    "customers:communication-create": _customer,
    "customers:feedback-create": _customer,
    "customers:feedback-respond": lambda w: Case({"pk": w.feedback.pk}, w.p.agent, w.p.agent2),
    "customers:followup-complete": lambda w: Case({"pk": w.followup.pk}, w.p.agent, w.p.agent2),
    "customers:pool-claim": lambda w: Case({"pk": w.pooled.pk}, w.p.agent, w.p.agent3, post=True),
    "customers:branch-settings": lambda w: Case({"branch_id": w.p.branch_a.pk}, w.p.manager, w.manager_b),
    # --- the reception desk of branch A: its own staff (and wider scopes) only
    "customers:reception-desk": lambda w: Case({"branch_id": w.p.branch_a.pk}, w.p.agent, w.p.agent3),
    "customers:visit-register": lambda w: Case({"branch_id": w.p.branch_a.pk}, w.p.agent, w.p.agent3, post=True),
    "customers:roster-edit": lambda w: Case({"branch_id": w.p.branch_a.pk}, w.p.manager, w.manager_b),
    "customers:roster-skip": lambda w: Case(
        {"branch_id": w.p.branch_a.pk, "roster_id": w.roster[0].pk}, w.p.agent, w.p.agent3, post=True
    ),
    "customers:roster-availability": lambda w: Case(
        {"branch_id": w.p.branch_a.pk, "roster_id": w.roster[0].pk}, w.p.agent, w.p.agent3, post=True
    ),
    "customers:visit-start": lambda w: Case({"pk": w.visit.pk}, w.p.agent, w.p.agent3, post=True),
    "customers:visit-end": lambda w: Case({"pk": w.visit.pk}, w.p.agent, w.p.agent3),
    "customers:visit-left": lambda w: Case({"pk": w.visit.pk}, w.p.agent, w.p.agent3, post=True),
    "customers:visit-assign": lambda w: Case({"pk": w.visit.pk}, w.p.agent, w.p.agent3, post=True),
    # --- listings, projects and the library (company resources: the outsider holds no role)
    "listings:listing-detail": lambda w: Case({"pk": w.listing.pk}, w.p.agent, w.twin_agent),
    "listings:listing-edit": lambda w: _managed_listing(w),
    "listings:listing-status": lambda w: _managed_listing(w),
    "listings:listing-photos": lambda w: _managed_listing(w),
    "listings:listing-reverify": lambda w: _managed_listing(w),
    # Without HX-Request: an HTMX refusal is answered 200 (HTMX swaps only 2xx), which would hide the 403.
    "listings:listing-reveal": lambda w: _managed_listing(w, post=True),
    "listings:photo-file": lambda w: Case({"pk": w.photo.pk, "variant": "thumb"}, w.p.agent, w.twin_agent),
    "listings:project-detail": lambda w: Case({"pk": w.project.pk}, w.p.agent, w.twin_agent),
    "listings:project-edit": lambda w: _managed_project(w),
    "listings:building-create": lambda w: _managed_project(w),
    "listings:building-board": lambda w: Case({"pk": w.building.pk}, w.p.agent, w.twin_agent),
    "listings:price-import": lambda w: _managed_project(w),
    "listings:price-template": lambda w: _managed_project(w),
    "listings:price-import-job": lambda w: _price_import_job(w),
    "listings:listing-settings": lambda w: Case({"branch_id": w.p.branch_a.pk}, w.p.manager, w.manager_b),
    # The brochure is granted to the sales-agent role only: customer service may use the library but not it.
    "listings:resource-download": lambda w: Case({"pk": w.resource.pk}, w.p.agent, w.p.cs),
    "listings:resource-retire": lambda w: Case({"pk": w.resource.pk}, w.p.manager, w.twin_manager, post=True),
    "listings:customer-matches": lambda w: _customer(w, htmx=True),
    "listings:recommend": lambda w: Case(
        {"pk": w.customer.pk, "listing_id": w.listing.pk}, w.p.agent, w.p.agent2, post=True, htmx=True
    ),
}


def _managed_listing(world: World, **options) -> Case:
    """agent's listing: no role → 404; agent3 of another branch sees it (catalogue) but may not change it."""
    return Case({"pk": world.listing.pk}, world.p.agent, world.twin_agent, also_refused=(world.p.agent3,), **options)


def _managed_project(world: World) -> Case:
    """A project of branch A: no role → 404; the manager of branch B sees it (catalogue) but may not change it."""
    return Case({"pk": world.project.pk}, world.p.manager, world.twin_manager, also_refused=(world.manager_b,))


def _price_import_job(world: World) -> Case:
    """A background price-list import of branch A's project: seen only by those who manage the project."""
    from anju.listings.models import PriceListImport

    job = PriceListImport.objects.create(project=world.project, created_by=world.p.manager, filename="p.xlsx")
    return Case(
        {"pk": world.project.pk, "job_id": job.pk}, world.p.manager, world.twin_manager, also_refused=(world.manager_b,)
    )


def _api_customer(world: World, body=None) -> Case:
    return Case({"customer_id": world.customer.pk}, world.p.agent, world.p.agent2, data=body)


def _api_listing(world: World, body=None, *, change: bool = False) -> Case:
    also = (world.p.agent3,) if change else ()
    return Case({"listing_id": world.listing.pk}, world.p.agent, world.twin_agent, data=body, also_refused=also)


def _api_visit(world: World, body=None) -> Case:
    return Case({"visit_id": world.visit.pk}, world.p.agent, world.p.agent3, data=body)


API: dict[str, Builder] = {
    # Another user's token is "not found", like any record out of scope.
    "DELETE /api/v1/auth/tokens/{token_id}": lambda w: Case({"token_id": w.token.pk}, w.p.agent, w.p.agent2),
    "GET /api/v1/branches/{branch_id}": lambda w: Case({"branch_id": w.p.branch_a.pk}, w.p.manager, w.manager_b),
    "GET /api/v1/teams/{team_id}": lambda w: Case({"team_id": w.p.team_a2.pk}, w.p.manager, w.manager_b),
    "GET /api/v1/users/{user_id}": lambda w: Case({"user_id": w.p.agent2.pk}, w.p.manager, w.manager_b),
    "GET /api/v1/customers/{customer_id}": _api_customer,
    "PATCH /api/v1/customers/{customer_id}": lambda w: _api_customer(w, {}),
    "POST /api/v1/customers/{customer_id}/stage": lambda w: _api_customer(w, {"stage": "lost"}),
    "POST /api/v1/customers/{customer_id}/reveal": lambda w: _api_customer(w, {"field": "phone", "reason": ""}),
    "GET /api/v1/customers/{customer_id}/needs": _api_customer,
    "PUT /api/v1/customers/{customer_id}/needs": lambda w: _api_customer(w, {}),
    "GET /api/v1/customers/{customer_id}/timeline": _api_customer,
    "GET /api/v1/customers/{customer_id}/communications": _api_customer,
    "POST /api/v1/customers/{customer_id}/communications": lambda w: _api_customer(
        w, {"channel": "phone", "summary": "范围测试"}
    ),
    "GET /api/v1/customers/{customer_id}/matching-listings": _api_customer,
    "GET /api/v1/visits/{visit_id}": _api_visit,
    "POST /api/v1/visits/{visit_id}/start": _api_visit,
    "POST /api/v1/visits/{visit_id}/end": lambda w: _api_visit(w, {}),
    "POST /api/v1/followups/{followup_id}/complete": lambda w: Case(
        {"followup_id": w.followup.pk}, w.p.agent, w.p.agent2, data={"outcome": "reached", "method": "phone"}
    ),
    "GET /api/v1/listings/{listing_id}": _api_listing,
    # With a reason: the service checks it before the collector's scope.
    "PATCH /api/v1/listings/{listing_id}": lambda w: _api_listing(w, {"reason": "范围测试"}, change=True),
    "POST /api/v1/listings/{listing_id}/status": lambda w: _api_listing(
        w, {"status": "reserved", "reason": "范围测试"}, change=True
    ),
    "POST /api/v1/listings/{listing_id}/reverify": lambda w: _api_listing(w, {}, change=True),
    "POST /api/v1/listings/{listing_id}/reveal": lambda w: _api_listing(w, {"reason": ""}, change=True),
    "GET /api/v1/listings/{listing_id}/history": _api_listing,
    "GET /api/v1/listings/{listing_id}/matching-customers": _api_listing,
    "GET /api/v1/projects/{project_id}": lambda w: Case({"project_id": w.project.pk}, w.p.agent, w.twin_agent),
    "GET /api/v1/buildings/{building_id}/board": lambda w: Case(
        {"building_id": w.building.pk}, w.p.agent, w.twin_agent
    ),
}
