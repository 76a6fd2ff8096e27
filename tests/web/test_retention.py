"""R27: documents are never deleted by users; the beheerder sees which exams' retention period (10
years after the exam ended) has passed or passes within twelve months."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from processes import registrations, retention
from processes.models import Attachment, ExamRegistration, ProcessInstance, utcnow
from tests.conftest import login
from tests.support.moments import make_exam
from tests.support.walk import start_and_walk_to

URL = "/beheer/{school}/bewaartermijnen"


def _ended(uow_factory, instance_id: int, ago: timedelta) -> None:
    """Moves the end of an exam back in time (the row, directly)."""
    with uow_factory() as uow:
        uow.session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                            .values(status="completed", updated_at=utcnow() - ago))
        uow.commit()


def _attach(uow_factory, instance_id: int, user_id: int, size: int) -> None:
    with uow_factory() as uow:
        uow.session.add(Attachment(instance_id=instance_id, original_name="foto.jpg", content_type="image/jpeg",
                                   size=size, sha256="0" * 64, uploaded_by_id=user_id, uploaded_role="student"))
        uow.commit()


def _section(page: str, heading: str) -> str:
    start = page.index(heading)
    nxt = page.find("<h2", start + 1)
    return page[start:nxt if nxt != -1 else len(page)]


def test_r27_the_beheerder_sees_exams_whose_retention_passed_or_passes_this_year(app, world, uow_factory, admin):
    old, _ = start_and_walk_to(world, uow_factory, None)                      # ended 11 years ago
    _ended(uow_factory, old, timedelta(days=11 * 365 + 3))
    _attach(uow_factory, old, world.users["student_a"], 3 * 1048576)
    _attach(uow_factory, old, world.users["student_a"], 1048576)
    soon, _ = start_and_walk_to(world, uow_factory, None, student="student_a2")  # ends in about half a year
    _ended(uow_factory, soon, timedelta(days=int(9.5 * 365)))
    recent, _ = start_and_walk_to(world, uow_factory, None)                   # ended now: not listed
    running, _ = start_and_walk_to(world, uow_factory, "afspraken_plannen")    # still running: not listed
    with uow_factory() as uow:
        uow.session.execute(update(ProcessInstance).where(ProcessInstance.id == running)
                            .values(updated_at=utcnow() - timedelta(days=12 * 365)))
        uow.commit()
    # An exam at exam moments (its registration's process), ended 10 years and a week ago.
    setup = make_exam(world, uow_factory)
    reg_id = registrations.register_student(setup.exam_id, world.students["student_a2"], world.users["bureau_a"],
                                            uow_factory())
    with uow_factory() as uow:
        moment_exam = uow.session.get(ExamRegistration, reg_id).instance_id
    _ended(uow_factory, moment_exam, timedelta(days=10 * 365 + 10))
    # An exam of another school is not this beheerder's.
    other_school, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    with uow_factory() as uow:
        uow.session.execute(update(ProcessInstance).where(ProcessInstance.id == other_school)
                            .values(school_id=world.schools["b"]))
        uow.commit()
    _ended(uow_factory, other_school, timedelta(days=20 * 365))

    client = app.test_client()
    login(client, "beheer@test.nl")
    resp = client.get(URL.format(school=world.schools["a"]))
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    listed = {int(i) for i in re.findall(r'href="/examens/(\d+)"', page)}
    assert listed == {old, soon, moment_exam}
    past = _section(page, "Termijn verstreken")
    assert f'href="/examens/{old}"' in past and f'href="/examens/{moment_exam}"' in past
    assert "Sara Student (A001)" in past and "Nederlands 2F lezen" in past and "Examen (examenmoment)" in past
    assert "2 (4.0 MiB)" in past and "ondertekende formulieren" in past
    upcoming = _section(page, "Termijn verstrijkt binnen twaalf maanden")
    assert f'href="/examens/{soon}"' in upcoming and "Sem Student (A002)" in upcoming
    # The end and retention dates: ten years apart.
    ended_on = (utcnow() - timedelta(days=11 * 365 + 3)).astimezone(retention.AMSTERDAM)
    assert re.search(rf"{ended_on:%d-%m}-{ended_on.year}.*?{ended_on:%d-%m}-{ended_on.year + 10}", past, re.S)
    # Nothing to delete, and it says why.
    assert "<form" not in page.split("<h1>", 1)[1]
    assert "nooit documenten" in page and "examencommissie" in page
    assert recent not in listed and running not in listed and other_school not in listed


def test_r27_the_retention_page_is_in_the_admin_menu_and_only_for_the_schools_beheerder(app, world, admin):
    client = app.test_client()
    login(client, "beheer@test.nl")
    page = client.get(f"/beheer/{world.schools['a']}/studenten").get_data(as_text=True)
    assert f'href="/beheer/{world.schools["a"]}/bewaartermijnen"' in page
    assert client.get(URL.format(school=world.schools["b"])).status_code == 403
    assert client.get(URL.format(school=999999)).status_code == 404
    for key in ("commissie_a", "bureau_a", "begeleider_a", "student_a"):
        other = app.test_client()
        login(other, world.email(key))
        assert other.get(URL.format(school=world.schools["a"])).status_code == 403, key


def test_the_horizon_and_the_ten_years_handle_month_ends_and_leap_days():
    from datetime import date

    assert retention._months_ahead(date(2026, 1, 31), 12) == date(2027, 1, 31)
    assert retention._months_ahead(date(2027, 2, 28), 12) == date(2028, 2, 28)
    assert retention._months_ahead(date(2028, 2, 29), 12) == date(2029, 2, 28)
    assert retention._years_back(date(2028, 2, 29), 10) == date(2018, 2, 28)
