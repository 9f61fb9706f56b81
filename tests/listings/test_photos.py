"""Photos and floor plans: checked uploads with thumbnails, EXIF removed, files only for signed-in users with
a role, deletions with a reason in the change log (R3.1.1, R3.1.2)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.listings.models import ListingChange, ListingPhoto
from anju.listings.services.photos import photo_delete, photo_upload
from anju.testing import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def listing(p, make_listing):
    return make_listing(p.agent)


def image_file(name="living-room.png", *, size=(1200, 800), format_name="PNG", exif=None, mode="RGB"):
    buffer = io.BytesIO()
    image = Image.new(mode, size, (200, 120, 40) if mode == "RGB" else (200, 120, 40, 128))
    options = {"exif": exif.tobytes()} if exif is not None else {}
    image.save(buffer, format_name, **options)
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}[format_name]
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=content_type)


def upload(client, listing, *files, kind="photo", caption=""):
    return client.post(
        reverse("listings:listing-photos", args=[listing.pk]),
        {"action": "upload", "kind": kind, "caption": caption, "files": list(files)},
    )


def opened(field) -> Image.Image:
    with field.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


# --- uploads -------------------------------------------------------------------------------------------


def test_a_real_png_is_stored_with_a_thumbnail_at_most_400_px_wide(client, p, listing):
    response = upload(as_user(client, p.agent), listing, image_file(), caption="客厅")

    assert response.status_code == 302
    photo = ListingPhoto.objects.get()
    assert (photo.listing, photo.kind, photo.caption, photo.uploaded_by) == (listing, "photo", "客厅", p.agent)
    assert photo.image.name.endswith(".png")
    full, thumb = opened(photo.image), opened(photo.thumbnail)
    assert full.format == "PNG" and full.size == (1200, 800)
    assert thumb.format == "JPEG" and thumb.width <= 400 and thumb.size == (400, 267)
    assert AuditEvent.objects.filter(action="listings.photo.uploaded", actor=p.agent).count() == 1


def test_a_small_image_is_not_enlarged_and_transparency_is_flattened(p, listing):
    photo = photo_upload(
        actor=p.agent, listing=listing, file=image_file(size=(300, 200), mode="RGBA"), kind="floor_plan"
    )
    thumb = opened(photo.thumbnail)
    assert thumb.size == (300, 200) and thumb.mode == "RGB"
    assert photo.kind == "floor_plan"


def test_exif_is_stripped_and_the_picture_turned_upright(p, listing):
    exif = Image.Exif()
    exif[0x010E] = "业主张三的房子"  # ImageDescription
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise
    photo = photo_upload(
        actor=p.agent, listing=listing, file=image_file("phone.jpg", size=(800, 600), format_name="JPEG", exif=exif)
    )
    full = opened(photo.image)
    assert full.format == "JPEG" and dict(full.getexif()) == {}
    assert full.size == (600, 800)
    assert "exif" not in full.info


def test_several_images_in_one_upload(client, p, listing):
    response = upload(as_user(client, p.agent), listing, image_file("a.png"), image_file("b.png"))
    assert response.status_code == 302
    assert list(ListingPhoto.objects.order_by("position").values_list("position", flat=True)) == [0, 1]


def test_a_text_file_renamed_jpg_is_refused(client, p, listing):
    fake = SimpleUploadedFile("house.jpg", b"this is not an image at all", content_type="image/jpeg")
    response = upload(as_user(client, p.agent), listing, fake)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="error-files"' in html and "house.jpg is not a JPEG, PNG or WebP image." in html
    assert not ListingPhoto.objects.exists()


def test_other_image_types_are_refused(p, listing):
    with pytest.raises(ApplicationError) as refused:
        photo_upload(actor=p.agent, listing=listing, file=image_file("anim.gif", format_name="GIF"))
    assert refused.value.code == "listing.photo_bad_type"
    assert not ListingPhoto.objects.exists()


def test_an_oversize_file_is_refused(client, p, listing, settings):
    settings.ANJU_MAX_UPLOAD_MB = 0.001  # about 1 KB
    response = upload(as_user(client, p.agent), listing, image_file(size=(600, 600)))

    assert response.status_code == 200
    assert "living-room.png is larger than 0.001 MB." in response.content.decode()
    assert not ListingPhoto.objects.exists()


def test_only_those_who_manage_the_listing_may_upload(client, p, listing):
    assert upload(as_user(client, p.agent2), listing, image_file()).status_code == 403
    assert upload(as_user(client, p.cs), listing, image_file()).status_code == 403
    with pytest.raises(ApplicationError) as refused:
        photo_upload(actor=p.agent3, listing=listing, file=image_file())
    assert refused.value.status == 403
    assert not ListingPhoto.objects.exists()
    assert upload(as_user(client, p.lead), listing, image_file()).status_code == 302


# --- the files ----------------------------------------------------------------------------------------


def test_photo_files_need_a_login_and_a_role(client, p, listing):
    photo = photo_upload(actor=p.agent, listing=listing, file=image_file())
    image_url = reverse("listings:photo-file", args=[photo.pk, "image"])
    thumb_url = reverse("listings:photo-file", args=[photo.pk, "thumb"])

    response = client.get(thumb_url)
    assert response.status_code == 302 and "login" in response["Location"]
    roleless = UserFactory(username="roleless", branch=p.branch_a, team=p.team_a1)
    assert as_user(client, roleless).get(thumb_url).status_code == 404

    response = as_user(client, p.legal).get(thumb_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).width == 400
    response = client.get(image_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=86400"
    assert client.get(reverse("listings:photo-file", args=[photo.pk, "original"])).status_code == 404


def test_the_detail_page_shows_the_gallery_and_floor_plans(client, p, listing):
    photo = photo_upload(actor=p.agent, listing=listing, file=image_file(), caption="客厅")
    plan = photo_upload(actor=p.agent, listing=listing, file=image_file("plan.png"), kind="floor_plan")
    html = as_user(client, p.cs).get(reverse("listings:listing-detail", args=[listing.pk])).content.decode()
    assert reverse("listings:photo-file", args=[photo.pk, "thumb"]) in html
    assert reverse("listings:photo-file", args=[photo.pk, "image"]) in html
    assert reverse("listings:photo-file", args=[plan.pk, "thumb"]) in html
    assert 'data-testid="gallery-modal"' not in html and 'id="gallery-modal"' in html
    assert "/media/" not in html


# --- reorder and delete ------------------------------------------------------------------------------


def test_photos_can_be_moved(client, p, listing):
    first = photo_upload(actor=p.agent, listing=listing, file=image_file("a.png"))
    second = photo_upload(actor=p.agent, listing=listing, file=image_file("b.png"))
    url = reverse("listings:listing-photos", args=[listing.pk])
    response = as_user(client, p.agent).post(url, {"action": "move", "photo": second.pk, "offset": "-1"})
    assert response.status_code == 302
    assert list(listing.photos.values_list("pk", flat=True)) == [second.pk, first.pk]


def test_deleting_a_photo_needs_a_reason_and_is_in_the_change_log(client, p, listing):
    photo = photo_upload(actor=p.agent, listing=listing, file=image_file(), kind="floor_plan", caption="户型图")
    url = reverse("listings:listing-photos", args=[listing.pk])
    as_user(client, p.agent)

    response = client.post(url, {"action": "delete", "photo": photo.pk, "reason": ""})
    assert response.status_code == 200 and 'data-testid="error-reason"' in response.content.decode()
    assert ListingPhoto.objects.filter(pk=photo.pk).exists()

    response = client.post(url, {"action": "delete", "photo": photo.pk, "reason": "户型图有误"})
    assert response.status_code == 302
    assert not ListingPhoto.objects.exists()
    change = ListingChange.objects.get()
    assert change.reason == "户型图有误" and change.changed_by == p.agent
    assert change.changes == {
        "photo": {"before": {"id": photo.pk, "kind": "floor_plan", "caption": "户型图"}, "after": None}
    }
    history = client.get(reverse("listings:listing-detail", args=[listing.pk])).content.decode()
    assert "户型图有误" in history and "Photo / floor plan" in history and "Floor plan · 户型图" in history


def test_others_cannot_delete_photos(p, listing):
    photo = photo_upload(actor=p.agent, listing=listing, file=image_file())
    with pytest.raises(ApplicationError) as refused:
        photo_delete(actor=p.agent2, photo=photo, reason="不要了")
    assert refused.value.status == 403
    assert ListingPhoto.objects.filter(pk=photo.pk).exists()
    assert not ListingChange.objects.exists()
