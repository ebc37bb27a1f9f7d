"""Generate a realistic company, the same one for the same seed and size.

Shape: a CEO, department heads, team leads, and below each lead a tree of people leads and individual
contributors (at most `SPAN` direct reports each). About 10% externals, every status, and, from 50
people on, the dirty records real HR data has; from 200 people on, two supervisors share a name.
"""

from __future__ import annotations

import gc
import math
import random
from bisect import bisect
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

from sandbox.catalog import (
    COMPANY_NAMES,
    DEPARTMENTS,
    OFFICES,
    TERMINATIONS,
    TSHIRT_SIZES,
    WEEKLY_HOURS,
    DepartmentPlan,
)
from sandbox.company import DEPARTMENT, OFFICE, SUBCOMPANY, TEAM, Company, Employee, OrgUnit
from sandbox.names import (
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    PREFERRED_NAMES,
    email_local_part,
)

# "Today" for the generated history. Fixed, so a seed gives the same data on any day; real changes
# made through the admin API are stamped with the real clock and so always sort after it.
ANCHOR = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FOUNDED = date(2012, 3, 1)
SPAN = 7  # direct reports per people lead before another level opens up

DIRTY_RECORDS_FROM = 50
NAMESAKE_SUPERVISORS_FROM = 200
NAMESAKE = ("Peter", "Wright")

FIRST_HIRES = FOUNDED + timedelta(days=200)  # the CEO hires alone for the first months
_BIRTHDAYS = (date(ANCHOR.year - 63, 1, 1), date(ANCHOR.year - 21, 12, 31))
_FIRST_NAMES: dict[str, Sequence[str]] = {
    "female": FEMALE_FIRST_NAMES,
    "male": MALE_FIRST_NAMES,
    "diverse": FEMALE_FIRST_NAMES + MALE_FIRST_NAMES,
}


class _EmailBook:
    """Hands out `first.last@domain`, numbering repeats (`anna.mueller2@...`) as mail admins do."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.used: dict[str, int] = {}

    def address(self, first_name: str, last_name: str) -> str:
        local = email_local_part(first_name, last_name)
        seen = self.used.get(local, 0) + 1
        self.used[local] = seen
        # Names contain no digits, so a numbered address can never collide with a plain one.
        return f"{local}{seen if seen > 1 else ''}@{self.domain}"


# `random.randint`/`choice`/`choices` validate their arguments on every call; at 100,000 people these
# plain-float helpers make generation several times faster and stay deterministic for a seed.
T = TypeVar("T")


def _below(rng: random.Random, n: int) -> int:
    """A number in [0, n)."""
    return int(rng.random() * n)


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def _weighted(rng: random.Random, items: Sequence[T], cumulative: Sequence[float]) -> T:
    return items[bisect(cumulative, rng.random() * cumulative[-1])]


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=_below(rng, max(0, (end - start).days) + 1))


def _moment(rng: random.Random, day: date) -> datetime:
    """A time during an office day (07:00-19:00 UTC) on `day`."""
    return datetime(day.year, day.month, day.day, 7, tzinfo=UTC) + timedelta(seconds=_below(rng, 12 * 3600))


class _Generator:
    """One generation run; methods share the random stream, so their call order is part of the seed."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = random.Random(seed)
        name, domain = self.rng.choice(COMPANY_NAMES)
        self.company = Company(name=name, domain=domain)
        self.emails = _EmailBook(domain)
        self.people: list[Employee] = []
        self.boss: list[int | None] = []  # index into `people` until ids are assigned
        self.reports: list[int] = []

    # ----- structure -------------------------------------------------------------------------------

    def build(self) -> Company:
        offices = self._offices()
        office_weights = list(accumulate(plan.weight for plan in OFFICES))
        if self.size < 1:
            return self.company
        ceo = self._person(position="CEO", office=offices[0], manager=True)
        departments = self._departments()
        for plan, department, teams in departments:
            head = self._person(
                position=plan.head_title, office=offices[0], department=department, manager=True
            )
            self._report(head, ceo)
            self._staff(plan, department, teams, head, offices, office_weights)
        self._assign_ids()
        if self.size >= DIRTY_RECORDS_FROM:
            self._dirty_records()
        if self.size >= NAMESAKE_SUPERVISORS_FROM:
            self._namesake_supervisors()
        for employee in self.people:
            self.company.add(employee)
        return self.company

    def _offices(self) -> list[OrgUnit]:
        entities: dict[str, OrgUnit] = {}
        offices = []
        for plan in OFFICES:
            if plan.legal_suffix not in entities:
                entities[plan.legal_suffix] = self.company.add_unit(
                    SUBCOMPANY, f"{self.company.name} {plan.legal_suffix}"
                )
            offices.append(
                self.company.add_unit(OFFICE, plan.name, subcompany_id=entities[plan.legal_suffix].id)
            )
        return offices

    def _departments(self) -> list[tuple[DepartmentPlan, OrgUnit, list[OrgUnit]]]:
        """Departments (more for bigger companies, about sqrt(size)) with their teams and leads' budget."""
        count = min(len(DEPARTMENTS), round(math.sqrt(self.size) / 1.3), self.size - 1)
        budget = self.size - 1 - count  # places left after the CEO and the heads
        teams_each = max(2, self.size // (max(count, 1) * 10))  # 2-4 teams a department
        result = []
        for plan in DEPARTMENTS[:count]:
            department = self.company.add_unit(DEPARTMENT, plan.name)
            wanted = min(len(plan.teams), teams_each + _pick(self.rng, (0, 0, 1)), max(budget, 0))
            teams = [self.company.add_unit(TEAM, name) for name in plan.teams[:wanted]]
            budget -= len(teams)
            result.append((plan, department, teams))
        return result

    def _staff(
        self,
        plan: DepartmentPlan,
        department: OrgUnit,
        teams: list[OrgUnit],
        head: int,
        offices: list[OrgUnit],
        office_weights: list[int],  # cumulative
    ) -> None:
        """Create the department's leads and members, and arrange each team under its lead."""
        share = plan.weight / sum(p.weight for p in DEPARTMENTS[: len(self.company.units[DEPARTMENT])])
        leads_and_heads = 1 + len(self.company.units[DEPARTMENT]) + len(self.company.units[TEAM])
        # Rounded down, so only the last department (which takes the remainder) can round up.
        members = max(0, int((self.size - leads_and_heads) * share))
        if department.id == max(self.company.units[DEPARTMENT]):
            # The last department takes the rounding remainder so the total is exactly `size`.
            members = max(0, self.size - len(self.people) - len(teams))
        groups: dict[int | None, list[int]] = {team.id: [] for team in teams}
        groups[None] = []
        for _ in range(members):
            team = _pick(self.rng, teams) if teams and self.rng.random() > 0.05 else None
            office = _weighted(self.rng, offices, office_weights) if self.rng.random() > 0.02 else None
            job = _pick(self.rng, plan.jobs)
            person = self._person(position=job, office=office, department=department, team=team)
            groups[team.id if team else None].append(person)
        for team in teams:
            lead = self._person(
                position=f"Team Lead {team.name}",
                office=offices[0],
                department=department,
                team=team,
                manager=True,
            )
            self._report(lead, head)
            self._arrange(lead, groups[team.id], plan)
        self._arrange(head, groups[None], plan)

    def _arrange(self, root: int, members: list[int], plan: DepartmentPlan) -> None:
        """Breadth-first tree under `root`: the first members lead the later ones, `SPAN` each.

        Internal, working people come first so that the ones who end up leading are plausible leads.
        """
        members.sort(key=lambda i: (self.people[i].employment_type == "external", not self._working(i)))
        for position, person in enumerate(members):
            manager = root if position < SPAN else members[position // SPAN - 1]
            self._report(person, manager)
            if manager != root and self.people[manager].position != plan.manager_title:
                self._promote(manager, plan.manager_title)
        for person in members:
            employee = self.people[person]
            # Some freelancers are managed by procurement, not by anyone in the org chart.
            if (
                employee.employment_type == "external"
                and not self.reports[person]
                and self.rng.random() < 0.2
            ):
                self.boss[person] = None

    def _working(self, person: int) -> bool:
        return self.people[person].status in ("active", "leave")

    def _report(self, person: int, manager: int) -> None:
        self.boss[person] = manager
        self.reports[manager] += 1

    def _promote(self, person: int, title: str) -> None:
        employee = self.people[person]
        employee.position = title
        employee.employment_type = "internal"
        employee.contract_end_date = None
        self._set_active(employee)

    # ----- one person ------------------------------------------------------------------------------

    def _person(
        self,
        *,
        position: str,
        office: OrgUnit | None,
        department: OrgUnit | None = None,
        team: OrgUnit | None = None,
        manager: bool = False,
    ) -> int:
        rng = self.rng
        gender = _weighted(rng, ("female", "male", "diverse"), (49, 98, 100))
        pool = _FIRST_NAMES[gender]
        first_name, last_name = _pick(rng, pool), _pick(rng, LAST_NAMES)
        today = ANCHOR.date()
        hire_date = FOUNDED if position == "CEO" else _day(rng, FIRST_HIRES, today)
        employee = Employee(
            id=0,
            first_name=first_name,
            last_name=last_name,
            preferred_name=PREFERRED_NAMES.get(first_name, "") if rng.random() < 0.4 else "",
            email=self.emails.address(first_name, last_name),
            gender=gender,
            status="active",
            position=position,
            employment_type="internal",
            hire_date=hire_date,
            created_at=ANCHOR,
            last_modified_at=ANCHOR,
            department_id=department.id if department else None,
            team_id=team.id if team else None,
            office_id=office.id if office else None,
            weekly_working_hours=_pick(rng, WEEKLY_HOURS),
            date_of_birth=_day(rng, *_BIRTHDAYS),
            tshirt_size=_pick(rng, TSHIRT_SIZES),
        )
        if not manager:
            if rng.random() < 0.10:
                employee.employment_type = "external"
                employee.position = f"Freelance {position}"
                employee.contract_end_date = _day(
                    rng, today + timedelta(days=30), today + timedelta(days=400)
                )
            roll = rng.random()
            if roll < 0.05:
                self._terminate(employee)
            elif roll < 0.08:
                employee.status = "onboarding"
                employee.hire_date = _day(rng, today + timedelta(days=7), today + timedelta(days=75))
            elif roll < 0.12:
                employee.status = "leave"
        employee.probation_period_end = employee.hire_date + timedelta(days=182)
        employee.created_at = _moment(rng, employee.hire_date - timedelta(days=14 + _below(rng, 47)))
        self._stamp(employee)
        self.people.append(employee)
        self.boss.append(None)
        self.reports.append(0)
        return len(self.people) - 1

    def _terminate(self, employee: Employee) -> None:
        today = ANCHOR.date()
        employee.status = "inactive"
        employee.hire_date = _day(self.rng, FIRST_HIRES, today - timedelta(days=400))
        employee.termination_date = _day(self.rng, employee.hire_date + timedelta(days=120), today)
        employee.last_working_day = employee.termination_date
        employee.termination_type, employee.termination_reason = _pick(self.rng, TERMINATIONS)

    def _set_active(self, employee: Employee) -> None:
        """Leads are at work: undo a termination, onboarding or leave drawn for them as a member."""
        if employee.status == "active":
            return
        if employee.status == "onboarding":
            employee.hire_date = _day(self.rng, FIRST_HIRES, ANCHOR.date())
            employee.probation_period_end = employee.hire_date + timedelta(days=182)
            employee.created_at = _moment(self.rng, employee.hire_date - timedelta(days=30))
        employee.status = "active"
        employee.termination_date = employee.last_working_day = None
        employee.termination_type = employee.termination_reason = None
        self._stamp(employee)

    def _stamp(self, employee: Employee) -> None:
        """Last change somewhere between creation and the anchor, after a termination was recorded."""
        earliest = employee.created_at
        if employee.termination_date is not None:
            earliest = max(earliest, _moment(self.rng, employee.termination_date - timedelta(days=30)))
        span = max(0, int((ANCHOR - earliest).total_seconds()))
        employee.last_modified_at = earliest + timedelta(seconds=_below(self.rng, span + 1))
        employee.baseline_modified_at = employee.last_modified_at

    # ----- ids and deliberate oddities -------------------------------------------------------------

    def _assign_ids(self) -> None:
        """Ids in order of record creation, as Personio numbers them; then resolve supervisors."""
        order = sorted(range(len(self.people)), key=lambda i: (self.people[i].created_at, i))
        for offset, person in enumerate(order):
            self.people[person].id = 1000 + offset
        for person, manager in enumerate(self.boss):
            self.people[person].supervisor_id = self.people[manager].id if manager is not None else None
        self.people.sort(key=lambda employee: employee.id)
        self.reports = [0] * len(self.people)
        for employee in self.people:
            if employee.supervisor_id is not None:
                self.reports[employee.supervisor_id - 1000] += 1

    def _dirty_records(self) -> None:
        """One employee without email, two sharing one, one with a padded upper-case email."""
        plain = [
            e
            for e in self.people
            if e.employment_type == "internal" and e.status == "active" and not self.reports[e.id - 1000]
        ]
        no_email, first, second, padded = self.rng.sample(plain, 4)
        no_email.email = ""
        second.email = first.email
        # Still unique once lower-cased and stripped, but as someone typed it: capitals and spaces.
        local, _, domain = (padded.email or "").partition("@")
        padded.email = f"  {'.'.join(part.capitalize() for part in local.split('.'))}@{domain}  "

    def _namesake_supervisors(self) -> None:
        """Two team leads in different departments who share a full name ("Peter Wright's team" twice)."""
        leads: dict[int, Employee] = {}
        for employee in self.people:
            if employee.position.startswith("Team Lead") and self.reports[employee.id - 1000]:
                leads.setdefault(employee.department_id or 0, employee)
        for lead in list(leads.values())[:2]:
            lead.first_name, lead.last_name = NAMESAKE
            lead.gender = "male"
            lead.preferred_name = ""
            lead.email = self.emails.address(*NAMESAKE)


def generate_company(size: int, seed: int) -> Company:
    """A company of exactly `size` employees, identical for the same (size, seed)."""
    # Generation makes hundreds of thousands of small objects and no cycles; the cyclic collector
    # would only rescan them over and over (about a tenth of the time at 100,000 people).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Generator(size, seed).build()
    finally:
        if collecting:
            gc.enable()
