"""The citizen's page: the two-leg timeline with places and times, personal details after proof, rate limits."""

import re

from sqlalchemy import select

from config.ratelimit import DatabaseRateLimiter, Limit, RedisRateLimiter
from tests.tracking.tracking_helpers import book, result_out_for_delivery, scan
from web.context import services


def _dossier_with_two_legs(app):
    with app.app_context():
        svc = services()
        with svc.db.unit_of_work() as s:
            order = book(s, phone="0912 345 678")
            result, _code = result_out_for_delivery(s, order)
            assert scan(s, result, "delivery_failed", reason_code="absent").ok
            return order.item_code, result.item_code, svc.signer.sign(order.item_code)


def test_the_page_shows_both_legs_with_places_and_times_but_no_personal_data(app, client):
    pickup, result, _sig = _dossier_with_two_legs(app)
    html = client.get(f"/t/{result}").get_data(as_text=True)
    assert "Chiều gửi hồ sơ" in html and "Chiều trả kết quả" in html
    assert pickup in html and result in html
    assert "Đến bưu cục" in html and "Cơ quan xác nhận đã nhận" in html and "Phát không thành công" in html
    assert "(Người nhận vắng nhà)" in html  # the failure reason from the fixed list
    assert re.search(r"<time>\d\d/\d\d/\d{4} \d\d:\d\d</time>", html)  # dd/mm/yyyy HH:MM
    assert "GPS 9.1769, 105.1524" in html  # where the courier scanned
    assert 'id="portal-status">9 · Đã xử lý xong' in html
    assert "0912345678" not in html and "Lưu Tấn Tài" not in html and 'id="personal"' not in html


def test_the_last_four_phone_digits_unlock_the_personal_details(app, client):
    pickup, _result, sig = _dossier_with_two_legs(app)
    page = client.get(f"/t/{pickup}?s={sig}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    wrong = client.post(f"/t/{pickup}/verify", data={"csrf_token": token, "phone_last4": "0000", "s": sig})
    assert wrong.status_code == 403 and 'id="verify-error"' in wrong.get_data(as_text=True)
    assert 'id="personal"' not in wrong.get_data(as_text=True)
    ok = client.post(f"/t/{pickup}/verify", data={"csrf_token": token, "phone_last4": "5678", "s": sig})
    assert ok.status_code == 302
    html = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert 'id="personal"' in html and "0912345678" in html and "Số 3 Lưu Tấn Tài" in html
    assert "Nguyễn Thị Hồng Nhung" in html
    assert re.search(r"\d{3}\.\d\d\.\d\d\.\w+-\d{6}-\d{4}", html)  # the agency's dossier code
    other = app.test_client()
    assert 'id="personal"' not in other.get(f"/t/{pickup}").get_data(as_text=True)  # per browser session


def test_verification_attempts_are_limited_per_item(app, client):
    pickup, _result, sig = _dossier_with_two_legs(app)
    page = client.get(f"/t/{pickup}?s={sig}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    statuses = [client.post(f"/t/{pickup}/verify", data={"csrf_token": token, "phone_last4": f"{n:04d}"}).status_code
                for n in range(6)]
    assert statuses == [403] * 5 + [429]
    blocked = client.post(f"/t/{pickup}/verify", data={"csrf_token": token, "phone_last4": "5678"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0  # even the right answer


def test_typed_lookups_are_rate_limited_but_signed_qr_scans_are_not(app, client):
    pickup, _result, sig = _dossier_with_two_legs(app)
    for _ in range(30):
        assert client.get("/t/RA000000005VN").status_code == 404
    limited = client.get(f"/t/{pickup}")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 600 and limited.headers["RateLimit-Remaining"] == "0"
    assert "Quá nhiều yêu cầu" in limited.get_data(as_text=True)
    assert client.get(f"/t/{pickup}?s={sig}").status_code == 200
    other_ip = client.get(f"/t/{pickup}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other_ip.status_code == 200


def test_database_limiter_counts_across_connections_and_resets_with_the_window(db):
    from config.db import Database
    from config.ratelimit import RateLimitCounter
    from tests.conftest import clean_transactional

    other = Database(db.url)
    try:
        limit = Limit("t-db", 3, 60)
        first, second = DatabaseRateLimiter(db), DatabaseRateLimiter(other)
        decisions = [lim.hit(limit, "1.2.3.4", now=1000.0) for lim in (first, second, first, second)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[3].retry_after_s == 20 and decisions[3].headers()["Retry-After"] == "20"
        assert first.hit(limit, "5.6.7.8", now=1000.0).allowed  # another key
        assert second.hit(limit, "1.2.3.4", now=1021.0).allowed  # next window
        with db.unit_of_work() as s:
            keys = s.scalars(select(RateLimitCounter.key)).all()
        assert all(len(k) == 64 and "1.2.3.4" not in k for k in keys)  # hashed
    finally:
        other.dispose()
        clean_transactional(db)


def test_redis_limiter_counts_across_clients_and_expires(redis_conn, redis_url):
    limit = Limit("t-redis", 2, 30)
    a, b = RedisRateLimiter.from_url(redis_url), RedisRateLimiter.from_url(redis_url)
    assert [lim.hit(limit, "k", now=90.0).allowed for lim in (a, b, a)] == [True, True, False]
    assert a.hit(limit, "k", now=119.0).retry_after_s == 1
    assert b.hit(limit, "k", now=120.0).allowed
    ttls = [redis_conn.ttl(k) for k in redis_conn.keys("dossierpost:rl:*")]
    assert ttls and all(0 < t <= 31 for t in ttls)

