"""Playing dossiers through the real services at chosen times: the demo data and ``dossierpost simulate``.

A ``Stage`` holds a timeline of actions (book, assign, scan, hand over, confirm, refuse, result ready,
deliver, fail...) and plays them in time order, each inside ``config.db.clock_at(t)``: every service runs as
it does for a request at ``t`` (``server_time``, receipts, dossier codes, deadlines, re-invitation plans), so
the event chains verify and the reports count the played days. Nothing writes a state directly; a refused
scan or action stops the play with the reason (a bug in the script, not in the data).

``simulate`` plays one working day of a post office with couriers: bookings through the day, the
dispatcher's assignment waves and each courier's planned run, collections in run order, arrivals at the
office, the afternoon run to the agency desks with one hand-over record per courier and desk, the officers'
decisions (a few refusals and supplement requests), results ready, their delivery the same afternoon with a
few failed attempts. Deterministic for a given ``seed`` on the same starting data (same choices; item codes
and keys differ).
"""

from __future__ import annotations

import heapq
import random
import time as clock
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.db import clock_at, utcnow
from config.settings import Settings
from logistics.accounts.models import Role, User
from logistics.agencies.models import AdminUnit, PostOfficeArea, Procedure, Scheme, UnitLevel
from logistics.calendar import is_working_day
from logistics.labels.signing import LabelSigner
from logistics.orders.models import Channel, Leg, Order, OrderState
from logistics.routing.couriers import choose_courier
from logistics.routing.runs import plan_run
from logistics.routing.services import RoutingPolicy
from tracking import agency, delivery
from tracking.actors import Actor
from tracking.errors import AgencyActionRefused
from tracking.models import RefusedScan, TrackingEvent
from tracking.operations import assign_courier, cancel_leg
from tracking.scans import ScanContext, record_scan
from tracking.services import book_pickup, verify_chain

FAMILY: Final = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Dương", "Lý", "Ngô",
                 "Trương", "Châu")
MIDDLE: Final = ("Văn", "Thị", "Hoàng", "Minh", "Ngọc", "Thanh", "Quốc", "Kim", "Hữu", "Thu")
GIVEN: Final = ("An", "Bình", "Cường", "Dung", "Hạnh", "Hùng", "Lan", "Linh", "Nam", "Nhung", "Phúc", "Quyên",
                "Sơn", "Tâm", "Thảo", "Trí", "Tú", "Uyên", "Vy", "Yến", "Khoa", "Mai", "Đức", "Hiếu")
STREETS: Final = ("Lưu Tấn Tài", "Phan Ngọc Hiển", "Trần Hưng Đạo", "Nguyễn Trãi", "Lý Thường Kiệt", "Ngô Quyền",
                  "Hùng Vương", "Quang Trung", "Nguyễn Tất Thành", "Lê Lợi", "Lý Văn Lâm", "Phan Bội Châu")
HAMLETS: Final = ("Ấp 1", "Ấp 3", "Ấp Tân Phong", "Ấp Cái Rô", "Khóm 2", "Khóm 5", "Ấp Bào Sen", "Ấp Kinh Tắc")
MISSING_DOCUMENTS: Final = ("Bản sao chứng thực CCCD của người nộp", "Tờ khai có chữ ký của người nộp",
                            "Giấy ủy quyền có chứng thực")


class SimulationError(RuntimeError):
    """A played action was refused: the script asked for something the services do not allow."""


@dataclass(frozen=True)
class StageContext:
    """What the played services need from the running system."""

    scan: ScanContext
    agency: agency.AgencyContext
    base_url: str
    indicator: str
    policy: RoutingPolicy | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> StageContext:
        """The context of a deployment (its keys, base URL, S10 indicator, routing policy, time zone)."""
        signer = LabelSigner(settings.label_keys)
        key = delivery.tracking_key(settings.secret_key)
        return cls(
            scan=ScanContext(signer=signer, key=key, tz=settings.timezone),
            agency=agency.AgencyContext(signer=signer, key=key, indicator=settings.s10_service_indicator,
                                        tz=settings.timezone),
            base_url=settings.public_base_url, indicator=settings.s10_service_indicator,
            policy=RoutingPolicy.from_settings(settings),
        )

    @property
    def tz(self) -> ZoneInfo:
        """The service's time zone."""
        return ZoneInfo(self.scan.tz)


@dataclass
class Cast:
    """Who acts: the staff accounts where they exist, else an unnamed desk/dispatcher of the right scope."""

    dispatchers: dict[int, Actor]
    officers: dict[int, Actor]

    @classmethod
    def load(cls, session: Session) -> Cast:
        """The active dispatchers (by post office) and agency officers (by agency)."""
        dispatchers: dict[int, Actor] = {}
        officers: dict[int, Actor] = {}
        for user in session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)):
            if user.role == Role.DISPATCHER and user.post_office_id is not None:
                dispatchers.setdefault(user.post_office_id, Actor.from_user(user))
            elif user.role == Role.AGENCY_OFFICER and user.agency_id is not None:
                officers.setdefault(user.agency_id, Actor.from_user(user))
        return cls(dispatchers, officers)

    def dispatcher(self, post_office_id: int | None) -> Actor:
        """The dispatcher of a post office."""
        found = self.dispatchers.get(post_office_id) if post_office_id is not None else None
        return found or Actor(role=str(Role.DISPATCHER), name="Điều phối viên bưu cục", post_office_id=post_office_id)

    def officer(self, agency_id: int) -> Actor:
        """The one-stop officer of an agency."""
        return self.officers.get(agency_id) or Actor(role=str(Role.AGENCY_OFFICER), name="Cán bộ một cửa",
                                                     agency_id=agency_id)


@dataclass
class Play:
    """One dossier being played: its booking, its legs as they come, and who carries them."""

    raw: dict[str, Any]
    channel: Channel = Channel.WEB
    id_digits: str = "0000"
    pickup: Order | None = None
    result: Order | None = None
    record_id: int | None = None
    couriers: dict[Leg, User] = field(default_factory=dict)
    tag: str = ""  # what the script means this dossier to show (demo)

    def leg(self, leg: Leg) -> Order:
        """The order of ``leg`` (it must exist by now)."""
        order = self.pickup if leg == Leg.PICKUP else self.result
        if order is None:
            raise SimulationError(f"{self.raw.get('external_ref') or self.tag}: no {leg} leg yet")
        return order


Action = Callable[[], None]


class Stage:
    """A timeline of actions on dossiers, played in time order through the real services."""

    def __init__(self, session: Session, ctx: StageContext, *, cast: Cast | None = None,
                 rng: random.Random | None = None) -> None:
        self.session = session
        self.ctx = ctx
        self.cast = cast or Cast.load(session)
        self.rng = rng or random.Random(0)  # noqa: S311 - simulation choices, not secrets
        self._queue: list[tuple[datetime, int, Action]] = []
        self._seq = 0
        self._handovers: dict[datetime, list[Play]] = {}
        self.actions = 0

    # --- the timeline --------------------------------------------------------------------------------

    def at(self, when: datetime, action: Action) -> None:
        """Play ``action`` at ``when`` (aware); equal times keep the order they were given in."""
        if when.tzinfo is None:
            raise ValueError("Stage.at needs an aware datetime")
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, action))

    def run(self, *, checkpoint: Callable[[], None] | None = None, every: int = 400) -> None:
        """Play every action in time order (actions may schedule later ones); ``checkpoint`` every N actions."""
        while self._queue:
            when, _seq, action = heapq.heappop(self._queue)
            with clock_at(when):
                action()
            self.actions += 1
            if checkpoint is not None and self.actions % every == 0:
                checkpoint()

    # --- helpers -------------------------------------------------------------------------------------

    def _qr(self, order: Order) -> str:
        return self.ctx.scan.signer.tracking_url(self.ctx.base_url, order.item_code)

    def _point(self, play: Play) -> tuple[float, float] | None:
        point = (play.leg(Leg.PICKUP).dossier.routing or {}).get("point")
        if not point:
            return None
        return (round(point[0] + self.rng.uniform(-0.01, 0.01), 6), round(point[1] + self.rng.uniform(-0.01, 0.01), 6))

    def _courier(self, play: Play, leg: Leg) -> User:
        courier = play.couriers.get(leg) or play.couriers.get(Leg.PICKUP)
        if courier is None:
            order = play.leg(leg)
            courier = choose_courier(self.session, order)
            play.couriers[leg] = courier
        return courier

    def scan(self, play: Play, leg: Leg, event: str, *, actor: Actor | None = None, gps: bool = False,
             **extra: Any) -> None:
        """Record one scan of ``play``'s ``leg`` as the courier's phone sends it (QR, device time, GPS)."""
        order = play.leg(leg)
        at = utcnow()  # the played time
        raw: dict[str, Any] = {"qr": self._qr(order), "event": event, "idempotency_key": f"sim-{uuid.uuid4().hex}",
                               "device_time": at.isoformat(), **extra}
        point = self._point(play) if gps else None
        if point is not None:
            raw["lat"], raw["lon"] = point
        who = actor or Actor.from_user(self._courier(play, leg))
        outcome = record_scan(self.session, raw, actor=who, ctx=self.ctx.scan, now=at)
        if not outcome.ok:
            raise SimulationError(f"{order.item_code} ({play.tag or leg}): {event} refused: {outcome.message}")

    # --- actions (each runs at its played time) -----------------------------------------------------

    def book(self, play: Play) -> None:
        """The citizen books (web form or a system's API call)."""
        order, _created = book_pickup(self.session, play.raw, indicator=self.ctx.indicator, channel=play.channel,
                                      actor_role="citizen" if play.channel == Channel.WEB else "api",
                                      policy=self.ctx.policy)
        play.pickup = order

    def assign(self, play: Play, leg: Leg = Leg.PICKUP) -> None:
        """The dispatcher gives the leg to the least loaded courier of its post office."""
        order = play.leg(leg)
        courier = choose_courier(self.session, order)
        assign_courier(self.session, order, courier, actor=self.cast.dispatcher(order.post_office_id))
        play.couriers[leg] = courier

    def collect(self, play: Play, leg: Leg = Leg.PICKUP) -> None:
        """Pickup: documents counted against the checklist, sealed, ID digits noted. Result: taken at the desk."""
        order = play.leg(leg)
        extra: dict[str, Any] = {"seal_number": f"NP-{self.rng.randrange(10**6):06d}"}
        if leg == Leg.PICKUP:
            extra["documents"] = [{"id": d.id, "form": str(d.form), "quantity": d.quantity}
                                  for d in order.dossier.procedure.documents if d.required]
            extra["id_number_last4"] = play.id_digits
        self.scan(play, leg, "collected", gps=leg == Leg.PICKUP, **extra)

    def arrive(self, play: Play, leg: Leg = Leg.PICKUP) -> None:
        """Back at the post office (sorting)."""
        self.scan(play, leg, "arrived_post_office")

    def depart(self, play: Play, leg: Leg = Leg.PICKUP) -> None:
        """Leaves the post office: to the agency desk (pickup) or out for delivery (result)."""
        self.scan(play, leg, "left_post_office" if leg == Leg.PICKUP else "out_for_delivery")

    def out_for_delivery(self, play: Play) -> None:
        """The result goes out to the citizen (straight from the desk, or from the office, or again)."""
        self.scan(play, Leg.RESULT, "out_for_delivery")

    def handover(self, when: datetime, play: Play) -> None:
        """Hand ``play``'s pickup to its agency at ``when``: one record per courier and desk at that time."""
        group = self._handovers.get(when)
        if group is None:
            group = self._handovers[when] = []
            self.at(when, partial(self._open_records, when))
        group.append(play)

    def _open_records(self, when: datetime) -> None:
        piles: dict[tuple[str, int], list[Play]] = defaultdict(list)
        for play in self._handovers.pop(when):
            order = play.leg(Leg.PICKUP)
            piles[order.dossier.agency.code, self._courier(play, Leg.PICKUP).id].append(play)
        for (agency_code, _courier_id), plays in piles.items():
            courier = self._courier(plays[0], Leg.PICKUP)
            try:
                record = agency.open_handover(self.session, agency_code=agency_code,
                                              items=[self._qr(p.leg(Leg.PICKUP)) for p in plays],
                                              actor=Actor.from_user(courier), signer=self.ctx.scan.signer)
            except AgencyActionRefused as exc:
                raise SimulationError(f"hand-over at {agency_code}: {exc} {exc.details}") from exc
            for play in plays:
                play.record_id = record.id

    def _officer(self, play: Play) -> Actor:
        return self.cast.officer(play.leg(Leg.PICKUP).dossier.agency_id)

    def _record(self, play: Play) -> int:
        if play.record_id is None:
            raise SimulationError(f"{play.tag}: decided before any hand-over record")
        return play.record_id

    def confirm(self, play: Play) -> None:
        """The officer confirms receipt: legal submission time, dossier code, appointment date."""
        order = play.leg(Leg.PICKUP)
        agency.confirm_item(self.session, self._record(play), order.item_code, actor=self._officer(play),
                            tz=self.ctx.scan.tz)

    def refuse(self, play: Play, reason: str = "not_eligible") -> None:
        """The officer refuses the dossier with a reason from the list."""
        order = play.leg(Leg.PICKUP)
        agency.refuse_item(self.session, self._record(play), order.item_code, actor=self._officer(play),
                           reason_code=reason)

    def supplement(self, play: Play) -> None:
        """Form 02: the officer asks for missing documents."""
        order = play.leg(Leg.PICKUP)
        agency.request_supplement(self.session, order.item_code, actor=self._officer(play),
                                  missing_documents=[self.rng.choice(MISSING_DOCUMENTS)],
                                  note="Đề nghị bổ sung trong 05 ngày làm việc", record_id=self._record(play))

    def supplement_done(self, play: Play) -> None:
        """The complete dossier arrived: a new receipt, the processing clock restarts."""
        agency.confirm_supplement(self.session, play.leg(Leg.PICKUP).item_code, actor=self._officer(play),
                                  tz=self.ctx.scan.tz)

    def result_ready(self, play: Play) -> None:
        """The result is ready: recorded on the pickup; "both ways" dossiers get their result leg."""
        play.result = agency.mark_result_ready(self.session, play.leg(Leg.PICKUP).item_code,
                                               actor=self._officer(play), ctx=self.ctx.agency)

    def deliver(self, play: Play, *, representative: bool = False) -> None:
        """Delivered against the citizen's one-time code and an identity check."""
        order = play.leg(Leg.RESULT)
        code = delivery.current_delivery_code(self.session, self.ctx.scan.key, order.dossier_id)
        identity: dict[str, Any] = (
            {"method": "representative", "name": f"{self.rng.choice(FAMILY)} {self.rng.choice(MIDDLE)} "
             f"{self.rng.choice(GIVEN)}", "authorisation": f"Giấy ủy quyền số {self.rng.randint(10, 99)}/UQ",
             "id_last_digits": f"{self.rng.randrange(10**4):04d}"}
            if representative else {"method": "id_number", "last_digits": play.id_digits}
        )
        self.scan(play, Leg.RESULT, "delivered", gps=True, identity=identity, delivery_code=code or "")

    def fail(self, play: Play, reason: str = "absent") -> None:
        """A failed delivery attempt with its reason (the re-invitation plan follows)."""
        self.scan(play, Leg.RESULT, "delivery_failed", gps=True, reason_code=reason)

    def return_(self, play: Play, leg: Leg) -> None:
        """Refused dossier back to the citizen (pickup) / result back to the agency (result)."""
        self.scan(play, leg, "returned")

    def cancel(self, play: Play, leg: Leg, reason: str) -> None:
        """Cancelled before collection (withdrawn; or the citizen collects the result in person)."""
        order = play.leg(leg)
        actor = self._officer(play) if leg == Leg.RESULT else self.cast.dispatcher(order.post_office_id)
        cancel_leg(self.session, order, actor=actor, reason=reason)

    def lost(self, play: Play, leg: Leg, note: str) -> None:
        """The dispatcher records a loss or damage (with what happened)."""
        order = play.leg(leg)
        self.scan(play, leg, "lost", actor=self.cast.dispatcher(order.post_office_id), note=note)


# --- one simulated day ------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a simulation did."""

    day: date
    bookings: int
    events: int
    refused_scans: int
    records: int
    seconds: float
    states: dict[tuple[str, str], int]
    broken_chains: int

    @property
    def events_per_second(self) -> float:
        """Events recorded per second of wall time (bookings included)."""
        return self.events / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        """The summary as printed by ``dossierpost simulate``."""
        head = (f"simulated {self.day:%d/%m/%Y}: {self.bookings} bookings, {self.events} events, "
                f"{self.records} hand-over records, {self.refused_scans} refused scans")
        out = [head]
        for leg in (Leg.PICKUP, Leg.RESULT):
            row = ", ".join(f"{state}={n}" for (lg, state), n in sorted(self.states.items()) if lg == leg)
            out.append(f"  {leg:<6} {row or '—'}")
        out.append(f"{self.seconds:.1f}s, {self.events_per_second:.0f} events/s; chains: "
                   f"{'all verify' if not self.broken_chains else f'{self.broken_chains} BROKEN'}")
        return out


def previous_working_day(today: date) -> date:
    """The last working day strictly before ``today``."""
    day = today - timedelta(days=1)
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def _served_communes(session: Session) -> list[AdminUnit]:
    """2025 communes served by a post office that has active couriers (someone can collect there)."""
    offices = select(User.post_office_id).where(User.role == Role.COURIER, User.active.is_(True))
    return list(session.scalars(
        select(AdminUnit).join(PostOfficeArea, PostOfficeArea.admin_unit_id == AdminUnit.id)
        .where(PostOfficeArea.post_office_id.in_(offices), AdminUnit.scheme == Scheme.V2025,
               AdminUnit.level == UnitLevel.COMMUNE)
        .order_by(AdminUnit.code)
    ).unique())


def _procedures(session: Session) -> list[Procedure]:
    """Procedures by post, preferring those handled by a kind of desk that has an officer account."""
    procedures = list(session.scalars(select(Procedure).where(Procedure.by_post.is_(True)).order_by(Procedure.code)))
    officers = session.scalars(select(User).where(User.role == Role.AGENCY_OFFICER, User.active.is_(True),
                                                  User.agency_id.is_not(None)))
    kinds = {user.agency.kind for user in officers if user.agency is not None}
    return [p for p in procedures if p.agency_kind in kinds] or procedures


def citizen_request(rng: random.Random, unit: AdminUnit, procedure: Procedure, *, service_form: str,
                    external_ref: str | None = None) -> dict[str, Any]:
    """A plausible booking form for a citizen of ``unit``."""
    address = (f"Số {rng.randint(1, 250)} {rng.choice(STREETS)}" if unit.kind == "Phường" else rng.choice(HAMLETS))
    raw: dict[str, Any] = {
        "applicant_name": f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
        "phone": f"09{rng.randint(10_000_000, 99_999_999)}",
        "address": address,
        "commune_code": unit.code,
        "procedure_code": procedure.code,
        "service_form": service_form,
        "envelopes": rng.choice([1, 1, 1, 2]),
    }
    if external_ref:
        raw["external_ref"] = external_ref
    return raw


def _local(day: date, hh: int, mm: float, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(hours=hh, minutes=mm)


class _Day:
    """The choices of one simulated day, scheduled on a stage as the day unfolds."""

    WAVES: Final = ((8, 0), (9, 30), (11, 0), (13, 30), (15, 0))
    PLANNED: Final = ((8, 0), (13, 30))  # the waves after which the dispatcher prints the couriers' run sheets
    MORNING_ENDS: Final = (11, 40)  # last morning pickup: back at the office for the noon sorting
    RUNS_END: Final = (16, 45)
    STOP_MINUTES: Final = (4.0, 12.0)  # a pickup takes this long, squeezed down when the run is long

    def __init__(self, stage: Stage, day: date, rng: random.Random) -> None:
        self.stage, self.day, self.rng = stage, day, rng
        self.tz = stage.ctx.tz
        self.waiting: list[Play] = []  # booked, not yet assigned
        self.to_collect: dict[int, list[Play]] = defaultdict(list)  # per courier: assigned, not yet on a run
        self.couriers: dict[int, User] = {}
        self.busy_until: dict[int, datetime] = {}
        self.route: dict[int, dict[int, int]] = {}  # per courier: order id -> position on the planned run
        self.at_office_noon: list[Play] = []
        self.fates: dict[int, str] = {}

    def t(self, hh: int, mm: float = 0) -> datetime:
        return _local(self.day, hh, mm, self.tz)

    def schedule(self, plays: Iterable[tuple[Play, datetime, str]]) -> None:
        for play, booked_at, fate in plays:
            self.fates[id(play)] = fate
            self.stage.at(booked_at, partial(self._booked, play))
        for hh, mm in self.WAVES:
            self.stage.at(self.t(hh, mm), partial(self._wave, hh, mm))
        self.stage.at(self.t(13, 30), self._afternoon_run)

    def _booked(self, play: Play) -> None:
        self.stage.book(play)
        if play.leg(Leg.PICKUP).state != OrderState.CREATED:
            return  # held in address review
        if self.fates[id(play)] == "cancelled":
            self.stage.at(utcnow() + timedelta(minutes=self.rng.randint(10, 50)),
                          partial(self.stage.cancel, play, Leg.PICKUP, "Người dân hủy yêu cầu qua tổng đài"))
            return
        self.waiting.append(play)

    def _wave(self, hh: int, mm: int) -> None:
        """The dispatcher assigns what is waiting; each courier's run is planned again and followed."""
        for play in self.waiting:
            if play.leg(Leg.PICKUP).state != OrderState.CREATED:
                continue
            self.stage.assign(play)
            courier = play.couriers[Leg.PICKUP]
            self.couriers[courier.id] = courier
            if self.fates[id(play)] != "absent":  # an absent citizen: the courier finds nobody, tries another day
                self.to_collect[courier.id].append(play)
        self.waiting = []
        window_end = self.t(*(self.MORNING_ENDS if hh < 12 else self.RUNS_END))  # noqa: PLR2004 - noon
        for courier_id, mine in self.to_collect.items():
            if not mine:
                continue
            if (hh, mm) in self.PLANNED or courier_id not in self.route:
                # The run sheet of the morning and of the afternoon (planning costs grow with the open items).
                run = plan_run(self.stage.session, self.couriers[courier_id], self.day)
                self.route[courier_id] = {stop.order_id: i for i, stop in enumerate(run.stops)}
            position = self.route[courier_id]
            mine.sort(key=lambda p: (position.get(p.leg(Leg.PICKUP).id, len(position)), p.leg(Leg.PICKUP).id))
            start = max(self.t(hh, mm + 20), self.busy_until.get(courier_id, self.t(0)))
            low, high = self.STOP_MINUTES
            step = min(high, max(low, (window_end - start).total_seconds() / 60 / len(mine)))
            left: list[Play] = []
            when = start
            for play in mine:
                when += timedelta(minutes=step * self.rng.uniform(0.8, 1.2))
                if when >= window_end:
                    left.append(play)  # not reached on this run: the next wave's run takes it
                else:
                    self.stage.at(when, partial(self._collect, play))
            self.busy_until[courier_id] = min(when, window_end)
            self.to_collect[courier_id] = left

    def _collect(self, play: Play) -> None:
        self.stage.collect(play)
        if utcnow() < self.t(12, 0):
            back = self.t(12, self.rng.randint(0, 20))
            self.stage.at(back, partial(self._arrived, play, noon=True))
        else:
            self.stage.at(self.t(17, self.rng.randint(0, 15)), partial(self.stage.arrive, play))

    def _arrived(self, play: Play, *, noon: bool) -> None:
        self.stage.arrive(play)
        if noon and self.fates[id(play)] != "held":
            self.at_office_noon.append(play)

    def _afternoon_run(self) -> None:
        """The items sorted at noon leave for the desks; one hand-over per courier and desk."""
        handover_at = self.t(14, 15)
        for play in self.at_office_noon:
            self.stage.depart(play)
            self.stage.handover(handover_at, play)
            self.stage.at(self.t(14, 30 + self.rng.uniform(0, 45)), partial(self._decide, play))

    def _decide(self, play: Play) -> None:
        fate = self.fates[id(play)]
        if fate == "pending":
            return
        if fate == "refused":
            self.stage.refuse(play, self.rng.choice(["not_eligible", "invalid_documents", "not_competent"]))
            return
        if fate == "supplement":
            self.stage.supplement(play)
            return
        self.stage.confirm(play)
        if fate.startswith("result"):
            self.stage.at(self.t(15, self.rng.uniform(20, 60)), partial(self._result, play))

    def _result(self, play: Play) -> None:
        self.stage.result_ready(play)
        if play.result is None:
            return  # send-only: the citizen collects at the desk
        self.stage.at(self.t(16, 5), partial(self.stage.assign, play, Leg.RESULT))
        self.stage.at(self.t(16, self.rng.uniform(15, 30)), partial(self.stage.collect, play, Leg.RESULT))
        self.stage.at(self.t(16, self.rng.uniform(35, 45)), partial(self.stage.out_for_delivery, play))
        fate = self.fates[id(play)]
        when = self.t(16, self.rng.uniform(50, 100))
        if fate == "result_failed":
            reason = self.rng.choice(["absent", "absent", "premises_closed", "wrong_address", "no_delivery_code"])
            self.stage.at(when, partial(self.stage.fail, play, reason))
        elif fate == "result_late":
            self.stage.at(self.t(18, 0), partial(self.stage.arrive, play, Leg.RESULT))  # back at the office
        else:
            self.stage.at(when, partial(self.stage.deliver, play,
                                        representative=self.rng.random() < REPRESENTATIVE_SHARE))


REPRESENTATIVE_SHARE: Final = 0.1  # results collected by an authorised representative
FATES: Final = (  # (fate, weight): what becomes of a booking during the day
    ("result", 30), ("accepted", 36), ("result_failed", 5), ("result_late", 2), ("refused", 4),
    ("supplement", 5), ("pending", 3), ("held", 5), ("absent", 5), ("cancelled", 2),
)


def simulate(session: Session, settings: Settings, *, bookings: int = 200, seed: int = 1, day: date | None = None,
             checkpoint: Callable[[], None] | None = None) -> Summary:
    """Play one working day (``day``, default the previous working day) with ``bookings`` bookings."""
    tz = ZoneInfo(settings.timezone)
    today = datetime.now(tz).date()
    day = day or previous_working_day(today)
    if day >= today:
        raise SimulationError("Chỉ mô phỏng một ngày đã qua (sự kiện không được ở tương lai). / Simulate a past day.")
    if not is_working_day(day):
        raise SimulationError(f"{day:%d/%m/%Y} không phải ngày làm việc. / Not a working day.")
    rng = random.Random(seed)  # noqa: S311 - simulation choices, not secrets
    cast = Cast.load(session)
    communes = _served_communes(session)
    if not communes:
        raise SimulationError("Không có bưu cục nào có bưu tá: chạy 'dossierpost seed --demo' hoặc tạo tài khoản "
                              "bưu tá. / No post office has couriers.")
    procedures = _procedures(session)
    stage = Stage(session, StageContext.from_settings(settings), cast=cast, rng=rng)
    events_before = session.scalar(select(func.count(TrackingEvent.id))) or 0
    refused_before = session.scalar(select(func.count(RefusedScan.id))) or 0
    fates, weights = zip(*FATES, strict=True)
    sim = _Day(stage, day, rng)
    plays: list[tuple[Play, datetime, str]] = []
    for _ in range(bookings):
        when = rng.random()  # 30% book online before the office opens, 45% in the morning, 25% after lunch
        morning = when < 0.75  # noqa: PLR2004
        if when < 0.3:  # noqa: PLR2004
            booked_at = _local(day, 5, rng.uniform(30, 175), tz)
        elif morning:
            booked_at = _local(day, 7, rng.uniform(55, 270), tz)
        else:
            booked_at = _local(day, 13, rng.uniform(0, 210), tz)
        fate = rng.choices(fates, weights)[0] if morning else rng.choice(["accepted", "absent", "result"])
        form = "both" if fate.startswith("result") else rng.choice(["both", "send_only", "send_only"])
        raw = citizen_request(rng, rng.choice(communes), rng.choice(procedures), service_form=form)
        plays.append((Play(raw, channel=rng.choice([Channel.WEB, Channel.WEB, Channel.API]),
                           id_digits=f"{rng.randrange(10**4):04d}"), booked_at, fate))
    started = clock.perf_counter()
    sim.schedule(plays)
    stage.run(checkpoint=checkpoint)
    session.flush()
    seconds = clock.perf_counter() - started
    ids = [o.id for p, _, _ in plays for o in (p.pickup, p.result) if o is not None]
    states = Counter((str(leg), str(state)) for leg, state in session.execute(
        select(Order.leg, Order.state).where(Order.id.in_(ids))))
    broken = sum(1 for order_id in ids if verify_chain(session, order_id))
    records = len({p.record_id for p, _, _ in plays if p.record_id is not None})
    return Summary(day=day, bookings=bookings,
                   events=(session.scalar(select(func.count(TrackingEvent.id))) or 0) - events_before,
                   refused_scans=(session.scalar(select(func.count(RefusedScan.id))) or 0) - refused_before,
                   records=records, seconds=seconds, states=dict(states), broken_chains=broken)


__all__ = ["Cast", "Play", "SimulationError", "Stage", "StageContext", "Summary", "simulate"]
