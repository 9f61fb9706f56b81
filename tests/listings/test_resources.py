"""Company resources library (R1.1.2): upload checks, role-based access, audited download, retirement."""

import io
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.listings.models import Project, Resource
from anju.listings.services.resources import resource_retire, resource_upload, resources_for
from anju.org.models import Role

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc8Q\xa1\x01\x00\x03t\x01i\xcb\xfa\xd0\xd7\x00\x00\x00\x00IEND\xaeB`\x82"  # a real 1×1 PNG: images are decoded
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
LIST_URL = reverse("listings:resource-list")
UPLOAD_URL = reverse("listings:resource-upload")


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active["A1"] = "一房一价"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload_file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture
def project(p):
    return Project.objects.create(
        name="滨江壹号",
        city="杭州",
        district="滨江区",
        address="江南大道 1 号",
        branch=p.branch_a,
        created_by=p.manager,
    )


@pytest.fixture
def other_project(p):
    return Project.objects.create(
        name="西湖公馆", city="杭州", district="西湖区", address="文三路 9 号", branch=p.branch_b, created_by=p.admin
    )


@pytest.fixture
def add(p, project):
    """``add(title, roles=(), name=…, content=…, project=…)`` uploads through the service as the manager."""

    def _add(title, *, roles=(), name="楼书.pdf", content=PDF, kind="brochure", to=project, actor=None):
        return resource_upload(
            actor=actor or p.manager,
            project=to,
            kind=kind,
            title=title,
            file=upload_file(name, content),
            roles=list(Role.objects.filter(code__in=roles)),
        )

    return _add


def titles_on_page(response) -> set[str]:
    return {resource.title for resource in response.context["page_obj"]}


# --- upload ---------------------------------------------------------------------------------------


def test_manager_uploads_a_project_brochure_through_the_page(p, login, project):
    client = login(p.manager)
    response = client.post(
        UPLOAD_URL,
        {
            "project": project.pk,
            "kind": "brochure",
            "title": "滨江壹号楼书",
            "description": "2026 版",
            "file": upload_file("滨江壹号 楼书.pdf", PDF),
            "roles": [Role.objects.get(code="sales_agent").pk],
        },
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    resource = Resource.objects.get()
    assert (resource.project, resource.kind, resource.title) == (project, "brochure", "滨江壹号楼书")
    assert resource.original_name == "滨江壹号 楼书.pdf" and resource.size == len(PDF)
    assert [role.code for role in resource.roles.all()] == ["sales_agent"]
    assert resource.file.name.startswith(f"resources/{project.pk}/") and resource.file.name.endswith(".pdf")
    event = AuditEvent.objects.get(action="listings.resource.uploaded")
    assert event.target_id == str(resource.pk) and event.after["roles"] == ["sales_agent"]


def test_upload_page_offers_the_managers_own_projects_and_every_role(p, login, project, other_project):
    form = login(p.manager).get(UPLOAD_URL).context["form"]
    assert list(form.fields["project"].queryset) == [project]
    assert set(form.fields["roles"].queryset) == set(Role.objects.all())
    assert set(login(p.admin).get(UPLOAD_URL).context["form"].fields["project"].queryset) == {project, other_project}


def test_company_wide_upload_without_a_project(p, add):
    resource = add("销售话术手册", to=None, kind="sales_tool", name="话术.xlsx", content=xlsx_bytes())
    assert resource.project is None and resource.file.name.startswith("resources/company/")


@pytest.mark.parametrize("persona", ["agent", "lead", "cs", "auditor"])
def test_roles_without_the_manage_permission_cannot_upload(p, login, persona):
    response = login(getattr(p, persona)).post(
        UPLOAD_URL, {"kind": "brochure", "title": "x", "file": upload_file("a.pdf", PDF)}
    )
    assert response.status_code == 403
    with pytest.raises(ApplicationError) as refused:
        resource_upload(actor=getattr(p, persona), kind="brochure", title="x", file=upload_file("a.pdf", PDF))
    assert refused.value.status == 403
    assert not Resource.objects.exists()


def test_a_branch_manager_cannot_upload_to_another_branchs_project(p, add, other_project):
    with pytest.raises(ApplicationError) as refused:
        add("越权楼书", to=other_project)
    assert refused.value.code == "resource.not_yours"
    assert add("集团楼书", to=other_project, actor=p.admin).project == other_project


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("price.pdf", PNG),  # a PNG renamed to .pdf
        ("photo.png", PDF),
        ("photo.jpg", PNG),
        ("sheet.xlsx", b"PK\x03\x04" + b"\x00" * 40),  # a ZIP header but not an Office file
        ("deck.pptx", xlsx_bytes()),  # a workbook renamed to a slide deck
        ("video.mp4", PDF),
    ],
)
def test_content_that_does_not_match_the_extension_is_refused(p, login, name, content):
    response = login(p.manager).post(UPLOAD_URL, {"kind": "brochure", "title": "x", "file": upload_file(name, content)})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    with pytest.raises(ApplicationError) as refused:
        resource_upload(actor=p.manager, kind="brochure", title="x", file=upload_file(name, content))
    assert refused.value.code == "resource.content_mismatch"
    assert not Resource.objects.exists()


@pytest.mark.parametrize("name", ["setup.exe", "page.html", "no-extension", "script.svg"])
def test_file_types_outside_the_list_are_refused(p, name):
    with pytest.raises(ApplicationError) as refused:
        resource_upload(actor=p.manager, kind="brochure", title="x", file=upload_file(name, PDF))
    assert refused.value.code == "resource.bad_type" and "file" in refused.value.fields


@pytest.mark.parametrize(("name", "content"), [("a.png", PNG), ("b.mp4", MP4), ("c.xlsx", None), ("d.pdf", PDF)])
def test_every_allowed_type_with_matching_content_is_accepted(p, add, name, content):
    resource = add(name, name=name, content=content if content is not None else xlsx_bytes())
    assert resource.original_name == name


def test_files_over_the_size_limit_are_refused(p, settings):
    settings.ANJU_MAX_UPLOAD_MB = 1
    big = PDF + b"0" * (1024 * 1024)
    with pytest.raises(ApplicationError) as refused:
        resource_upload(actor=p.manager, kind="brochure", title="x", file=upload_file("big.pdf", big))
    assert refused.value.code == "resource.too_large"
    assert not Resource.objects.exists()


def test_a_path_in_the_uploaded_name_is_dropped(p, add):
    assert add("x", name="..\\..\\etc/楼书.pdf").original_name == "楼书.pdf"


# --- list and access ------------------------------------------------------------------------------


def test_role_restricted_resource_is_hidden_from_other_roles_and_404_on_download(p, login, add):
    open_to_all = add("公开楼书")
    agents_only = add("置业顾问价格表", roles=["sales_agent"], kind="price_sheet", name="价格表.pdf")
    for persona in ("cs", "legal", "finance", "qa", "auditor"):
        user = getattr(p, persona)
        client = login(user)
        assert titles_on_page(client.get(LIST_URL)) == {"公开楼书"}, persona
        assert client.get(reverse("listings:resource-download", args=[agents_only.pk])).status_code == 404
        assert client.get(reverse("listings:resource-download", args=[open_to_all.pk])).status_code == 200
    for persona in ("agent", "agent2", "agent3"):
        client = login(getattr(p, persona))
        assert titles_on_page(client.get(LIST_URL)) == {"公开楼书", "置业顾问价格表"}, persona
        assert client.get(reverse("listings:resource-download", args=[agents_only.pk])).status_code == 200
    # Those who maintain the library see all of it.
    assert set(resources_for(p.manager).values_list("title", flat=True)) == {"公开楼书", "置业顾问价格表"}
    downloads = AuditEvent.objects.filter(action="listings.resource.downloaded", target_id=str(agents_only.pk))
    assert downloads.count() == 3  # only the allowed downloads, one event each


def test_users_without_a_role_see_nothing(p, login, add):
    from anju.testing import UserFactory

    resource = add("公开楼书")
    nobody = UserFactory(branch=p.branch_a)
    client = login(nobody)
    assert client.get(LIST_URL).status_code == 403
    assert client.get(reverse("listings:resource-download", args=[resource.pk])).status_code == 403
    assert not resources_for(nobody).exists()


def test_anonymous_is_sent_to_login(client, add):
    resource = add("公开楼书")
    for url in (LIST_URL, UPLOAD_URL, reverse("listings:resource-download", args=[resource.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_download_returns_the_bytes_with_the_original_chinese_filename_and_is_audited(p, login, add):
    resource = add("滨江壹号楼书", name="滨江壹号 楼书.pdf")
    client = login(p.agent)
    for expected in (1, 2):
        response = client.get(reverse("listings:resource-download", args=[resource.pk]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Type"] == "application/pdf"
        disposition = response["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert f"filename*=utf-8''{quote('滨江壹号 楼书.pdf')}" in disposition
        assert "no-store" in response["Cache-Control"]
        events = AuditEvent.objects.filter(action="listings.resource.downloaded")
        assert events.count() == expected  # every download, not only the first
    event = events.latest("seq")
    assert (event.actor, event.target_type, event.target_id) == (p.agent, "listings.resource", str(resource.pk))
    assert event.after["file"] == "滨江壹号 楼书.pdf"


def test_files_are_not_served_from_a_public_media_url(p, client, add):
    resource = add("楼书")
    assert client.get(f"/media/{resource.file.name}").status_code == 404


def test_list_groups_by_project_and_kind_and_filters(p, login, add, project, other_project):
    add("楼书 A", kind="brochure")
    add("户型图 A", kind="floor_plan", name="户型.png", content=PNG)
    add("西湖楼书", to=other_project, actor=p.admin)
    add("集团案例", to=None, kind="case_study")
    client = login(p.agent)
    response = client.get(LIST_URL)
    content = response.content.decode().split('id="resource-table"', 1)[1]
    assert titles_on_page(response) == {"楼书 A", "户型图 A", "西湖楼书", "集团案例"}
    assert content.count('data-testid="resource-group"') == 3  # company-wide, 滨江壹号, 西湖公馆
    assert content.index("集团案例") < content.index("滨江壹号") < content.index("西湖公馆")
    assert titles_on_page(client.get(LIST_URL, {"project": project.pk})) == {"楼书 A", "户型图 A"}
    assert titles_on_page(client.get(LIST_URL, {"project": "company"})) == {"集团案例"}
    assert titles_on_page(client.get(LIST_URL, {"kind": "floor_plan"})) == {"户型图 A"}
    assert titles_on_page(client.get(LIST_URL, {"q": "楼书"})) == {"楼书 A", "西湖楼书"}
    partial = client.get(LIST_URL, {"q": "案例"}, HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode() and "集团案例" in partial.content.decode()


def test_list_query_count_does_not_grow_with_the_number_of_resources(p, login, add):
    client = login(p.agent)
    client.get(LIST_URL)  # warm the session and permission caches

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(LIST_URL)
        assert response.status_code == 200
        return len(captured)

    add("资料 0", roles=["sales_agent"])
    few = queries_for_list()
    for number in range(1, 12):
        add(f"资料 {number}", roles=["sales_agent", "team_lead"] if number % 2 else ())
    assert queries_for_list() == few


# --- retire ---------------------------------------------------------------------------------------


def test_retiring_hides_the_resource_and_is_audited(p, login, add):
    resource = add("旧价格表", kind="price_sheet")
    client = login(p.manager)
    response = client.post(reverse("listings:resource-retire", args=[resource.pk]), {"reason": "价格已更新"})
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.is_active is False  # soft delete: the row and the file stay
    event = AuditEvent.objects.get(action="listings.resource.retired")
    assert event.reason == "价格已更新" and event.target_id == str(resource.pk)
    agent = login(p.agent)
    assert titles_on_page(agent.get(LIST_URL)) == set()
    assert agent.get(reverse("listings:resource-download", args=[resource.pk])).status_code == 404


def test_retire_needs_the_manage_permission_and_a_post(p, login, add):
    resource = add("楼书")
    assert login(p.agent).post(reverse("listings:resource-retire", args=[resource.pk])).status_code == 403
    assert login(p.manager).get(reverse("listings:resource-retire", args=[resource.pk])).status_code == 405
    resource.refresh_from_db()
    assert resource.is_active


def test_a_branch_manager_cannot_retire_another_branchs_project_resource(p, add, other_project):
    resource = add("西湖楼书", to=other_project, actor=p.admin)
    with pytest.raises(ApplicationError) as refused:
        resource_retire(actor=p.manager, resource=resource)
    assert refused.value.code == "resource.not_yours"
    resource.refresh_from_db()
    assert resource.is_active


def test_the_sidebar_links_the_library_for_viewers(p, login):
    content = login(p.cs).get(LIST_URL).content.decode()
    assert f'href="{LIST_URL}"' in content
