from sqlalchemy import select

from logistics.accounts.models import AuditEntry, Role
from tests.factories import bearer, csrf_token, login, make_token, make_user
from tests.orders.helpers import valid_request


def _entries(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return [(e.actor_name, e.role, e.action, e.method, e.status, e.token_prefix)
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_system_actions_are_audited_with_the_token(client, app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        secret = make_token(s, ["orders:write"])
        body = valid_request(s)
    assert client.post("/api/v1/orders", json=body, headers=bearer(secret)).status_code == 201
    assert client.post("/api/v1/orders", json={"x": 1}, headers=bearer(secret)).status_code == 422
    entries = _entries(app)
    prefix = secret.split("_")[1]
    assert ("test system", "system", "api_v1.create_order", "POST", 201, prefix) in entries
    assert ("test system", "system", "api_v1.create_order", "POST", 422, prefix) in entries


def test_staff_actions_are_audited_and_citizens_are_not(client, app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        name = make_user(s, Role.MANAGER, full_name="Trần Minh Quang").username
    client.get("/api/v1/procedures")
    login(client, name)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/staff")})
    entries = _entries(app)
    assert [e[:4] for e in entries] == [("Trần Minh Quang", "manager", "auth.logout", "POST")]


def test_anonymous_requests_leave_no_audit_rows(client, app):
    client.post("/api/v1/orders", json={})
    assert _entries(app) == []
