"""Vietnamese first, English second.

Messages are written in Vietnamese in the code and templates; ``EN`` gives their English. A missing
English entry falls back to the Vietnamese text (never to a blank), and a test checks every template
string has one. The language comes from ``?lang=``, then the ``lang`` cookie, then Accept-Language.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import g, request

LANGS = ("vi", "en")

EN: dict[str, str] = {
    "Bưu chính công ích – Hồ sơ hành chính": "Public postal service for administrative dossiers",
    "Tra cứu bưu gửi": "Track a shipment",
    "Mã bưu gửi (vd. RA123456785VN)": "Item code (e.g. RA123456785VN)",
    "Tra cứu": "Track",
    "Đặt lịch thu gom hồ sơ": "Book a dossier pickup",
    "Không cần đến cơ quan: bưu điện đến tận nhà nhận hồ sơ, nộp cho cơ quan giải quyết và chuyển kết quả về cho bạn.":
        "No queueing at the office: the post picks your dossier up at home, files it with the agency and "
        "brings the result back to you.",
    "Ví dụ một bưu gửi": "An example shipment",
    "Họ và tên người nộp": "Applicant's full name",
    "Số điện thoại": "Phone number",
    "Địa chỉ (số nhà, đường, ấp/khóm)": "Address (house number, street, hamlet)",
    "Xã/phường": "Commune/ward",
    "Chọn xã/phường": "Choose a commune/ward",
    "Thủ tục hành chính": "Administrative procedure",
    "Chọn thủ tục": "Choose a procedure",
    "Hình thức dịch vụ": "Service",
    "Chỉ gửi hồ sơ": "Send the dossier only",
    "Gửi hồ sơ và nhận kết quả tại nhà": "Send the dossier and receive the result at home",
    "Số phong bì": "Envelopes",
    "Ghi chú cho bưu tá": "Notes for the courier",
    "Đặt lịch": "Book",
    "Vui lòng sửa các lỗi bên dưới.": "Please correct the errors below.",
    "Đã đặt lịch thu gom": "Pickup booked",
    "Mã bưu gửi của bạn": "Your item code",
    "Bưu tá sẽ liên hệ qua số điện thoại bạn đã cung cấp.": "A courier will call the phone number you gave.",
    "In nhãn (PDF)": "Print label (PDF)",
    "Nhãn (PNG)": "Label (PNG)",
    "Theo dõi bưu gửi": "Follow the shipment",
    "Cơ quan tiếp nhận": "Receiving agency",
    "Bưu cục phục vụ": "Serving post office",
    "Cước dịch vụ": "Postage",
    "Hành trình bưu gửi": "Shipment journey",
    "Người gửi": "Sender",
    "Trạng thái hiện tại": "Current status",
    "Thời gian": "Time",
    "Sự kiện": "Event",
    "Địa điểm": "Place",
    "Không tìm thấy bưu gửi": "Shipment not found",
    "Mã hợp lệ nhưng chưa có bưu gửi nào mang mã này. Vui lòng kiểm tra lại mã trên nhãn hoặc biên nhận.":
        "The code is valid but no shipment carries it. Please check the code on the label or receipt.",
    "Mã bưu gửi không hợp lệ": "Invalid item code",
    "Nhãn không hợp lệ": "Invalid label",
    "Chữ ký trên mã QR không khớp: nhãn có thể bị làm giả hoặc in sai. Hãy nhập mã bưu gửi bằng tay hoặc liên hệ bưu cục.":  # noqa: E501 - the key is the message
        "The QR signature does not match: the label may be forged or misprinted. Type the item code or "
        "contact the post office.",
    "Trang chủ": "Home",
    "Trang không tồn tại": "Page not found",
    "Đã xảy ra lỗi": "Something went wrong",
    "Yêu cầu không hợp lệ": "Bad request",
    "Phiên làm việc đã hết hạn, vui lòng gửi lại biểu mẫu.": "Your session expired; please submit the form again.",
    "Thông tin cá nhân được ẩn để bảo vệ người dân.": "Personal details are hidden to protect the citizen.",
    "Đăng ký": "Booked",
    "Phân công bưu tá": "Courier assigned",
    "Đã nhận hồ sơ từ người dân": "Collected from the citizen",
    "Đến bưu cục": "Arrived at post office",
    "Rời bưu cục": "Left post office",
    "Đang chuyển phát": "Out for delivery",
    "Đã bàn giao cho cơ quan": "Handed to the agency",
    "Cơ quan xác nhận đã nhận": "Receipt confirmed by the agency",
    "Cơ quan từ chối hồ sơ": "Refused by the agency",
    "Yêu cầu bổ sung hồ sơ": "Supplement requested",
    "Có kết quả": "Result ready",
    "Phát không thành công": "Delivery attempt failed",
    "Đã phát thành công": "Delivered",
    "Đã hoàn trả": "Returned",
    "Đã hủy": "Cancelled",
    "Thất lạc": "Lost",
    "Đã tạo": "Created",
    "Cần kiểm tra địa chỉ": "Address under review",
    "Đã phân công": "Assigned",
    "Đã nhận hồ sơ": "Collected",
    "Tại bưu cục": "At the post office",
    "Cơ quan đã tiếp nhận": "Accepted by the agency",
    "Chiều gửi hồ sơ": "Dossier leg",
    "Chiều trả kết quả": "Result leg",
    "Không có dữ liệu": "No data",
    "đồng": "VND",
    "Đăng nhập": "Log in",
    "Đăng nhập cho cán bộ": "Staff log-in",
    "Tên đăng nhập": "Username",
    "Mật khẩu": "Password",
    "Xin chào": "Hello",
    "Vai trò": "Role",
    "Đăng xuất": "Log out",
    "Cần đăng nhập": "Log-in required",
    "Không có quyền truy cập": "Access denied",
    "Bưu tá": "Courier",
    "Điều phối bưu cục": "Post-office dispatcher",
    "Cán bộ một cửa": "One-stop desk officer",
    "Quản lý": "Manager",
    "Quản trị": "Administrator",
}


def current_lang() -> str:
    """The language of this request."""
    lang: str | None = getattr(g, "lang", None)
    if lang is None:
        lang = request.args.get("lang") or request.cookies.get("lang")
        if lang not in LANGS:
            lang = request.accept_languages.best_match(LANGS, default="vi")
        g.lang = lang
    return lang or "vi"


def gettext(message: str) -> str:
    """The message in the request's language."""
    if current_lang() == "en":
        return EN.get(message, message)
    return message


def format_vnd(amount: int) -> str:
    """Money the Vietnamese way: 26.000 đ (dot thousands separator, no decimals)."""
    return f"{amount:,}".replace(",", ".") + " đ"


def format_date(value: date | datetime, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """dd/mm/yyyy, or dd/mm/yyyy HH:MM for times (in the service's time zone)."""
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")
