"""What citizens are told, in Vietnamese with diacritics, for each event they care about.

SMS texts stay short (Vietnamese with diacritics is sent as UCS-2: 70 characters a segment); e-mails carry a
subject and a little more detail. Nothing here touches the database: the job builds a ``MessageContext``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from logistics.calendar import is_working_day, next_working_day

MORNING: Final = ("07:30", "11:30")
AFTERNOON: Final = ("13:30", "17:00")
# A booking made before this local time on a working day is collected the same afternoon.
SAME_DAY_BEFORE: Final = time(11, 0)


@dataclass(frozen=True)
class MessageContext:
    """Everything a template may say about one item (built by the notification job)."""

    item_code: str
    applicant_name: str
    leg: str  # "pickup" or "result"
    procedure_name: str
    agency_name: str
    occurred_at: datetime
    tz: str = "Asia/Ho_Chi_Minh"
    appointment_date: date | None = None
    pickup_window: str | None = None
    delivery_code: str | None = None
    reason_text: str | None = None
    tracking_url: str | None = None
    attempt: int | None = None
    due_date: date | None = None


def ddmmyyyy(value: date) -> str:
    """A date the Vietnamese way."""
    return value.strftime("%d/%m/%Y")


def pickup_window(booked_at: datetime, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """When the courier will come, following the post's published collection rounds.

    The same afternoon for a morning booking on a working day, else the next working day's morning.
    """
    local = booked_at.astimezone(ZoneInfo(tz))
    day = local.date()
    if is_working_day(day) and local.time() < SAME_DAY_BEFORE:
        return f"{AFTERNOON[0]}–{AFTERNOON[1]} ngày {ddmmyyyy(day)}"
    return f"{MORNING[0]}–{MORNING[1]} ngày {ddmmyyyy(next_working_day(day))}"


# Which template an event of a leg gets (event kinds are compared by value: this package must not import
# tracking). Events a citizen does not care about (sorting scans, courier assignment) have none.
_EVENT_TEMPLATES: Final[dict[tuple[str, str], str]] = {
    ("created", "pickup"): "booked",
    ("collected", "pickup"): "collected",
    ("handed_to_agency", "pickup"): "handed_to_agency",
    ("receipt_confirmed", "pickup"): "receipt_confirmed",
    ("supplement_requested", "pickup"): "supplement_requested",
    ("refused", "pickup"): "refused",
    ("returned", "pickup"): "returned_to_citizen",
    ("collected", "result"): "result_collected",
    ("out_for_delivery", "result"): "out_for_delivery",
    ("delivered", "result"): "delivered",
    ("delivery_failed", "result"): "delivery_failed",
    ("returned", "result"): "returned_to_agency",
}

# Subject (e-mail) and text. ``{…}`` fields come from the context; see ``render``.
_TEXTS: Final[dict[str, tuple[str, str]]] = {
    "booked": (
        "Đã đặt lịch thu gom hồ sơ {item_code}",
        ("Bưu điện: đã đặt lịch thu gom hồ sơ {item_code} ({procedure}). Bưu tá sẽ đến trong khung giờ "
         "{pickup_window}."),
    ),
    "collected": (
        "Bưu điện đã nhận hồ sơ {item_code}",
        "Bưu điện đã nhận hồ sơ {item_code} của {name} lúc {when} và sẽ nộp cho {agency}.",
    ),
    "handed_to_agency": (
        "Hồ sơ {item_code} đã nộp cho cơ quan",
        "Hồ sơ {item_code} đã được nộp cho {agency} lúc {when}. {appointment}",
    ),
    "receipt_confirmed": (
        "Cơ quan đã tiếp nhận hồ sơ {item_code}",
        "{agency} đã tiếp nhận hồ sơ {item_code}. {appointment}",
    ),
    "supplement_requested": (
        "Hồ sơ {item_code} cần bổ sung",
        "{agency} yêu cầu bổ sung hồ sơ {item_code}{reason}. Vui lòng liên hệ bưu điện hoặc cơ quan để bổ sung.",
    ),
    "refused": (
        "Hồ sơ {item_code} bị từ chối",
        "{agency} từ chối hồ sơ {item_code}{reason}. Bưu điện sẽ hoàn trả hồ sơ cho bạn.",
    ),
    "returned_to_citizen": (
        "Hồ sơ {item_code} đã hoàn trả",
        "Hồ sơ {item_code} đã được hoàn trả cho bạn lúc {when}.",
    ),
    "result_collected": (
        "Bưu điện đã nhận kết quả {item_code}",
        "Bưu điện đã nhận kết quả hồ sơ {item_code} từ {agency} và sẽ chuyển đến bạn.",
    ),
    "out_for_delivery": (
        "Kết quả {item_code} đang được giao",
        ("Kết quả hồ sơ {item_code} đang được giao đến bạn hôm nay. Mã nhận: {code}. Chỉ đọc mã này cho bưu tá "
         "khi nhận kết quả; mang theo CCCD."),
    ),
    "delivered": (
        "Đã giao kết quả {item_code}",
        "Kết quả hồ sơ {item_code} đã được giao lúc {when}. Cảm ơn bạn đã dùng dịch vụ bưu chính công ích.",
    ),
    "delivery_failed": (
        "Chưa giao được kết quả {item_code}",
        "Bưu tá chưa giao được kết quả hồ sơ {item_code}{reason}. Bưu điện sẽ mời bạn nhận lại.",
    ),
    "returned_to_agency": (
        "Kết quả {item_code} đã hoàn về cơ quan",
        "Không giao được kết quả hồ sơ {item_code} sau nhiều lần mời; kết quả đã hoàn về {agency}.",
    ),
    "reinvitation": (
        "Mời nhận kết quả {item_code} (lần {attempt})",
        ("Bưu điện mời bạn nhận kết quả hồ sơ {item_code} (lần {attempt}). Bưu tá sẽ giao lại trong ngày làm "
         "việc {due}; gọi bưu điện nếu cần đổi giờ."),
    ),
    "return_notice": (
        "Kết quả {item_code} sẽ hoàn về cơ quan",
        "Sau các lần mời không thành công, kết quả hồ sơ {item_code} sẽ được hoàn về {agency}.",
    ),
    "deadline_at_risk": (
        "Bưu gửi {item_code} sắp quá hạn",
        "Bưu gửi {item_code} ({agency}) phải hoàn thành trước {due}: sắp quá hạn.",
    ),
    "deadline_late": (
        "Bưu gửi {item_code} đã quá hạn",
        "Bưu gửi {item_code} ({agency}) đã quá hạn {due}.",
    ),
}

TEMPLATES: Final = tuple(_TEXTS)


def template_for(event_kind: str, leg: str) -> str | None:
    """The citizen template of an event on a leg, or None when the citizen is not told about it."""
    return _EVENT_TEMPLATES.get((str(event_kind), str(leg)))


def render(template: str, ctx: MessageContext) -> tuple[str, str]:
    """(subject, text) of ``template`` for ``ctx``; the tracking link is appended when there is one."""
    subject, text = _TEXTS[template]
    when = ctx.occurred_at.astimezone(ZoneInfo(ctx.tz)).strftime("%H:%M %d/%m/%Y")
    if ctx.appointment_date is not None:
        appointment = f"Ngày hẹn trả kết quả: {ddmmyyyy(ctx.appointment_date)}."
    else:
        appointment = "Cơ quan sẽ báo ngày hẹn trả kết quả."
    fields = {
        "item_code": ctx.item_code,
        "name": ctx.applicant_name,
        "procedure": _short(ctx.procedure_name, 60),
        "agency": ctx.agency_name,
        "when": when,
        "appointment": appointment,
        "pickup_window": ctx.pickup_window or pickup_window(ctx.occurred_at, ctx.tz),
        "code": ctx.delivery_code or "(bưu tá sẽ hướng dẫn)",
        "reason": f" ({ctx.reason_text})" if ctx.reason_text else "",
        "attempt": str(ctx.attempt or 1),
        "due": ddmmyyyy(ctx.due_date) if ctx.due_date else "sớm nhất",
    }
    body = text.format(**fields)
    if ctx.tracking_url:
        body += f" Theo dõi: {ctx.tracking_url}"
    return subject.format(**fields), body


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

