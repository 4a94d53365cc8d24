"""JSON shapes of API v1 (pydantic): they validate requests and document the API (see ``web/openapi.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Strict(BaseModel):
    """Unknown fields are refused: a typo in a field name must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=1000)


class OrderCreate(Strict):
    """A pickup order booked by a system on the citizen's behalf."""

    applicant_name: str = Field(min_length=1, max_length=200, description="Họ tên người nộp hồ sơ")
    phone: str = Field(min_length=1, max_length=30, description="Số điện thoại Việt Nam, vd. 0912 345 678")
    address: str = Field(min_length=1, max_length=400, description="Số nhà, đường, ấp/khóm")
    commune_code: str | None = Field(default=None, max_length=10,
                                     description="Mã xã/phường (GSO), cấu trúc 2025 hoặc trước 1/7/2025")
    procedure_code: str = Field(min_length=1, max_length=40, description="Mã thủ tục trong danh mục")
    service_form: Literal["send_only", "both"] = Field(default="send_only")
    envelopes: int = Field(default=1, ge=1, le=20)
    notes: str | None = Field(default=None, max_length=1000)
    external_ref: str | None = Field(default=None, max_length=100,
                                     description="Mã của hệ thống gửi; gửi lại cùng mã trả về đơn đã tạo")
    reduction_code: str | None = Field(default=None, max_length=40, description="Nhóm miễn/giảm cước")


class AgencyOut(BaseModel):
    """An agency's one-stop desk."""

    code: str
    name: str
    address: str


class CommuneOut(BaseModel):
    """An administrative unit as returned inside orders."""

    code: str
    name: str


class PostOfficeOut(BaseModel):
    """A post office."""

    code: str
    name: str


class DossierOut(BaseModel):
    """The dossier an order belongs to."""

    procedure_code: str
    procedure_name: str
    service_form: str
    envelopes: int
    external_ref: str | None
    agency: AgencyOut
    commune: CommuneOut
    routing: dict[str, Any]


class LabelsOut(BaseModel):
    """Signed label URLs."""

    pdf: str
    png: str
    svg: str


class OrderOut(BaseModel):
    """An order (one leg) as its creating system sees it."""

    item_code: str
    leg: str
    state: str
    created_at: str
    postage_vnd: int
    tracking_url: str
    labels: LabelsOut
    dossier: DossierOut
    post_office: PostOfficeOut | None


class PublicEventOut(BaseModel):
    """One line of the public timeline."""

    kind: str
    text: str
    upu_code: str | None
    time: str
    place: str | None


class PublicLegOut(BaseModel):
    """One leg of the public timeline."""

    item_code: str
    leg: str
    state: str
    state_text: str
    events: list[PublicEventOut]


class PublicTrackingOut(BaseModel):
    """The public view of a dossier's journey (no personal data)."""

    item_code: str
    applicant: str
    procedure: str
    agency: str
    legs: list[PublicLegOut]


class DocumentOut(BaseModel):
    """One line of a procedure's checklist."""

    name: str
    form: str
    quantity: int


class ProcedureOut(BaseModel):
    """A procedure of the catalogue."""

    code: str
    name: str
    field: str
    level: str
    by_post: bool
    processing_days: int
    gov_fee_vnd: int
    documents: list[DocumentOut]


class ProcedureList(RootModel[list[ProcedureOut]]):
    """The procedure catalogue."""


class CommuneRef(BaseModel):
    """A 2025 commune/ward."""

    code: str
    name: str
    lat: float | None
    lon: float | None


class CommuneList(RootModel[list[CommuneRef]]):
    """The 2025 communes/wards."""


class HealthOut(BaseModel):
    """Health of the database and the queue."""

    status: str
    database: dict[str, Any]
    queue: dict[str, Any]
