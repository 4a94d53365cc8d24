"""Every route × every kind of caller → allowed or denied, checked with real requests.

``MATRIX`` is the single written statement of who may call what. A route that is not in it fails the test,
so a new page or API operation cannot ship without someone deciding who may use it; a policy that
disagrees with the route's decorator fails too.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from logistics.accounts.models import Role
from logistics.accounts.tokens import SCOPES
from logistics.agencies.models import Agency, AgencyKind
from tests.factories import bearer, login, make_token, make_user
from tests.orders.helpers import valid_request

PUBLIC = "public"
STAFF_ALL = ("courier", "dispatcher", "agency_officer", "manager", "admin")
DISPATCH = ("dispatcher", "manager", "admin")
MANAGE = ("manager", "admin")
OFFICER = ("agency_officer",)

# endpoint -> "public" | ("staff", roles) | ("api", scope, roles)
MATRIX: dict[str, object] = {
    "public.home": PUBLIC, "public.track_search": PUBLIC, "public.track": PUBLIC, "public.track_verify": PUBLIC,
    "public.label": PUBLIC, "public.book": PUBLIC, "public.booked": PUBLIC, "citizen.result_address": PUBLIC,
    "auth.login": PUBLIC, "auth.logout": PUBLIC, "favicon": PUBLIC, "vendor.asset": PUBLIC,
    "courier.icon": PUBLIC, "courier.manifest": PUBLIC, "courier.service_worker": PUBLIC,
    "api_v1.communes": PUBLIC, "api_v1.procedures": PUBLIC, "api_v1.tracking": PUBLIC, "api_v1.healthz": PUBLIC,
    "api_docs.docs": PUBLIC, "api_docs.openapi_json": PUBLIC,
    "auth.staff_home": ("staff", STAFF_ALL),
    "courier.app_shell": ("staff", ("courier",)), "courier.assignments": ("staff", ("courier",)),
    "courier.item": ("staff", ("courier",)),
    "agency_desk.desk": ("staff", OFFICER), "agency_desk.dossier_action": ("staff", OFFICER),
    "agency_desk.record": ("staff", OFFICER), "agency_desk.record_pdf": ("staff", OFFICER),
    "agency_desk.decide": ("staff", OFFICER),
    **{f"dispatch.{e}": ("staff", DISPATCH) for e in (
        "index", "assign_page", "assign_all", "assign", "imports", "upload", "import_batch", "import_progress",
        "order_detail", "review", "confirm", "runs", "run_sheet")},
    **{f"manager.{e}": ("staff", MANAGE) for e in (
        "home", "export", "reference_home", "reference", "reference_export", "toggle_active", "set_rate")},
    **{f"ops.{e}": ("staff", MANAGE) for e in (
        "index", "discard_job", "retry_job", "discard_outbox", "retry_outbox", "pause_webhooks", "replay_webhooks")},
    "api_v1.create_order": ("api", "orders:write", DISPATCH),
    "api_v1.create_orders_batch": ("api", "orders:write", DISPATCH),
    "api_orders.read_order": ("api", "orders:read", ("dispatcher", "agency_officer", "manager", "admin")),
    "api_orders.cancel_order": ("api", "orders:write", DISPATCH),
    "api_orders.create_webhook": ("api", "webhooks:manage", MANAGE),
    "api_orders.list_webhooks": ("api", "webhooks:manage", MANAGE),
    "api_orders.list_orders": ("api", "orders:read", ("dispatcher", "agency_officer", "manager", "admin")),
    **{f"api_orders.label_{fmt}": ("api", "labels:read", ("dispatcher", "agency_officer", "manager", "admin"))
       for fmt in ("pdf", "png", "svg")},
    "api_orders.update_webhook": ("api", "webhooks:manage", MANAGE),
    "api_orders.delete_webhook": ("api", "webhooks:manage", MANAGE),
    "api_agency.handover_record_pdf": ("api", "agency:confirm", OFFICER),
    **{f"api_reference.{e}": ("api", "reference:read", STAFF_ALL) for e in (
        "procedures", "agencies", "admin_units", "post_offices")},
    "api_scans.scans": ("api", "scans:write", ("courier", "dispatcher")),
    "api_scans.create_handover": ("api", "scans:write", ("courier", "dispatcher")),
    "api_agency.handover_pdf": ("api", "scans:write", ("agency_officer", "courier", "dispatcher")),
    **{f"api_agency.{e}": ("api", "agency:confirm", OFFICER) for e in (
        "dossier", "refuse_outside_record", "result_ready", "supplement", "supplement_received", "handover",
        "confirm", "refuse")},
}

ACTORS = ("anonymous", *STAFF_ALL, *(f"token:{s}" for s in sorted(SCOPES)))


def _expected(policy: object, actor: str) -> bool:
    if policy == PUBLIC:
        return True
    assert isinstance(policy, tuple)
    if actor == "anonymous":
        return False
    if actor.startswith("token:"):
        return policy[0] == "api" and actor.removeprefix("token:") == policy[1]
    return actor in policy[-1]


def test_every_route_has_a_row_and_the_decorators_agree(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    missing = sorted(endpoints - MATRIX.keys())
    assert missing == [], f"routes without a row in the authorization matrix: {missing}"
    assert sorted(MATRIX.keys() - endpoints) == [], "rows for routes that no longer exist"
    for endpoint, policy in MATRIX.items():
        view = app.view_functions[endpoint]
        roles = {r.value for r in getattr(view, "allowed_roles", ())}
        if policy == PUBLIC:
            assert not roles, f"{endpoint} is decorated for {roles} but the matrix says public"
        else:
            assert roles == set(policy[-1]), f"{endpoint}: decorator {roles} vs matrix {policy[-1]}"
            if policy[0] == "api":
                assert view.api_scope == policy[1], endpoint


ARGS = {"code": None, "record_id": "999999", "batch_id": "999999", "courier_id": "999999", "row_id": "999999",
        "rate_id": "999999", "message_id": "999999", "subscription_id": "999999", "kind": "procedures",
        "fmt": "csv", "name": "orders", "queue": "labels", "job_id": "no-such-job", "day": "2026-11-26",
        "action": "confirm", "size": "192"}


def _path(rule: str, code: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[-1]
        if name == "name" and "<path:" in m.group(0):
            return "qr-scanner.min.js"
        return code if name == "code" else ARGS[name]
    return re.sub(r"<([^>]+)>", sub, rule)


def _denied(resp) -> bool:
    """Refused for who the caller is: not logged in / no token (401, log-in redirect) or wrong role/scope."""
    if resp.status_code == 401 or resp.headers.get("X-Denied-By") == "role":
        return True
    return resp.status_code == 302 and "/login" in resp.headers.get("Location", "")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_matrix_holds_for_every_route_and_caller(app, db):  # noqa: ARG001, C901, PLR0912 - one loop over the matrix
    from web.context import services

    headers: dict[str, dict[str, str]] = {}
    with app.app_context(), services().db.unit_of_work() as s:
        center = s.scalars(select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER)).first()
        for role in STAFF_ALL:
            make_user(s, Role(role), username=f"mx-{role}")
        for scope in sorted(SCOPES):
            headers[f"token:{scope}"] = bearer(make_token(s, [scope], agency_code=center.code))
    creator = app.test_client()
    code = creator.post("/api/v1/orders", json=_valid(app), headers=headers["token:orders:write"]).get_json()[
        "item_code"]

    checked = 0
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    for actor in ACTORS:
        client = app.test_client()
        extra: dict[str, str] = {}
        if actor in STAFF_ALL:
            assert login(client, f"mx-{actor}").status_code == 302
        elif actor.startswith("token:"):
            extra = headers[actor]
        token = _csrf(client)
        for rule in rules:
            path = _path(rule.rule, code)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.endpoint == "auth.logout":
                    continue  # would end the session the rest of the loop needs; covered in test_auth
                if method == "POST":
                    resp = client.post(path, data={"csrf_token": token}, headers=extra) if not path.startswith(
                        "/api/") else client.post(path, json={}, headers=extra)
                elif method in {"PATCH", "PUT", "DELETE"}:
                    resp = client.open(path, method=method, json={}, headers=extra)
                else:
                    resp = client.get(path, headers=extra)
                allowed = _expected(MATRIX[rule.endpoint], actor)
                assert resp.status_code < 500, f"{actor} {method} {path}: {resp.status_code}"
                if MATRIX[rule.endpoint] == PUBLIC:
                    # A public page may still answer 401/403 about its content (wrong password, bad label
                    # signature); what must never happen is a refusal for who the caller is.
                    assert resp.headers.get("X-Denied-By") != "role", f"{actor} {method} {path}"
                    assert "/login" not in resp.headers.get("Location", ""), f"{actor} {method} {path}"
                elif allowed:
                    assert not _denied(resp), f"{actor} should reach {method} {path}, got {resp.status_code}"
                else:
                    assert _denied(resp), f"{actor} must not reach {method} {path}, got {resp.status_code}"
                checked += 1
    print(f"authorization matrix: {len(rules)} routes x {len(ACTORS)} callers = {checked} requests checked")  # noqa: T201
    assert checked > 500


def _valid(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        return valid_request(s)


def _csrf(client) -> str:
    client.get("/")
    with client.session_transaction() as sess:
        if "csrf" not in sess:
            sess["csrf"] = "matrix-token"
        return sess["csrf"]


def test_an_officer_never_reaches_another_agencys_dossier(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        body = valid_request(s)  # a commune procedure: goes to Phường Tân Thành's desk (agency A)
        writer = bearer(make_token(s, ["orders:write"]))
    client = app.test_client()
    order = client.post("/api/v1/orders", json=body, headers=writer).get_json()
    agency_a = order["dossier"]["agency"]["code"]
    with app.app_context(), services().db.unit_of_work() as s:
        other = s.scalars(select(Agency.code).where(Agency.code != agency_a, Agency.active.is_(True))).first()
        make_user(s, Role.AGENCY_OFFICER, username="officer-a", agency_code=agency_a)
        make_user(s, Role.AGENCY_OFFICER, username="officer-b", agency_code=other)
        token_b = bearer(make_token(s, ["agency:confirm"], agency_code=other))
        token_a = bearer(make_token(s, ["agency:confirm"], agency_code=agency_a))
    path = f"/api/v1/agency/dossiers/{order['item_code']}"
    officer_b = app.test_client()
    login(officer_b, "officer-b")
    assert officer_b.get(path).status_code in (403, 404)
    assert app.test_client().get(path, headers=token_b).status_code in (403, 404)
    assert app.test_client().post(f"{path}/result-ready", json={}, headers=token_b).status_code in (403, 404)
    officer_a = app.test_client()
    login(officer_a, "officer-a")
    assert officer_a.get(path).status_code == 200
    assert app.test_client().get(path, headers=token_a).status_code == 200
