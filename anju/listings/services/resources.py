"""Company resources (R1.1.2): upload, role-based access, audited download, retirement.

A resource is a file of the company's sales library — a brochure, floor plan, price sheet,
sales tool or case study — for one project or for the whole company. ``roles`` limits who may
see it (empty: every role). Files live under MEDIA_ROOT but are only ever handed out by the
authenticated download view, which writes an audit event for every download.
"""

from __future__ import annotations

import io
import os
import unicodedata
import warnings
import zipfile

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from PIL import Image, ImageSequence, UnidentifiedImageError

from anju.core import audit
from anju.core.errors import ApplicationError, ValidationFailed
from anju.core.permissions import require
from anju.core.scoping import in_scope
from anju.core.services import validated_save

from ..choices import ResourceKind
from ..models import Project, Resource
from .photos import MAX_PIXELS, pixels_only

VIEW = "listings.view_resource"
MANAGE = "listings.manage_resource"

# extension → (content type, content check); the extension and the content must agree.
IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
OFFICE_TYPES = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xl/"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "word/"),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "ppt/"),
}
ALLOWED_EXTENSIONS = ("pdf", *IMAGE_TYPES, *OFFICE_TYPES, "mp4")
HEAD_BYTES = 16


def max_upload_bytes() -> int:
    return int(getattr(settings, "ANJU_MAX_UPLOAD_MB", 10)) * 1024 * 1024


def content_type_for(name: str) -> str:
    extension = _extension(name)
    if extension == "pdf":
        return "application/pdf"
    if extension in IMAGE_TYPES:
        return IMAGE_TYPES[extension]
    if extension in OFFICE_TYPES:
        return OFFICE_TYPES[extension][0]
    if extension == "mp4":
        return "video/mp4"
    return "application/octet-stream"


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def clean_filename(name: str) -> str:
    """The name the browser sent, without a path or control characters, kept for the download."""
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(char for char in unicodedata.normalize("NFC", name) if unicodedata.category(char)[0] != "C")
    name = name.strip().strip(".") or "file"
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[: 199 - len(extension)]}.{extension}" if dot and len(extension) <= 10 else name[:200]
    return name


def _head(file, size: int = HEAD_BYTES) -> bytes:
    file.seek(0)
    head = file.read(size)
    file.seek(0)
    return head or b""


def _image_matches(extension: str, head: bytes) -> bool:
    if extension in ("jpg", "jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if extension == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if extension == "gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"  # webp


def _office_matches(file, folder: str) -> bool:
    """An OOXML file is a ZIP with [Content_Types].xml and the part folder of its kind."""
    if not _head(file, 4).startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        file.seek(0)
    return "[Content_Types].xml" in names and any(name.startswith(folder) for name in names)


def content_matches(extension: str, file) -> bool:
    """Whether the file's first bytes (its magic number) are what its extension claims."""
    head = _head(file)
    if extension == "pdf":
        return head.startswith(b"%PDF-")
    if extension in IMAGE_TYPES:
        return _image_matches(extension, head)
    if extension in OFFICE_TYPES:
        return _office_matches(file, OFFICE_TYPES[extension][1])
    if extension == "mp4":
        return head[4:8] == b"ftyp"
    return False


def validate_resource_file(file) -> str:
    """Check the type (extension and content) and the size; return the cleaned original name."""
    name = clean_filename(getattr(file, "name", ""))
    extension = _extension(name)
    if extension not in ALLOWED_EXTENSIONS:
        message = _("Upload a PDF, an image (JPG, PNG, GIF, WebP), an Excel, Word or PowerPoint file, or an MP4 video.")
        raise ValidationFailed("resource.bad_type", message, {"file": [message]})
    limit = max_upload_bytes()
    if file.size is None or file.size > limit:
        message = _("The file is larger than %(limit)s MB.") % {"limit": limit // (1024 * 1024)}
        raise ValidationFailed("resource.too_large", message, {"file": [message]})
    if file.size == 0:
        message = _("The file is empty.")
        raise ValidationFailed("resource.empty", message, {"file": [message]})
    if not content_matches(extension, file):
        message = _("The file's content is not a .%(extension)s file; it may be damaged or renamed.") % {
            "extension": extension
        }
        raise ValidationFailed("resource.content_mismatch", message, {"file": [message]})
    return name


def _encode_pixels_only(image: Image.Image) -> bytes:
    """Every frame of ``image`` copied from its pixels into the same format, without any metadata."""
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(frame.info.get("duration", 100))
        frames.append(pixels_only(frame))
    first, rest = frames[0], frames[1:]
    options: dict = {}
    if rest:  # an animation keeps its timing and looping, which say nothing about anyone
        options = {"save_all": True, "append_images": rest, "duration": durations, "loop": image.info.get("loop", 0)}
    if image.format == "JPEG":
        first = first if first.mode in ("RGB", "L") else first.convert("RGB")
        options["quality"] = 90
    buffer = io.BytesIO()
    first.save(buffer, image.format, **options)
    return buffer.getvalue()


def image_without_metadata(file, name: str) -> ContentFile:
    """An uploaded image re-encoded from its pixels alone (issue #9 defect 4).

    A picture in the library is shown to every role it is open to, so a JPEG comment, EXIF (GPS,
    device, descriptions), XMP, an ICC profile or PNG text left in it would travel with it.
    """
    message = _("The file's content is not a .%(extension)s file; it may be damaged or renamed.") % {
        "extension": _extension(name)
    }
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            if image.width * image.height * getattr(image, "n_frames", 1) > MAX_PIXELS:
                too_many = _("The image has too many pixels.")
                raise ValidationFailed("resource.too_many_pixels", too_many, {"file": [too_many]})
            data = _encode_pixels_only(image)
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, Warning):
        raise ValidationFailed("resource.content_mismatch", message, {"file": [message]}) from None
    finally:
        file.seek(0)
    return ContentFile(data, name=name)


# --- reads --------------------------------------------------------------------------------------


def resources_for(user) -> QuerySet[Resource]:
    """Active resources the user may open: open to every role, or to one of the user's roles.

    Holders of ``manage_resource`` see the whole library (they maintain it); users without a
    role see nothing (``visible_to`` denies by default).
    """
    queryset = Resource.objects.visible_to(user).filter(is_active=True)
    if user.is_superuser or user.has_perm(MANAGE):
        return queryset
    through = Resource.roles.through
    restricted = through.objects.filter(resource_id=OuterRef("pk"))
    granted = restricted.filter(role_id__in=user.roles.values("pk"))
    return queryset.filter(~Exists(restricted) | Exists(granted))


def _require_manages_project(actor, project: Project | None) -> None:
    """A project's resources are maintained by managers whose scope holds the project."""
    if project is not None and not in_scope(actor, project, "manage"):
        raise ApplicationError(
            "resource.not_yours",
            _("Only a manager of this project's sales office can change its resources."),
            {"project": [_("Choose a project of your own sales office.")]},
            status=403,
        )


# --- writes -------------------------------------------------------------------------------------


@transaction.atomic
def resource_upload(
    *, actor, kind: str, title: str, file, project: Project | None = None, description: str = "", roles=()
) -> Resource:
    """Add a file to the company library; the type is checked by extension and content, the size by the limit."""
    require(actor, MANAGE)
    _require_manages_project(actor, project)
    if kind not in ResourceKind.values:
        raise ValidationFailed("resource.bad_kind", _("Choose a kind."), {"kind": [_("Choose a kind.")]})
    title = (title or "").strip()
    if not title:
        raise ValidationFailed("resource.title_required", _("Enter a title."), {"title": [_("Required.")]})
    original_name = validate_resource_file(file)
    if _extension(original_name) in IMAGE_TYPES:
        file = image_without_metadata(file, original_name)
    resource = Resource(
        project=project,
        kind=kind,
        title=title,
        description=(description or "").strip(),
        file=file,
        original_name=original_name,
        size=file.size,
        uploaded_by=actor,
    )
    validated_save(resource)
    roles = list(roles or [])
    resource.roles.set(roles)
    audit.record(
        actor=actor,
        action="listings.resource.uploaded",
        target=resource,
        after={
            "project": project.pk if project else None,
            "kind": kind,
            "file": original_name,
            "size": resource.size,
            "roles": sorted(role.code for role in roles),
        },
    )
    return resource


@transaction.atomic
def resource_download(*, actor, resource: Resource):
    """Open a resource's file for the actor (access checked again) and audit the download."""
    require(actor, VIEW)
    if not resources_for(actor).filter(pk=resource.pk).exists():
        raise ApplicationError("not_found", _("Not found."), status=404)
    try:
        handle = resource.file.storage.open(resource.file.name, "rb")
    except OSError:
        message = _("The file is missing; ask an administrator.")
        raise ApplicationError("resource.file_missing", message, status=404) from None
    audit.record(
        actor=actor,
        action="listings.resource.downloaded",
        target=resource,
        after={"file": resource.original_name, "size": resource.size},
    )
    return handle


@transaction.atomic
def resource_retire(*, actor, resource: Resource, reason: str = "") -> Resource:
    """Take a resource out of the library (soft delete: the row, the file and the audit trail stay)."""
    require(actor, MANAGE)
    resource = Resource.objects.select_for_update(of=("self",)).select_related("project").get(pk=resource.pk)
    if not resource.is_active:
        raise ApplicationError("not_found", _("Not found."), status=404)
    _require_manages_project(actor, resource.project)
    resource.is_active = False
    resource.save(update_fields=["is_active"])
    audit.record(
        actor=actor,
        action="listings.resource.retired",
        target=resource,
        before={"is_active": True},
        after={"is_active": False},
        reason=(reason or "").strip()[:200],
    )
    return resource


def resource_filters(queryset: QuerySet[Resource], *, project: str = "", kind: str = "", search: str = ""):
    """The list page's filters: ``project`` is a project id or ``company`` (company-wide only)."""
    if project == "company":
        queryset = queryset.filter(project__isnull=True)
    elif project:
        queryset = queryset.filter(project_id=project)
    if kind:
        queryset = queryset.filter(kind=kind)
    search = (search or "").strip()
    if search:
        queryset = queryset.filter(Q(title__icontains=search))
    return queryset
