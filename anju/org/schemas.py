from __future__ import annotations

import datetime as dt

from ninja import Field, Schema


class TokenIn(Schema):
    username: str = Field(..., min_length=1, max_length=150)
    password: str = Field(..., min_length=1, max_length=256)
    name: str = Field("API", max_length=60, description="A label to recognise the token on the tokens page")
    otp: str = Field(
        "",
        max_length=20,
        description="For users whose role requires two-factor sign-in: the authenticator code or a recovery code",
    )


class TokenOut(Schema):
    token: str = Field(..., description="Shown once; send as `Authorization: Bearer <token>`")
    name: str
    expires_at: dt.datetime


class TokenInfo(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class Ref(Schema):
    id: int
    name: str


class BranchOut(Schema):
    id: int
    name: str
    code: str
    kind: str
    kind_label: str = Field(..., alias="get_kind_display")
    parent_id: int | None
    address: str
    is_active: bool


class TeamOut(Schema):
    id: int
    name: str
    branch: Ref
    lead: Ref | None = None
    is_active: bool

    @staticmethod
    def resolve_lead(obj):
        return {"id": obj.lead.pk, "name": str(obj.lead)} if obj.lead_id else None


class UserOut(Schema):
    id: int
    username: str
    employee_no: str | None
    display_name: str
    phone: str = Field(..., alias="phone_masked", description="Masked; full numbers are never returned here")
    email: str
    position: str
    branch: Ref | None = None
    team: Ref | None = None
    status: str
    hire_date: dt.date | None
    roles: list[str]

    @staticmethod
    def resolve_roles(obj):
        return sorted(role.code for role in obj.roles.all())


class MeOut(UserOut):
    data_scope: str | None
    permissions: list[str]
