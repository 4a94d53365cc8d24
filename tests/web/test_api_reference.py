"""Reference data for systems (``reference:read``): procedures, agencies, administrative units, post offices."""

from logistics.accounts.models import Role
from tests.factories import bearer, login, make_token, make_user
from web.context import services


def _reader(app, scopes=("reference:read",)):
    with app.app_context(), services().db.unit_of_work() as s:
        return bearer(make_token(s, list(scopes)))


def test_procedures_carry_checklist_ids_and_filter(app, client):
    auth = _reader(app)
    procs = client.get("/api/v1/reference/procedures", headers=auth).get_json()
    assert len(procs) >= 80
    assert all(isinstance(d["id"], int) for p in procs for d in p["documents"])
    in_person = [p for p in procs if not p["by_post"]]
    assert in_person and all(p["in_person_reason"] for p in in_person)
    by_post = client.get("/api/v1/reference/procedures", query_string={"by_post": "true", "level": "commune"},
                         headers=auth).get_json()
    assert by_post and all(p["by_post"] and p["level"] == "commune" for p in by_post)


def test_agencies_post_offices_and_units(app, client):
    auth = _reader(app)
    agencies = client.get("/api/v1/reference/agencies", headers=auth).get_json()
    kinds = {a["kind"] for a in agencies}
    assert {"province_center", "commune_desk"} <= kinds
    assert all(a["commune"]["code"] for a in agencies)
    active = client.get("/api/v1/reference/agencies", query_string={"active": "true"}, headers=auth).get_json()
    assert all(a["active"] for a in active) and len(active) <= len(agencies)
    offices = client.get("/api/v1/reference/post-offices", headers=auth).get_json()
    assert offices and all(o["service_area"] for o in offices if o["active"])
    communes = client.get("/api/v1/reference/admin-units", query_string={"level": "commune"}, headers=auth).get_json()
    assert len(communes) == 64 and all(u["scheme"] == "2025" and u["successors"] is None for u in communes)
    legacy = client.get("/api/v1/reference/admin-units", query_string={"scheme": "legacy", "level": "commune"},
                        headers=auth).get_json()
    assert legacy and all(u["successors"] for u in legacy)
    new_codes = {u["code"] for u in communes}
    assert all(s["code"] in new_codes for u in legacy for s in u["successors"])
    assert all(sum(s["main"] for s in u["successors"]) == 1 for u in legacy)


def test_reference_needs_its_scope_or_a_staff_session(app, client):
    assert client.get("/api/v1/reference/agencies").status_code == 401
    denied = client.get("/api/v1/reference/agencies", headers=_reader(app, ("orders:read",)))
    assert denied.status_code == 403 and denied.get_json()["required_scope"] == "reference:read"
    with app.app_context(), services().db.unit_of_work() as s:
        name = make_user(s, Role.COURIER).username
    login(client, name)
    assert client.get("/api/v1/reference/post-offices").status_code == 200


def test_bad_filters_are_422_naming_the_parameter(app, client):
    auth = _reader(app)
    for path, params, field in (("procedures", {"level": "galaxy"}, "level"),
                                ("admin-units", {"scheme": "1975"}, "scheme"),
                                ("agencies", {"kind": "x"}, "kind"),
                                ("agencies", {"nonsense": "1"}, "nonsense")):
        resp = client.get(f"/api/v1/reference/{path}", query_string=params, headers=auth)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], (path, resp.get_json())
