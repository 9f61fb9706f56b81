"""New-home projects and buildings; a building's units are generated floor by floor (R3.1.1)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.crypto import blind_index
from anju.core.errors import ApplicationError, PermissionDeniedError, ValidationFailed, from_validation_error
from anju.core.masking import normalise_phone
from anju.core.permissions import require
from anju.core.scoping import in_scope, require_in_scope
from anju.core.services import validated_save

from ..choices import CertificateStatus, ListingKind, ListingStatus
from ..models import Building, Listing, Project, SearchGram
from ..search import grams_of, search_text_for
from .listings import _decimal, validate_listing

MANAGE = "listings.manage_projects"
PROJECT_FIELDS = ["name", "city", "district", "address", "developer", "description", "branch"]
# Listing fields the generated units take from the building form (the rest come from the project).
UNIT_DEFAULTS = [
    "built_area",
    "usable_area",
    "rooms",
    "halls",
    "baths",
    "orientation",
    "decoration",
    "total_price",
    "contact_name",
    "contact_phone",
]
BULK_BATCH = 500
GRAM_CHUNK = 1000
# Field rules are checked on every unit except: relations (the building's own objects — checking each
# would be a query per unit and field) and the values derived after validation.
UNCHECKED = [field.name for field in Listing._meta.concrete_fields if field.is_relation] + ["search_text", "unit_price"]


def _visible_branch(actor, branch):
    from anju.org.models import Branch

    if branch is None or not Branch.objects.visible_to(actor).filter(pk=getattr(branch, "pk", branch)).exists():
        raise ValidationFailed(
            "project.branch_out_of_scope",
            _("Choose a sales office in your own branch."),
            {"branch": [_("Choose a sales office in your own branch.")]},
        )
    return branch


def _require_managed_project(actor, project: Project) -> Project:
    """Everyone with a role sees projects; only managers of the project's branch change them."""
    require_in_scope(actor, project)
    if not in_scope(actor, project, "manage"):
        raise PermissionDeniedError(
            "project.not_yours", _("Only managers of the project's sales office can change this project.")
        )
    return project


def _project_snapshot(project: Project) -> dict:
    return audit.model_snapshot(project, PROJECT_FIELDS)


@transaction.atomic
def project_create(
    *,
    actor,
    name: str,
    city: str,
    district: str,
    address: str,
    branch,
    developer: str = "",
    description: str = "",
) -> Project:
    """Open a new-home project for a sales office the actor can see."""
    require(actor, MANAGE)
    _visible_branch(actor, branch)
    project = Project(
        name=(name or "").strip(),
        city=(city or "").strip(),
        district=(district or "").strip(),
        address=(address or "").strip(),
        developer=(developer or "").strip(),
        description=(description or "").strip(),
        branch=branch,
        created_by=actor,
    )
    validated_save(project)
    audit.record(actor=actor, action="listings.project.created", target=project, after=_project_snapshot(project))
    return project


@transaction.atomic
def project_update(*, actor, project: Project, **changes) -> Project:
    """Change a project's name, location, developer, description or sales office."""
    require(actor, MANAGE)
    unknown = set(changes) - set(PROJECT_FIELDS)
    if unknown:
        raise ValueError(f"unknown project fields: {sorted(unknown)}")
    _require_managed_project(actor, project)
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = _project_snapshot(project)
    if "branch" in changes:
        _visible_branch(actor, changes["branch"])
    for name, value in changes.items():
        setattr(project, name, value.strip() if isinstance(value, str) else value)
    validated_save(project)
    changed_before, changed_after = audit.diff(before, _project_snapshot(project))
    if changed_after:
        audit.record(
            actor=actor, action="listings.project.updated", target=project, before=changed_before, after=changed_after
        )
    return project


def unit_title(project: Project, building: Building, floor: int, unit: int) -> str:
    """``滨江壹号 3幢 1203室``."""
    return f"{project.name} {building.name} {room_number(floor, unit)}室"


def room_number(floor: int, unit: int) -> str:
    return f"{floor}{unit:02d}"


def _unit_errors(exc: ApplicationError | ValidationError) -> ApplicationError:
    """A unit that fails validation reports on the building form's default fields."""
    if isinstance(exc, ValidationError):
        exc = from_validation_error(exc)
    fields = {("base_price" if name == "total_price" else name): messages for name, messages in exc.fields.items()}
    return ValidationFailed("building.invalid_unit", exc.message, fields)


@transaction.atomic
def building_create(
    *,
    actor,
    project: Project,
    name: str,
    floors: int,
    units_per_floor: int,
    built_area,
    rooms: int,
    orientation: str,
    decoration: str,
    base_price,
    halls: int = 1,
    baths: int = 1,
    usable_area=None,
    contact_name: str = "",
    contact_phone: str = "",
) -> Building:
    """Add a building and generate its floors × units-per-floor units in one validated bulk write."""
    require(actor, MANAGE)
    _require_managed_project(actor, project)
    project = Project.objects.select_related("branch").get(pk=project.pk)
    building = Building(project=project, name=(name or "").strip(), floors=floors, units_per_floor=units_per_floor)
    validated_save(building)

    phone = normalise_phone(contact_phone) if contact_phone else ""
    phone_index = blind_index(phone, purpose="listing.contact_phone") if phone else ""
    built_area, usable_area = _decimal("built_area", built_area), _decimal("usable_area", usable_area)
    total_price = _decimal("base_price", base_price)
    now = timezone.now()
    team = actor.team if actor.team_id and actor.team.branch_id == project.branch_id else None
    units = []
    for floor in range(1, building.floors + 1):
        for unit in range(1, building.units_per_floor + 1):
            listing = Listing(
                kind=ListingKind.NEW_HOME,
                project=project,
                building=building,
                title=unit_title(project, building, floor, unit),
                city=project.city,
                district=project.district,
                community=project.name,
                address=project.address,
                building_no=building.name,
                unit_no=f"{unit:02d}",
                room_no=room_number(floor, unit),
                floor=floor,
                total_floors=building.floors,
                built_area=built_area,
                usable_area=usable_area,
                rooms=rooms,
                halls=halls,
                baths=baths,
                orientation=orientation,
                decoration=decoration,
                certificate_status=CertificateStatus.PRESALE,
                total_price=total_price,
                contact_name=(contact_name or "").strip(),
                contact_phone=phone,
                contact_phone_index=phone_index,
                status=ListingStatus.AVAILABLE,
                collector=actor,
                team=team,
                branch=project.branch,
                last_verified_at=now,
                last_verified_by=actor,
            )
            try:
                validate_listing(listing)
                # Field rules (choices, digits, ranges) without the per-row uniqueness queries: the
                # building is new, and the (building, floor, unit_no) constraint guards the rest.
                listing.clean_fields(exclude=UNCHECKED)
            except (ApplicationError, ValidationError) as exc:
                raise _unit_errors(exc) from None
            listing.unit_price = Listing.compute_unit_price(listing.total_price, listing.built_area)
            listing.search_text = search_text_for(listing)
            units.append(listing)
    Listing.objects.bulk_create(units, batch_size=BULK_BATCH)
    _index_units(building)
    audit.record(
        actor=actor,
        action="listings.building.created",
        target=building,
        after={
            "project": project.pk,
            "name": building.name,
            "floors": building.floors,
            "units_per_floor": building.units_per_floor,
            "units": len(units),
            "built_area": built_area,
            "total_price": total_price,
        },
    )
    return building


def _index_units(building: Building) -> None:
    """The search grams of every generated unit: the bulk equivalent of ``rebuild_grams``.

    A 200-floor tower has ~200,000 grams; model instances (and one round trip per row) would
    dominate, so they go in as a few set-based INSERTs: two arrays through ``unnest`` on
    PostgreSQL, multi-row VALUES elsewhere.
    """
    units = list(Listing.objects.filter(building=building).values_list("pk", "search_text"))
    rows = [(pk, gram) for pk, text in units for gram in sorted(grams_of(text))]
    quote = connection.ops.quote_name
    table = quote(SearchGram._meta.db_table)
    columns = (
        f"{quote(SearchGram._meta.get_field('listing').column)}, {quote(SearchGram._meta.get_field('gram').column)}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            statement = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest(%s::bigint[], %s::varchar[])"  # noqa: S608
            for start in range(0, len(rows), 50_000):
                chunk = rows[start : start + 50_000]
                cursor.execute(statement, [[pk for pk, _gram in chunk], [gram for _pk, gram in chunk]])
            return
        for start in range(0, len(rows), GRAM_CHUNK):
            chunk = rows[start : start + GRAM_CHUNK]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values}",  # noqa: S608 (the model's own table)
                [value for row in chunk for value in row],
            )
