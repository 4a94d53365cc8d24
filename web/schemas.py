"""JSON shapes of API v1 (pydantic): they validate requests and document the API (see ``web/openapi.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from logistics.text import has_control_chars


class Strict(BaseModel):
    """Unknown fields are refused: a typo in a field name must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=1000)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and has_control_chars(value):
            raise ValueError("control characters are not allowed / không được chứa ký tự điều khiển")
        return value


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
    needs_address_review: bool = Field(description="The address did not resolve with confidence: held for a "
                                                   "dispatcher (state needs_review)")
    address_review: dict[str, Any] | None = Field(default=None, description="Candidates and reason, when held")


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


class ChecklistItem(BaseModel):
    """One document ticked by the courier against the procedure's checklist."""

    id: int = Field(description="ProcedureDocument id (documents[].id in GET /api/v1/reference/procedures)")
    form: Literal["original", "copy", "certified_copy"]
    quantity: int = Field(ge=1, le=100)


class IdentityCheck(BaseModel):
    """How the recipient proved who they are at delivery."""

    method: Literal["id_number", "representative"]
    last_digits: str | None = Field(default=None, description="4 số cuối CCCD / last 4 ID digits")
    representative_name: str | None = None
    representative_id_last4: str | None = None
    authorisation_ref: str | None = Field(default=None, description="Số giấy ủy quyền")


class ScanIn(BaseModel):
    """One scan from a courier's phone (replayable: the idempotency key makes a replay harmless)."""

    qr: str | None = Field(default=None, description="Nội dung mã QR (URL có chữ ký)")
    item_code: str | None = Field(default=None, description="Mã bưu gửi gõ tay (khi không quét được)")
    event: str = Field(description="collected, arrived_post_office, left_post_office, out_for_delivery, "
                                   "delivered, delivery_failed, ...")
    idempotency_key: str = Field(max_length=100, description="UUID from the device")
    device_time: str | None = Field(default=None, description="ISO 8601 with offset")
    lat: float | None = None
    lon: float | None = None
    note: str | None = None
    seal_number: str | None = None
    documents: list[ChecklistItem] | None = None
    id_number_last4: str | None = None
    delivery_code: str | None = None
    reason_code: str | None = None
    identity: IdentityCheck | None = None


class ScanBatchIn(BaseModel):
    """An offline phone's queue, replayed at once (at most 500 scans); each gets its own outcome."""

    scans: list[ScanIn]


class ScansIn(RootModel[ScanIn | ScanBatchIn]):
    """One scan, or a batch."""


class LooseObject(BaseModel):
    """A JSON object (see the operation's description for its fields)."""

    model_config = ConfigDict(extra="allow")


class HandoverIn(BaseModel):
    """Items handed to an agency desk together (one hand-over record)."""

    agency_code: str
    items: list[str] = Field(description="QR contents or item codes")


class AgencyDecisionIn(BaseModel):
    """An agency officer's decision on an item or dossier."""

    reason_code: str | None = None
    note: str | None = None
    missing_documents: list[str] | None = None
    record_id: int | None = None


class OrderBatchCreate(Strict):
    """Several pickup orders at once (at most 500): a system sending its day's dossiers, or retrying them."""

    orders: list[OrderCreate] = Field(min_length=1, max_length=500)


class OrderBatchItemOut(BaseModel):
    """The outcome of one order of a batch, in the place it was sent."""

    index: int
    status: Literal["created", "existing", "invalid"]
    order: OrderOut | None = None
    errors: dict[str, str] | None = Field(default=None, description="Each bad field, Vietnamese first")


class OrderBatchOut(BaseModel):
    """A batch's outcomes and counts; orders refused are not written, the others are."""

    created: int
    existing: int
    invalid: int
    results: list[OrderBatchItemOut]
