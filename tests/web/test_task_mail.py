"""Mail when a task arrives: bundled per person, switchable per user, never results (real SMTP on loopback)."""

from __future__ import annotations

from sqlalchemy import select

from processes import runner
from processes.mail import Mailer
from processes.models import Student, User
from processes.task_mail import send_task_mails, set_task_mail
from tests.conftest import csrf_from, login
from tests.support.walk import start_and_walk_to, walk_to


def _students(uow_factory, school: int, n: int) -> list[int]:
    with uow_factory() as uow:
        users = [User(email=f"k{i}@klas.nl", name=f"Kandidaat {i}") for i in range(n)]
        uow.session.add_all(users)
        uow.session.flush()
        rows = [Student(user_id=u.id, school_id=school, student_number=f"K{i:03d}", cohort="2025", crebo="25655")
                for i, u in enumerate(users)]
        uow.session.add_all(rows)
        uow.commit()
        return [r.id for r in rows]


def test_setting_out_30_pvbs_sends_each_involved_person_one_mail(app, world, uow_factory, smtp):
    mailer = Mailer(app.config["EXAMENFLOW_SMTP"])
    ids = _students(uow_factory, world.schools["a"], 30)
    runner.set_out_pvbs(world.schools["a"], ids, world.users["begeleider_a"], uow_factory())
    assert send_task_mails(uow_factory(), mailer) == 1
    [mail] = smtp.to("begeleider_a@test.nl")
    assert mail["Subject"] == "30 nieuwe taken in Examenflow"
    body = mail.get_content()
    assert body.count("- Opdracht aanmaken") == 30 and "http://examens.test/taken" in body
    # The next round has nothing new: no second mail.
    assert send_task_mails(uow_factory(), mailer) == 0
    assert len(smtp.messages) == 1


def test_task_mail_can_be_switched_off_per_user(app, world, uow_factory, smtp):
    client = app.test_client()
    login(client, "begeleider_a@test.nl")
    token = csrf_from(client, "/mijn-account")
    assert client.post("/mijn-account", data={"csrf_token": token}).status_code == 302  # unchecked: off
    runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"], uow_factory())
    assert send_task_mails(uow_factory(), Mailer(app.config["EXAMENFLOW_SMTP"])) == 0
    set_task_mail(world.users["begeleider_a"], True, uow_factory())
    assert "checked" in client.get("/mijn-account").get_data(as_text=True)
    # Switched back on: tasks from before are not mailed afterwards, new ones are.
    assert send_task_mails(uow_factory(), Mailer(app.config["EXAMENFLOW_SMTP"])) == 0


def test_results_are_never_mailed(app, world, uow_factory, smtp):
    """Seed 004: a result is never e-mailed; a mail names tasks only, whatever the exam's stage."""
    mailer = Mailer(app.config["EXAMENFLOW_SMTP"])
    instance_id, _ = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    send_task_mails(uow_factory(), mailer)
    walk_to(world, uow_factory, instance_id, None)  # establishes the result, closes the exam
    send_task_mails(uow_factory(), mailer)
    assert smtp.messages  # tasks were mailed along the way
    for m in smtp.messages:
        body = m.get_content().lower()
        assert "voldaan" not in body and "uitslag" not in body and "resultaat" not in body


def test_no_smtp_host_means_no_mail_and_no_lost_notice(world, uow_factory):
    from processes.mail import SmtpSettings

    runner.start_pvb(world.schools["a"], world.students["student_a"], world.users["begeleider_a"], uow_factory())
    assert send_task_mails(uow_factory(), Mailer(SmtpSettings(host=None))) == 0
    with uow_factory() as uow:
        assert uow.session.scalar(select(User.task_mail_until).where(User.id == world.users["begeleider_a"])) is None


def test_a_school_wide_roles_unassigned_task_is_mailed_to_each_holder_at_that_school(app, world, uow_factory, smtp):
    """An objection reaches the whole examencommissie of the exam's school (R34): each member hears of it."""
    from processes import exam_requests

    mailer = Mailer(app.config["EXAMENFLOW_SMTP"])
    instance_id, _ = start_and_walk_to(world, uow_factory, "eindbeoordeling_vaststellen")
    walk_to(world, uow_factory, instance_id, None)
    send_task_mails(uow_factory(), mailer)
    before = len(smtp.messages)
    exam_requests.lodge_request(instance_id, world.users["student_a"], "inzage", "Ik wil mijn examen inzien.",
                                None, True, uow_factory())
    assert send_task_mails(uow_factory(), mailer) == 2
    new = smtp.messages[before:]
    assert sorted(m["To"] for m in new) == ["commissie_a2@test.nl", "commissie_a@test.nl"]
    assert all("Verzoek behandelen" in m.get_content() for m in new)
    # Not the other school's committee, and not twice.
    assert smtp.to("commissie_b@test.nl") == []
    assert send_task_mails(uow_factory(), mailer) == 0
