"""Webhook subscriptions over API v1: change, pause and resume (PATCH), delete (DELETE), agency-bound."""

from sqlalchemy import select

from config.queue import OutboxMessage
from logistics.accounts.models import Role
from logistics.agencies.models import Agency
from logistics.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from logistics.webhooks.services import create_deliveries, has_subscribers
from tests.factories import bearer, login, make_token, make_user
from web.context import services

DELIVER = "workers.jobs.webhooks.deliver_webhook"


def _setup(app):
    """A subscription made through the API by an agency's token, and another agency's token."""
    with app.app_context(), services().db.unit_of_work() as s:
        agency, other = s.scalars(select(Agency).order_by(Agency.id).limit(2)).all()
        ids = {"agency_id": agency.id}
        mine = bearer(make_token(s, ["webhooks:manage"], agency_code=agency.code))
        theirs = bearer(make_token(s, ["webhooks:manage"], agency_code=other.code))
    client = app.test_client()
    resp = client.post("/api/v1/webhooks", headers=mine, json={"name": "iGate", "url": "https://igate.example/h"})
    assert resp.status_code == 201
    return client, resp.get_json()["id"], mine, theirs, ids


def _deliveries_waiting(app, sub_id, agency_id, n=2):
    """Deliveries recorded for ``sub_id`` (as the publish job would) while it does not send."""
    with app.app_context(), services().db.unit_of_work() as s:
        for event_id in range(1, n + 1):
            create_deliveries(s, event_id=event_id, event_kind="collected", order_id=None, agency_id=agency_id,
                              payload={"id": str(event_id)})
        return [d.id for d in s.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id))]


def _deliver_jobs(app):
    with app.app_context(), services().db.unit_of_work() as s:
        messages = s.scalars(select(OutboxMessage).where(OutboxMessage.job == DELIVER))
        return sorted(m.args["delivery_id"] for m in messages)


def test_pause_keeps_events_and_resume_sends_what_was_missed(app):
    client, sub_id, mine, _theirs, ids = _setup(app)
    paused = client.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": True}, headers=mine)
    assert paused.status_code == 200 and paused.get_json()["paused"] is True
    with app.app_context(), services().db.unit_of_work() as s:
        sub = s.get(WebhookSubscription, sub_id)
        assert sub.paused_at is not None and "API" in sub.pause_reason
        assert has_subscribers(s, ids["agency_id"])  # a paused subscription still collects its events
    waiting = _deliveries_waiting(app, sub_id, ids["agency_id"])
    assert len(waiting) == 2
    assert _deliver_jobs(app) == []
    resumed = client.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": False}, headers=mine)
    assert resumed.status_code == 200 and resumed.get_json()["paused"] is False
    assert _deliver_jobs(app) == sorted(waiting)  # handed to the workers, oldest first
    again = client.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": False}, headers=mine)
    assert again.status_code == 200 and _deliver_jobs(app) == sorted(waiting)  # resuming a live one: no-op


def test_change_url_name_and_event_kinds(app):
    client, sub_id, mine, _theirs, _ids = _setup(app)
    resp = client.patch(f"/api/v1/webhooks/{sub_id}", headers=mine, json={
        "url": "https://igate2.example/hooks", "name": "iGate mới", "event_kinds": ["delivered", "collected"]})
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["url"], body["name"], body["event_kinds"]) == (
        "https://igate2.example/hooks", "iGate mới", ["collected", "delivered"])
    assert body["secret"] is None  # the secret is only shown when the subscription is created


def test_bad_changes_are_422_naming_the_field(app):
    client, sub_id, mine, _theirs, _ids = _setup(app)
    cases = {"url": {"url": "ftp://igate.example/h"}, "event_kinds": {"event_kinds": ["exploded"]},
             "active": {"active": False}, "paused": {"paused": "perhaps"}, "body": {}}
    for field, body in cases.items():
        resp = client.patch(f"/api/v1/webhooks/{sub_id}", json=body, headers=mine)
        assert resp.status_code == 422, (field, resp.get_json())
        assert resp.mimetype == "application/problem+json"
        assert field in resp.get_json()["errors"], (field, resp.get_json())
    assert client.patch(f"/api/v1/webhooks/{sub_id}", data="paused", headers=mine).status_code == 415


def test_delete_stops_everything_and_hides_the_subscription(app):
    client, sub_id, mine, _theirs, ids = _setup(app)
    client.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": True}, headers=mine)
    waiting = _deliveries_waiting(app, sub_id, ids["agency_id"], n=1)
    resp = client.delete(f"/api/v1/webhooks/{sub_id}", headers=mine)
    assert resp.status_code == 204 and resp.data == b""
    assert client.get("/api/v1/webhooks", headers=mine).get_json()["items"] == []
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=mine).status_code == 404
    assert client.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": False}, headers=mine).status_code == 404
    with app.app_context(), services().db.unit_of_work() as s:
        assert not has_subscribers(s, ids["agency_id"])
        assert s.get(WebhookDelivery, waiting[0]).status == DeliveryStatus.PENDING  # the log stays, unsent
    assert _deliver_jobs(app) == []


def test_another_agencys_token_gets_404_and_changes_nothing(app):
    client, sub_id, _mine, theirs, _ids = _setup(app)
    assert client.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": True}, headers=theirs).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=theirs).status_code == 404
    assert client.delete("/api/v1/webhooks/999999", headers=theirs).status_code == 404
    with app.app_context(), services().db.unit_of_work() as s:
        sub = s.get(WebhookSubscription, sub_id)
        assert sub.active and sub.paused_at is None


def test_a_manager_pauses_and_deletes_any_subscription(app):
    _client, sub_id, _mine, _theirs, _ids = _setup(app)
    with app.app_context(), services().db.unit_of_work() as s:
        manager = make_user(s, Role.MANAGER).username
    staff = app.test_client()
    login(staff, manager)
    assert staff.patch(f"/api/v1/webhooks/{sub_id}", json={"paused": True}).get_json()["paused"] is True
    assert staff.delete(f"/api/v1/webhooks/{sub_id}").status_code == 204


def test_subscription_operations_are_documented(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    ops = doc["paths"]["/api/v1/webhooks/{subscription_id}"]
    assert set(ops) == {"patch", "delete"}
    assert ops["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "SubscriptionPatch")
    assert "204" in ops["delete"]["responses"]
    assert all(op["security"][0] == {"bearer": ["webhooks:manage"]} for op in ops.values())
