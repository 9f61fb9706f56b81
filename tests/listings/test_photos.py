"""Photos and floor plans: checked uploads with thumbnails, every piece of metadata removed (EXIF, JPEG comments,
XMP, ICC, PNG text — issue #9 defect 4), files only for signed-in users with a role, deletions with a reason in the
change log (R3.1.1, R3.1.2)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.listings.models import ListingChange, ListingPhoto, Resource
from anju.listings.services.photos import photo_delete, photo_upload
from anju.listings.services.resources import resource_upload
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


# --- no metadata survives (issue #9 defect 4) -----------------------------------------------------------

PHONE, ID_NUMBER = "13812345678", "110101199003071234"
SECRETS = (PHONE.encode(), ID_NUMBER.encode(), b"PhoneMaker")
METADATA_KEYS = {"comment", "exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "Comment", "Author", "Phone"}


def personal_exif(orientation: int | None = None) -> bytes:
    """EXIF holding a camera make, a description with a phone number and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x010E] = f"owner {PHONE}"  # ImageDescription
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 15.0, 12.5), 3: "E", 4: (120.0, 10.0, 5.0)})
    return exif.tobytes()


def half_red_half_blue(size=(800, 600)) -> Image.Image:
    """Red on the left half, blue on the right, so a rotation shows in the pixels."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def upload_file(name: str, image: Image.Image, format_name: str, **options) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    data = buffer.getvalue()
    assert PHONE.encode() in data or ID_NUMBER.encode() in data  # planted, so their absence later means something
    return SimpleUploadedFile(name, data, content_type=f"image/{format_name.lower()}")


def stored_bytes(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def assert_pixels_only(data: bytes) -> Image.Image:
    """Neither the raw bytes nor what Pillow reads from them hold any metadata or planted number."""
    for secret in SECRETS:
        assert secret not in data
    image = Image.open(io.BytesIO(data))
    image.load()
    assert not METADATA_KEYS & set(image.info), image.info
    assert dict(image.getexif()) == {}
    assert getattr(image, "text", {}) == {}
    return image


def close_to(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_a_jpeg_comment_exif_xmp_and_icc_are_gone_from_the_photo_its_thumbnail_and_what_is_served(client, p, listing):
    file = upload_file(
        "flat.jpg",
        half_red_half_blue(),
        "JPEG",
        comment=f"{PHONE} {ID_NUMBER}".encode(),
        exif=personal_exif(orientation=6),  # rotate 90° clockwise to show
        xmp=f"<x:xmpmeta>{ID_NUMBER}</x:xmpmeta>".encode(),
        icc_profile=f"not a profile {PHONE}".encode(),
    )
    assert upload(as_user(client, p.agent), listing, file).status_code == 302
    photo = ListingPhoto.objects.get()

    full = assert_pixels_only(stored_bytes(photo.image))
    thumb = assert_pixels_only(stored_bytes(photo.thumbnail))
    # Orientation is the one thing kept — in the pixels: upright, the left (red) half is now on top.
    assert full.format == "JPEG" and full.size == (600, 800)
    assert close_to(full.getpixel((300, 100)), (255, 0, 0)) and close_to(full.getpixel((300, 700)), (0, 0, 255))
    assert thumb.size == (400, 533)
    assert close_to(thumb.getpixel((200, 50)), (255, 0, 0)) and close_to(thumb.getpixel((200, 480)), (0, 0, 255))

    # What another branch is served holds none of it either.
    as_user(client, p.agent3)
    for variant in ("image", "thumb"):
        response = client.get(reverse("listings:photo-file", args=[photo.pk, variant]))
        assert response.status_code == 200
        assert_pixels_only(b"".join(response.streaming_content))


def test_a_colour_profile_is_applied_to_the_pixels_and_not_kept(p, listing):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    file = upload_file(
        "flat.jpg", half_red_half_blue((200, 100)), "JPEG", icc_profile=srgb, comment=f"{PHONE}".encode()
    )
    photo = photo_upload(actor=p.agent, listing=listing, file=file)
    full = assert_pixels_only(stored_bytes(photo.image))
    assert close_to(full.getpixel((10, 10)), (255, 0, 0)) and close_to(full.getpixel((190, 10)), (0, 0, 255))


def test_png_text_chunks_and_exif_are_gone(p, listing):
    info = PngInfo()
    info.add_text("Comment", PHONE)  # tEXt
    info.add_text("Phone", PHONE, zip=True)  # zTXt
    info.add_itxt("Author", ID_NUMBER)  # iTXt
    file = upload_file("plan.png", half_red_half_blue((300, 200)), "PNG", pnginfo=info, exif=personal_exif())

    photo = photo_upload(actor=p.agent, listing=listing, file=file, kind="floor_plan")
    full = assert_pixels_only(stored_bytes(photo.image))
    assert full.format == "PNG" and full.size == (300, 200)
    assert close_to(full.getpixel((10, 10)), (255, 0, 0))
    assert_pixels_only(stored_bytes(photo.thumbnail))


def test_webp_exif_and_xmp_are_gone(p, listing):
    file = upload_file(
        "flat.webp",
        half_red_half_blue((400, 300)),
        "WEBP",
        exif=personal_exif(orientation=6),
        xmp=f"<x:xmpmeta>{ID_NUMBER}</x:xmpmeta>".encode(),
    )
    photo = photo_upload(actor=p.agent, listing=listing, file=file)
    full = assert_pixels_only(stored_bytes(photo.image))
    assert full.format == "WEBP" and full.size == (300, 400)
    assert_pixels_only(stored_bytes(photo.thumbnail))


def test_a_palette_png_keeps_its_transparency_without_its_metadata(p, listing):
    image = Image.new("P", (120, 80), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (60, 0, 120, 80))
    info = PngInfo()
    info.add_text("Comment", PHONE)
    file = upload_file("logo.png", image, "PNG", transparency=0, pnginfo=info)

    photo = photo_upload(actor=p.agent, listing=listing, file=file)
    full = assert_pixels_only(stored_bytes(photo.image))
    assert full.mode == "RGBA" and full.getpixel((10, 10))[3] == 0 and full.getpixel((100, 10)) == (0, 0, 255, 255)
    thumb = assert_pixels_only(stored_bytes(photo.thumbnail))
    assert close_to(thumb.getpixel((10, 10)), (255, 255, 255))  # transparent → white


def test_images_in_the_resource_library_lose_their_metadata_too(client, p):
    file = upload_file(
        "楼盘实景.jpg",
        half_red_half_blue((320, 240)),
        "JPEG",
        comment=f"{PHONE} {ID_NUMBER}".encode(),
        exif=personal_exif(orientation=6),
    )
    resource = resource_upload(actor=p.manager, kind="brochure", title="实景图", file=file)

    stored = assert_pixels_only(stored_bytes(resource.file))
    assert stored.format == "JPEG" and stored.size == (240, 320)
    assert resource.original_name == "楼盘实景.jpg" and resource.size == resource.file.size
    response = as_user(client, p.agent3).get(reverse("listings:resource-download", args=[resource.pk]))
    assert response.status_code == 200
    assert_pixels_only(b"".join(response.streaming_content))


def test_an_animated_gif_resource_keeps_its_frames_but_not_its_comment(p):
    frames = [Image.new("RGB", (60, 40), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    file = upload_file(
        "sales-tool.gif",
        frames[0],
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[200, 300],
        loop=0,
        comment=f"call {PHONE}".encode(),
    )
    resource = resource_upload(actor=p.manager, kind="sales_tool", title="动图", file=file)

    stored = assert_pixels_only(stored_bytes(resource.file))
    assert stored.format == "GIF" and stored.n_frames == 2
    stored.seek(1)
    assert stored.info["duration"] == 300 and close_to(stored.convert("RGB").getpixel((5, 5)), (0, 0, 255))


def test_a_resource_with_an_image_header_but_no_image_is_refused(p):
    fake = SimpleUploadedFile("plan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, content_type="image/png")
    with pytest.raises(ApplicationError) as refused:
        resource_upload(actor=p.manager, kind="floor_plan", title="户型", file=fake)
    assert refused.value.code == "resource.content_mismatch" and "file" in refused.value.fields
    assert not Resource.objects.exists()


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
