"""Photos and floor plans of a listing: checked uploads with thumbnails, ordered, deleted with a reason (R3.1.1)."""

from __future__ import annotations

import io
import warnings

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from anju.core import audit
from anju.core.errors import ValidationFailed
from anju.core.permissions import require
from anju.core.services import validated_save

from ..choices import PhotoKind
from ..models import Listing, ListingPhoto
from ._common import require_managed
from .listings import _record_change, _require_reason

# Pillow format → (file extension, content type). Anything else is refused, whatever the file is called.
FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
THUMBNAIL_WIDTH = 400
# Bigger pictures are a decompression bomb, not a flat: refuse them before decoding (about 50 megapixels).
MAX_PIXELS = 50_000_000


def content_type(name: str) -> str:
    """The content type of a stored image, from the extension the upload check gave it."""
    extension = name.rsplit(".", 1)[-1].lower()
    return next((kind for ext, kind in FORMATS.values() if ext == extension), "application/octet-stream")


def _refuse(code: str, message: str) -> ValidationFailed:
    return ValidationFailed(code, message, {"files": [message]})


def _open_checked(file) -> Image.Image:
    """The decoded image, or a clear refusal: too large, not an image, or not JPEG/PNG/WebP."""
    limit_mb = settings.ANJU_MAX_UPLOAD_MB
    size = getattr(file, "size", None)
    if size is None or size > limit_mb * 1024 * 1024:
        raise _refuse(
            "listing.photo_too_large",
            _("%(name)s is larger than %(limit)s MB.") % {"name": getattr(file, "name", ""), "limit": limit_mb},
        )
    not_an_image = _("%(name)s is not a JPEG, PNG or WebP image.") % {"name": getattr(file, "name", "")}
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(file)
            if probe.format not in FORMATS:
                raise _refuse("listing.photo_bad_type", not_an_image)
            if probe.width * probe.height > MAX_PIXELS:
                raise _refuse("listing.photo_too_many_pixels", _("The image has too many pixels."))
            probe.verify()  # a truncated or corrupt body fails here
            file.seek(0)
            image = Image.open(file)
            image.load()
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning):
        raise _refuse("listing.photo_bad_type", not_an_image) from None
    return image


def _encode(image: Image.Image, format_name: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels in ``image``'s embedded colour profile (a phone's Display P3, a CMYK print profile) turned into sRGB."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, target, outputMode="RGBA" if image.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # not a usable profile: the pixels as they are, the profile dropped all the same


def pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding only the pixels of ``image``, turned upright by its EXIF orientation.

    Issue #9 defect 4: a JPEG comment (COM), EXIF (GPS, device, descriptions), XMP, an ICC
    profile or PNG text chunks can carry a phone or an ID number, and Pillow writes parts of
    ``info`` back on save. Copying the pixels into a fresh image leaves every one of them
    behind; the orientation is the only metadata that matters, and after ``exif_transpose``
    it lives in the pixels themselves. Colours are kept by converting them to sRGB (what a
    browser assumes without a profile) instead of keeping the profile.
    """
    upright = _to_srgb(ImageOps.exif_transpose(image))
    if upright.mode == "P":
        # Palette transparency lives in ``info``, which is not copied; keep it as an alpha channel.
        upright = upright.convert("RGBA" if "transparency" in upright.info else "RGB")
    elif upright.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
    clean = Image.new(upright.mode, upright.size)
    clean.frombytes(upright.tobytes())
    return clean


def _clean_image(image: Image.Image) -> tuple[bytes, str, Image.Image]:
    """Re-encoded from the pixels alone, upright, with no metadata at all; the format is kept."""
    format_name = image.format
    clean = pixels_only(image)
    if format_name == "JPEG":
        if clean.mode not in ("RGB", "L"):
            clean = clean.convert("RGB")
        data = _encode(clean, "JPEG", quality=90, optimize=True)
    elif format_name == "PNG":
        data = _encode(clean, "PNG", optimize=True)
    else:
        data = _encode(clean, "WEBP", quality=90)
    return data, FORMATS[format_name][0], clean


def _thumbnail(image: Image.Image) -> bytes:
    """A JPEG at most 400 px wide (never enlarged), transparency flattened on white; ``image`` is pixels only."""
    if image.mode in ("RGBA", "LA"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if image.width > THUMBNAIL_WIDTH:
        height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
        image = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
    return _encode(image, "JPEG", quality=82, optimize=True, progressive=True)


def _describe(photo: ListingPhoto) -> dict:
    return {"id": photo.pk, "kind": photo.kind, "caption": photo.caption}


@transaction.atomic
def photo_upload(*, actor, listing: Listing, file, kind: str = PhotoKind.PHOTO, caption: str = "") -> ListingPhoto:
    """Add a photo or floor plan: type checked by decoding, size limited, EXIF stripped, 400 px thumbnail."""
    require(actor, "listings.change_listing")
    require_managed(actor, listing)
    if kind not in PhotoKind.values:
        raise ValidationFailed("listing.photo_bad_kind", _("Choose photo or floor plan."), {"kind": [_("Invalid.")]})
    image = _open_checked(file)
    data, extension, upright = _clean_image(image)
    thumbnail = _thumbnail(upright)
    last = ListingPhoto.objects.filter(listing=listing, kind=kind).aggregate(last=Max("position"))["last"]
    photo = ListingPhoto(
        listing=listing,
        kind=kind,
        caption=(caption or "").strip()[:100],
        uploaded_by=actor,
        position=0 if last is None else last + 1,
    )
    photo.image.save(f"image.{extension}", ContentFile(data), save=False)
    photo.thumbnail.save("thumb.jpg", ContentFile(thumbnail), save=False)
    validated_save(photo)
    audit.record(actor=actor, action="listings.photo.uploaded", target=listing, after=_describe(photo))
    return photo


@transaction.atomic
def photo_delete(*, actor, photo: ListingPhoto, reason: str) -> None:
    """Remove a photo or floor plan; the reason goes to the listing's change log (R3.1.2)."""
    require(actor, "listings.change_listing")
    reason = _require_reason(reason)
    listing = photo.listing
    require_managed(actor, listing)
    photo = ListingPhoto.objects.select_for_update().get(pk=photo.pk)
    described = _describe(photo)
    files = [(field.storage, field.name) for field in (photo.image, photo.thumbnail) if field]
    photo.delete()
    _record_change(
        actor=actor,
        listing=listing,
        before={"photo": described},
        after={"photo": None},
        reason=reason,
        action="listings.photo.deleted",
    )

    def remove_files():
        for storage, name in files:
            storage.delete(name)

    transaction.on_commit(remove_files)


@transaction.atomic
def photo_move(*, actor, photo: ListingPhoto, offset: int) -> None:
    """Move a photo one place earlier (-1) or later (+1) among the listing's photos of its kind."""
    require(actor, "listings.change_listing")
    require_managed(actor, photo.listing)
    siblings = list(
        ListingPhoto.objects.select_for_update()
        .filter(listing_id=photo.listing_id, kind=photo.kind)
        .order_by("position", "pk")
    )
    index = next(i for i, sibling in enumerate(siblings) if sibling.pk == photo.pk)
    target = index + (1 if offset > 0 else -1)
    if not 0 <= target < len(siblings):
        return
    siblings[index], siblings[target] = siblings[target], siblings[index]
    for position, sibling in enumerate(siblings):
        if sibling.position != position:
            ListingPhoto.objects.filter(pk=sibling.pk).update(position=position)
    audit.record(
        actor=actor,
        action="listings.photo.moved",
        target=photo.listing,
        after={"order": [sibling.pk for sibling in siblings]},
    )
