"""Demo data for ``make run``: staff accounts for each role and a few dozen dossiers in every state of both legs.

Demo mode only (``DOSSIERPOST_DEMO=1``); the settings refuse demo mode in production. The dossiers are played
through the real services (``tracking.simulate.Stage``) over the last ten working days, each action at its
time, so their event chains verify and the manager's figures count them: some waiting for a courier, one
held in address review, some on the road (two late, several at risk), hand-over records waiting for the
officer, dossiers in processing (one past its appointment date, one due now), one refused, one waiting
for a supplement, results on their way, delivered, one failed attempt waiting for the re-invitation, one
returned to the agency after three attempts, a cancellation and a loss on each leg. A few more bookings of
today across the province wait for their post offices.

Re-running is safe: accounts are created once, and the dossiers (external references ``DEMO-nnn``) only when
``DEMO-001`` is not there yet. The labels are rendered by the outbox jobs the bookings requested (the
``seed --demo`` command runs the label jobs before it returns).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.db import utcnow
from config.settings import Settings
from logistics.accounts.models import Role, User
from logistics.accounts.services import create_user
from logistics.agencies.models import (
    AdminUnit,
    Agency,
    AgencyKind,
    PostOffice,
    PostOfficeArea,
    Procedure,
    Scheme,
    UnitLevel,
)
from logistics.calendar import is_working_day
from logistics.orders.models import Channel, Dossier, Leg, Order
from logistics.orders.services import orders_by_external_ref
from logistics.routing.services import RoutingPolicy
from tracking.services import book_pickups
from tracking.simulate import Action, Play, Stage, StageContext, citizen_request

DEMO_PASSWORD = "demo-dossierpost"  # noqa: S105 - printed for newcomers; demo mode only
REF_FORMAT: Final = "DEMO-{:03d}"
DEFAULT_BOOKINGS: Final = 48


@dataclass(frozen=True)
class DemoAccount:
    """A demo log-in to print for newcomers."""

    username: str
    role: Role
    scope: str


# --- the stories -------------------------------------------------------------------------------------------
# Each dossier's story: which ward (``same``: the provincial center's own ward, J+1; ``other``: the
# neighbouring ward served by the same post office, J+2), the service form, how long the agency takes
# (``quick``: 1 working day, ``long``: 10 or more, ``any``), and its steps as (action, working days before
# today, local time). Everything happens on past working days, so nothing lies in the future however early
# ``make run`` is started.

Step = tuple[str, int, str]

PICKUP: Final = ("book", "assign", "collect", "arrive", "depart", "handover", "confirm")
PICKUP_AT: Final = {"book": "07:35", "assign": "08:30", "collect": "09:15", "arrive": "11:45", "depart": "13:30",
                    "handover": "14:10", "confirm": "14:35", "refuse": "14:35", "supplement": "14:35"}
RESULT: Final = ("ready", "r_assign", "r_collect", "r_arrive", "r_out", "deliver")
RESULT_AT: Final = {"ready": "08:20", "r_assign": "09:05", "r_collect": "09:50", "r_arrive": "10:50",
                    "r_out": "13:35", "deliver": "14:20", "deliver_rep": "14:20", "fail": "14:20"}
UNSTAGGERED: Final = frozenset({"handover"})  # one record per courier and desk: the same minute for all


def pickup(day: int, until: str, **days: int) -> tuple[Step, ...]:
    """The pickup leg's usual day up to ``until`` (a decision other than ``confirm`` may end it)."""
    last = PICKUP.index(until) if until in PICKUP else PICKUP.index("handover")
    steps = [(name, days.get(name, day), PICKUP_AT[name]) for name in PICKUP[:last + 1]]
    if until not in PICKUP:
        steps.append((until, days.get(until, day), PICKUP_AT[until]))
    return tuple(steps)


def result(day: int, until: str) -> tuple[Step, ...]:
    """The result leg's usual day up to ``until`` (``fail`` or ``deliver_rep`` end it like ``deliver``)."""
    last = RESULT.index(until) if until in RESULT else RESULT.index("r_out")
    steps = [(name, day, RESULT_AT[name]) for name in RESULT[:last + 1]]
    if until not in RESULT:
        steps.append((until, day, RESULT_AT[until]))
    return tuple(steps)


@dataclass(frozen=True)
class Story:
    """One demo dossier: what it shows and how it got there."""

    shows: str
    ward: str  # same | other
    form: str  # both | send_only
    pace: str  # quick | long | any
    steps: tuple[Step, ...]


STORIES: Final[tuple[Story, ...]] = (
    # Pickup leg, waiting.
    Story("created", "same", "both", "any", pickup(1, "book")),
    Story("created", "other", "send_only", "any", pickup(1, "book")),
    Story("created", "other", "both", "any", pickup(1, "book")),
    Story("created", "same", "send_only", "any", (("book", 1, "16:20"),)),
    Story("needs_review", "same", "both", "any", (("book_review", 1, "10:15"),)),
    Story("assigned", "same", "both", "any", pickup(1, "assign")),
    Story("assigned", "other", "send_only", "any", pickup(1, "assign")),
    Story("cancelled", "same", "both", "any", (*pickup(2, "assign"), ("cancel", 2, "10:40"))),
    # Pickup leg, on the road (the manager's "at risk" list: late and due soon).
    Story("collected", "other", "both", "any", (("book", 1, "13:00"), ("assign", 1, "14:00"), ("collect", 1, "16:15"))),
    Story("at_post_office, at risk", "other", "both", "any", pickup(1, "arrive")),
    Story("at_post_office, late", "same", "send_only", "any", pickup(4, "arrive")),
    Story("out_for_delivery, at risk", "same", "both", "any", pickup(1, "depart")),
    Story("lost", "other", "send_only", "any", (*pickup(3, "arrive"), ("lost", 3, "16:00"))),
    # At the agency desk.
    Story("handed_to_agency", "same", "both", "any", pickup(1, "handover")),
    Story("handed_to_agency", "other", "send_only", "any", pickup(1, "handover")),
    Story("accepted, past its appointment", "same", "send_only", "quick", pickup(6, "confirm")),
    Story("accepted, appointment due", "other", "both", "quick", pickup(1, "confirm")),
    Story("accepted", "same", "both", "long", pickup(2, "confirm")),
    Story("accepted", "other", "both", "long", pickup(3, "confirm")),
    Story("accepted, result recorded (send-only)", "same", "send_only", "quick",
          (*pickup(8, "confirm"), ("ready", 3, "09:00"))),
    Story("accepted, handed over late", "same", "both", "long", pickup(8, "confirm", depart=6, handover=6, confirm=6)),
    Story("supplement_requested", "other", "both", "any", pickup(2, "supplement")),
    Story("accepted after a supplement", "same", "both", "long",
          (*pickup(5, "supplement"), ("supplement_done", 3, "10:00"))),
    Story("refused", "other", "send_only", "any", pickup(1, "refuse")),
    Story("returned to the citizen", "same", "both", "any", (*pickup(4, "refuse"), ("return", 3, "10:30"))),
    # Result leg.
    Story("result created", "same", "both", "quick", (*pickup(5, "confirm"), *result(1, "ready"))),
    Story("result created", "other", "both", "any", (*pickup(4, "confirm"), *result(1, "ready"))),
    Story("result assigned", "same", "both", "any", (*pickup(5, "confirm"), *result(1, "r_assign"))),
    Story("result collected, at risk", "other", "both", "any", (*pickup(6, "confirm"), *result(1, "r_collect"))),
    Story("result at_post_office, at risk", "same", "both", "any", (*pickup(6, "confirm"), *result(1, "r_arrive"))),
    Story("result at_post_office, late", "other", "both", "any", (*pickup(9, "confirm"), *result(5, "r_arrive"))),
    Story("result out_for_delivery", "same", "both", "any", (*pickup(6, "confirm"), *result(1, "r_out"))),
    Story("delivered", "same", "both", "any", (*pickup(7, "confirm"), *result(2, "deliver"))),
    Story("delivered", "other", "both", "any", (*pickup(7, "confirm"), *result(3, "deliver"))),
    Story("delivered to a representative", "same", "both", "any", (*pickup(8, "confirm"), *result(4, "deliver_rep"))),
    Story("delivered", "other", "both", "any", (*pickup(9, "confirm"), *result(5, "deliver"))),
    Story("delivery_failed", "other", "both", "any", (*pickup(6, "confirm"), *result(1, "fail"))),
    Story("delivered at the second attempt", "same", "both", "any",
          (*pickup(8, "confirm"), *result(3, "fail"), ("r_out", 1, "13:35"), ("deliver", 1, "14:20"))),
    Story("result returned to the agency", "other", "both", "any",
          (*pickup(10, "confirm"), *result(8, "fail"), ("r_out", 6, "13:35"), ("fail", 6, "14:20"),
           ("r_out", 4, "13:35"), ("fail", 4, "14:20"), ("r_return", 2, "09:00"))),
    Story("result cancelled (collected in person)", "same", "both", "any",
          (*pickup(5, "confirm"), *result(2, "ready"), ("r_cancel", 1, "10:00"))),
    Story("result lost", "other", "both", "any",
          (*pickup(9, "confirm"), *result(4, "r_arrive"), ("r_lost", 4, "16:30"))),
)
# The item the home page links to in demo mode: a rich public timeline on both legs.
SHOWCASE: Final = next(i for i, s in enumerate(STORIES, 1) if s.shows == "delivered at the second attempt")
SHOWCASE_REF: Final = REF_FORMAT.format(SHOWCASE)
FAILURE_REASONS: Final = {"delivery_failed": ("absent",), "delivered at the second attempt": ("premises_closed",),
                          "result returned to the agency": ("absent", "absent", "moved")}
# An address the gazetteer cannot place (no ward named): held for the dispatcher's review.
REVIEW_ADDRESS: Final = "Hẻm 12, Khóm 3 (gần chợ cũ)"


def working_days_before(today: date, count: int) -> list[date]:
    """``count`` working days before ``today`` (not counting it), the nearest first."""
    days: list[date] = []
    day = today
    while len(days) < count:
        day -= timedelta(days=1)
        if is_working_day(day):
            days.append(day)
    return days


# --- seeding -----------------------------------------------------------------------------------------------


def _accounts(session: Session, center: Agency | None, office: PostOffice | None) -> list[DemoAccount]:
    accounts: list[DemoAccount] = []
    specs: list[tuple[str, str, Role, str | None, str | None]] = [
        ("admin", "Quản trị hệ thống", Role.ADMIN, None, None),
        ("quanly", "Trần Minh Quang", Role.MANAGER, None, None),
        ("dieuphoi", "Lê Thị Thu Hà", Role.DISPATCHER, None, office.code if office else None),
        ("buuta1", "Nguyễn Văn Tới", Role.COURIER, None, office.code if office else None),
        ("buuta2", "Phạm Hoàng Khải", Role.COURIER, None, office.code if office else None),
        ("motcua", "Huỳnh Ngọc Trâm", Role.AGENCY_OFFICER, center.code if center else None, None),
    ]
    for username, full_name, role, agency_code, office_code in specs:
        if session.scalar(select(User.id).where(User.username == username)) is None:
            create_user(session, username=username, full_name=full_name, role=role, password=DEMO_PASSWORD,
                        agency_code=agency_code, post_office_code=office_code)
        accounts.append(DemoAccount(username, role, agency_code or office_code or "—"))
    return accounts


def _story_procedures(session: Session, center: Agency) -> dict[str, list[Procedure]]:
    procedures = list(session.scalars(
        select(Procedure).where(Procedure.by_post.is_(True), Procedure.agency_kind == center.kind)
        .order_by(Procedure.code)
    ))
    quickest = min((p.processing_days for p in procedures), default=1)
    return {
        "quick": [p for p in procedures if p.processing_days == quickest] or procedures,
        "long": [p for p in procedures if p.processing_days >= 10] or procedures,  # noqa: PLR2004 - two weeks
        "any": procedures,
    }


def _schedule(stage: Stage, play: Play, story: Story, *, at: dict[int, date], tz: ZoneInfo, stagger: int) -> None:
    reasons = iter(FAILURE_REASONS.get(story.shows, ("absent",)) * 3)
    for name, day, hhmm in story.steps:
        hh, mm = (int(x) for x in hhmm.split(":"))
        when = datetime.combine(at[day], time(hh, mm), tzinfo=tz)
        if name not in UNSTAGGERED:
            when += timedelta(minutes=stagger)
        if name == "handover":
            stage.handover(when, play)
            continue
        stage.at(when, _action(stage, play, name, reasons))


def _action(stage: Stage, play: Play, name: str, reasons: Iterator[str]) -> Action:
    simple: dict[str, Action] = {
        "book": partial(stage.book, play), "book_review": partial(stage.book, play),
        "assign": partial(stage.assign, play), "collect": partial(stage.collect, play),
        "arrive": partial(stage.arrive, play), "depart": partial(stage.depart, play),
        "confirm": partial(stage.confirm, play), "supplement": partial(stage.supplement, play),
        "supplement_done": partial(stage.supplement_done, play), "ready": partial(stage.result_ready, play),
        "refuse": partial(stage.refuse, play, "incomplete"),
        "return": partial(stage.return_, play, Leg.PICKUP),
        "cancel": partial(stage.cancel, play, Leg.PICKUP, "Người dân rút yêu cầu, tự nộp trực tiếp"),
        "lost": partial(stage.lost, play, Leg.PICKUP, "Bì hồ sơ bị ướt, rách khi qua phà; lập biên bản hư hỏng"),
        "r_assign": partial(stage.assign, play, Leg.RESULT), "r_collect": partial(stage.collect, play, Leg.RESULT),
        "r_arrive": partial(stage.arrive, play, Leg.RESULT), "r_out": partial(stage.out_for_delivery, play),
        "deliver": partial(stage.deliver, play),
        "deliver_rep": partial(stage.deliver, play, representative=True),
        "r_return": partial(stage.return_, play, Leg.RESULT),
        "r_cancel": partial(stage.cancel, play, Leg.RESULT, "Người dân đến nhận kết quả trực tiếp tại bộ phận một cửa"),
        "r_lost": partial(stage.lost, play, Leg.RESULT, "Thất lạc trong quá trình chia chọn; đang xác minh"),
    }
    if name == "fail":
        return partial(stage.fail, play, next(reasons))
    return simple[name]


def seed_demo(session: Session, *, indicator: str, bookings: int = DEFAULT_BOOKINGS,
              settings: Settings | None = None) -> list[DemoAccount]:
    """Create the demo accounts and dossiers (idempotent); returns the accounts to print.

    ``bookings`` dossiers in all: the stories first (fewer stories when fewer bookings), then bookings of
    today across the province. ``settings`` gives the keys and base URL the scans are signed with.
    """
    settings = (settings or Settings()).with_(s10_service_indicator=indicator)
    rng = random.Random(2017)  # noqa: S311 - demo data, not secrets; the seed article's year: the same demo data on every machine
    center = session.scalar(select(Agency).where(Agency.kind == AgencyKind.PROVINCE_CENTER).order_by(Agency.id)
                            .limit(1))
    # The dispatcher and couriers work at the office serving the provincial center's ward (Cà Mau city).
    office = session.scalar(
        select(PostOffice).join(PostOfficeArea, PostOfficeArea.post_office_id == PostOffice.id)
        .where(PostOfficeArea.admin_unit_id == center.admin_unit_id).limit(1)
    ) if center else None
    accounts = _accounts(session, center, office)
    if center is None or office is None or orders_by_external_ref(session, [REF_FORMAT.format(1)]):
        return accounts  # no reference data yet, or the demo dossiers are there already
    wards = list(session.scalars(
        select(AdminUnit).join(PostOfficeArea, PostOfficeArea.admin_unit_id == AdminUnit.id)
        .where(PostOfficeArea.post_office_id == office.id, AdminUnit.scheme == Scheme.V2025,
               AdminUnit.level == UnitLevel.COMMUNE).order_by(AdminUnit.code)
    ))
    same = next((w for w in wards if w.id == center.admin_unit_id), None)
    other = next((w for w in wards if w.id != center.admin_unit_id), same)
    procedures = _story_procedures(session, center)
    if same is None or other is None or not procedures["any"]:
        return accounts
    ctx = StageContext.from_settings(settings)
    stage = Stage(session, ctx, rng=rng)
    tz = ctx.tz
    today = utcnow().astimezone(tz).date()
    days = dict(enumerate(working_days_before(today, max(d for s in STORIES for _, d, _ in s.steps)), 1))
    stories = STORIES[:bookings]
    for n, story in enumerate(stories, 1):
        ward = same if story.ward == "same" else other
        raw = citizen_request(rng, ward, rng.choice(procedures[story.pace]), service_form=story.form,
                              external_ref=REF_FORMAT.format(n))
        if story.steps[0][0] == "book_review":
            raw.pop("commune_code")
            raw["address"] = REVIEW_ADDRESS
        play = Play(raw, channel=rng.choice([Channel.WEB, Channel.WEB, Channel.API]),
                    id_digits=f"{rng.randrange(10**4):04d}", tag=story.shows)
        _schedule(stage, play, story, at=days, tz=tz, stagger=(n * 7) % 20)
    stage.run()
    _book_today(session, rng, first=len(stories) + 1, count=bookings - len(stories), indicator=indicator,
                settings=settings)
    return accounts


def _book_today(session: Session, rng: random.Random, *, first: int, count: int, indicator: str,
                settings: Settings) -> None:
    """Today's bookings anywhere in the province (their post offices assign them)."""
    if count <= 0:
        return
    communes = session.scalars(
        select(AdminUnit).where(AdminUnit.scheme == Scheme.V2025, AdminUnit.level == UnitLevel.COMMUNE)
        .order_by(AdminUnit.code)
    ).all()
    procedures = session.scalars(select(Procedure).where(Procedure.by_post.is_(True)).order_by(Procedure.code)).all()
    requests = [citizen_request(rng, rng.choice(communes), rng.choice(procedures),
                                service_form=rng.choice(["send_only", "both", "both"]),
                                external_ref=REF_FORMAT.format(n))
                for n in range(first, first + count)]
    book_pickups(session, requests, indicator=indicator, channel=Channel.WEB,
                 policy=RoutingPolicy.from_settings(settings))


def showcase_order(session: Session) -> Order | None:
    """The item the home page links to in demo mode: the result leg of the showcase story, else the newest."""
    found = session.scalar(
        select(Order).join(Dossier, Dossier.id == Order.dossier_id)
        .where(Dossier.external_ref == SHOWCASE_REF).order_by(Order.leg.desc(), Order.id.desc()).limit(1)
    )
    return found or session.scalar(select(Order).order_by(Order.id.desc()).limit(1))
