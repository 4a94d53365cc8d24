from sqlalchemy import select

from logistics.accounts.models import Role, User
from tests.factories import TEST_PASSWORD, csrf_token, login, make_user


def _user(app, role, **kw):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return make_user(s, role, **kw).username


def test_staff_log_in_and_land_on_their_page(client, app):
    name = _user(app, Role.DISPATCHER)
    resp = login(client, name)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/staff"
    page = client.get("/staff").get_data(as_text=True)
    assert "Điều phối bưu cục" in page


def test_anonymous_staff_page_redirects_to_login(client):
    resp = client.get("/staff")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=/staff")


def test_wrong_password_is_refused_without_saying_which_part(client, app):
    name = _user(app, Role.MANAGER)
    wrong = login(client, name, "sai-mat-khau-roi")
    unknown = login(client, "khong-ton-tai", "sai-mat-khau-roi")
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert "Sai tên đăng nhập hoặc mật khẩu" in unknown.get_data(as_text=True)


def test_five_failures_lock_the_account_even_with_the_right_password(client, app):
    name = _user(app, Role.MANAGER)
    for _ in range(5):
        assert login(client, name, "sai-mat-khau-roi").status_code == 401
    locked = login(client, name, TEST_PASSWORD)
    assert locked.status_code == 401
    assert "tạm khóa" in locked.get_data(as_text=True)
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        assert s.scalars(select(User).where(User.username == name)).one().locked_until is not None


def test_login_without_csrf_token_is_refused(client, app):
    name = _user(app, Role.MANAGER)
    resp = client.post("/login", data={"username": name, "password": TEST_PASSWORD})
    assert resp.status_code == 400


def test_next_cannot_send_staff_to_another_site(client, app):
    name = _user(app, Role.MANAGER)
    token = csrf_token(client)
    resp = client.post("/login", data={"username": name, "password": TEST_PASSWORD, "csrf_token": token,
                                       "next": "https://evil.example/phish"})
    assert resp.headers["Location"] == "/staff"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/staff")})
    token = csrf_token(client)
    resp = client.post("/login", data={"username": name, "password": TEST_PASSWORD, "csrf_token": token,
                                       "next": "//evil.example"})
    assert resp.headers["Location"] == "/staff"


def test_logout_ends_the_session(client, app):
    login(client, _user(app, Role.ADMIN))
    assert client.get("/staff").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/staff")})
    assert client.get("/staff").status_code == 302


def test_password_change_ends_existing_sessions(client, app):
    name = _user(app, Role.ADMIN)
    login(client, name)
    from werkzeug.security import generate_password_hash

    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == name)).one()
        user.password_hash = generate_password_hash("mat-khau-moi-hoan-toan", method="scrypt")
    assert client.get("/staff").status_code == 302
