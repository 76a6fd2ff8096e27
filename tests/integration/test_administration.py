"""School administration at the use-case level: import and export (R3, R4), groups and archiving (R6, R10,
R27), setting out for a group (R9), changing people (R7, R19, R22), settings with their history."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from processes import accounts, administration, assignments, queries, runner, student_import
from processes.errors import BadRequest, Conflict, Forbidden, ValidationFailed
from processes.models import (
    AuditEvent,
    HumanTask,
    ProcessInstance,
    SchoolSettingChange,
    Student,
    User,
)
from tests.conftest import PASSWORD
from tests.support.admin import MODEL
from tests.support.walk import start_and_walk_to


def _csv(rows: list[list[str]], header=("studentnummer", "naam", "e-mailadres", "cohort", "crebo")) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=";")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _thousand_rows_seven_bad() -> list[list[str]]:
    rows = [[f"S{i:05d}", f"Student {i}", f"s{i}@import.nl", "2025", "25655"] for i in range(1000)]
    rows[10][0] = ""                     # no student number
    rows[20][2] = "geen-adres"           # bad address
    rows[30][3] = "25/26"                # cohort is not a year
    rows[40][4] = "123"                  # crebo not five digits
    rows[50][1] = ""                     # no name
    rows[60][0] = rows[59][0]            # student number twice
    rows[70][2] = rows[69][2]            # address twice
    return rows


def test_r4_import_of_1000_rows_with_7_bad_imports_993_and_lists_the_7(world, admin, uow_factory):
    content = _csv(_thousand_rows_seven_bad())
    preview = student_import.import_students(world.schools["a"], admin, "klas.csv", content, uow_factory(),
                                             dry_run=True)
    assert (preview.created, len(preview.errors)) == (993, 7)
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count(Student.id))) == 3  # the preview wrote nothing
    report = student_import.import_students(world.schools["a"], admin, "klas.csv", content, uow_factory())
    assert (report.created, report.updated, len(report.errors)) == (993, 0, 7)
    assert [e.row for e in report.errors] == [12, 22, 32, 42, 52, 62, 72]
    messages = " ".join(m for e in report.errors for m in e.messages)
    for expected in ("Studentnummer ontbreekt", "is ongeldig", "geen jaartal", "vijf cijfers", "Naam ontbreekt",
                     "staat ook op regel 61", "staat ook op regel 71"):
        assert expected in messages
    # Importing it again changes nothing.
    again = student_import.import_students(world.schools["a"], admin, "klas.csv", content, uow_factory())
    assert (again.created, again.updated, again.unchanged, len(again.errors)) == (0, 0, 993, 7)
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count(Student.id))) == 3 + 993


def test_r3_reimport_updates_by_student_number_from_excel(world, admin, uow_factory):
    student_import.import_students(world.schools["a"], admin, "a.csv",
                                   _csv([["X1", "Xander", "x1@import.nl", "2024", "25655"]]), uow_factory())
    wb = Workbook()
    wb.active.append(["Studentnummer", "Naam", "E-mailadres", "Cohort", "Crebo", "Groep"])
    wb.active.append(["X1", "Xander de Vries", "x1@import.nl", 2025, 25655, "2025-A"])
    buf = io.BytesIO()
    wb.save(buf)
    report = student_import.import_students(world.schools["a"], admin, "klas.xlsx", buf.getvalue(), uow_factory())
    assert (report.created, report.updated) == (0, 1)
    with uow_factory() as uow:
        st = uow.session.scalar(select(Student).where(Student.student_number == "X1"))
        assert (st.cohort, st.user.name) == ("2025", "Xander de Vries")
    groups = administration.list_groups(world.schools["a"], admin, uow_factory())
    assert [(g.name, g.members) for g in groups] == [("2025-A", 1)]


def test_r2_import_links_an_existing_account_instead_of_a_second_one(world, admin, uow_factory):
    # Sofie studies at school B; now also at school A, with the same account.
    student_import.import_students(world.schools["a"], admin, "a.csv",
                                   _csv([["A900", "Sofie Student", "student_b@test.nl", "2024", "25655"]]),
                                   uow_factory())
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count(User.id)).where(User.email == "student_b@test.nl")) == 1
        assert uow.session.scalar(select(func.count(Student.id)).where(
            Student.user_id == world.users["student_b"])) == 2


def test_r4_a_file_that_is_not_csv_or_excel_is_refused(world, admin, uow_factory):
    with pytest.raises(BadRequest, match="CSV-bestand"):
        student_import.import_students(world.schools["a"], admin, "foto.png", b"\x89PNG\r\n", uow_factory())
    with pytest.raises(BadRequest, match="Excel-bestand kan niet"):
        student_import.import_students(world.schools["a"], admin, "kapot.xlsx", b"PK\x03\x04rommel", uow_factory())
    with pytest.raises(BadRequest, match="ontbreekt: studentnummer"):
        student_import.import_students(world.schools["a"], admin, "a.csv", b"naam;email\nx;y\n", uow_factory())


def test_r4_students_and_results_export_to_excel(world, admin, uow_factory):
    wb = load_workbook(io.BytesIO(student_import.students_workbook(world.schools["a"], admin, uow_factory())))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][:5] == ("studentnummer", "naam", "e-mailadres", "cohort", "crebo")
    assert {r[0] for r in rows[1:]} == {"A001", "A002"}
    instance_id, _ = start_and_walk_to(world, uow_factory, None)
    wb = load_workbook(io.BytesIO(student_import.results_workbook(world.schools["a"], admin, uow_factory())))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[1][0] == "A001" and rows[1][6] == "voldaan" and rows[1][9] == instance_id
    with pytest.raises(Forbidden):
        student_import.students_workbook(world.schools["a"], world.users["begeleider_a"], uow_factory())


def test_r6_r27_archived_group_and_students_hidden_from_teachers_not_from_the_admin(world, admin, uow_factory):
    school = world.schools["a"]
    with pytest.raises(ValidationFailed) as exc:
        administration.create_group(school, admin, "Klas", "24/25", "25655", uow_factory())
    assert "beginjaar van het kwalificatiedossier" in exc.value.errors["cohort"][0]  # R10
    group = administration.create_group(school, admin, "2024 Verzorgende", "2024", "25655", uow_factory())
    assert administration.group_members(school, admin, group, uow_factory()) == sorted(
        [world.students["student_a"], world.students["student_a2"]])
    administration.archive_group(school, admin, group, uow_factory(), with_students=True)
    teacher = world.users["begeleider_a"]
    assert administration.list_groups(school, teacher, uow_factory(), include_archived=True) == []
    assert administration.list_students(school, teacher, uow_factory(), include_archived=True) == []
    [g] = administration.list_groups(school, admin, uow_factory(), include_archived=True)
    assert g.archived and g.retain_until is not None  # recorded per record
    students = administration.list_students(school, admin, uow_factory(), include_archived=True)
    assert len(students) == 2 and all(s.archived for s in students)
    assert all(s.retain_until is not None for s in students)
    with uow_factory() as uow:  # nothing deleted, kept ten years
        st = uow.session.get(Student, world.students["student_a"])
        assert st.retain_until.year == st.archived_at.year + 10
    # An archived student cannot be set out for.
    with pytest.raises(ValidationFailed, match="Het formulier"):
        runner.set_out_pvbs(school, [world.students["student_a"]], teacher, uow_factory())


def test_r9_setting_out_for_a_group_starts_a_pvb_for_each(world, admin, uow_factory):
    school = world.schools["a"]
    aid = assignments.create_assignment(school, "PVB-1", "Proeve", "Tekst", MODEL, uow_factory(), established=True)
    group = administration.create_group(school, admin, "Groep", "2024", "25655", uow_factory())
    ids = runner.set_out_pvbs(school, administration.group_members(school, admin, group, uow_factory()), admin,
                              uow_factory(), assignment_id=aid, begeleider_id=world.users["begeleider_a"])
    assert len(ids) == 2
    inbox = queries.list_my_tasks(world.users["begeleider_a"], uow_factory())
    assert {r.instance_id for r in inbox.items} >= set(ids)
    with pytest.raises(ValidationFailed):  # the admin must name a ROC-begeleider
        runner.set_out_pvbs(school, [world.students["student_a"]], admin, uow_factory(), assignment_id=aid)


def _many_students(uow_factory, school: int, n: int) -> list[int]:
    with uow_factory() as uow:
        s = uow.session
        users = [User(email=f"m{i}@bulk.nl", name=f"Student {i}") for i in range(n)]
        s.add_all(users)
        s.flush()
        students = [Student(user_id=u.id, school_id=school, student_number=f"M{i:04d}", cohort="2025",
                            crebo="25655") for i, u in enumerate(users)]
        s.add_all(students)
        uow.commit()
        return [st.id for st in students]


def test_r9_setting_out_500_is_all_or_nothing_when_one_fails(world, uow_factory, monkeypatch):
    school = world.schools["a"]
    ids = _many_students(uow_factory, school, 500)
    real = runner._create_pvb
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 437:
            raise Conflict("De opdracht van deze student kan niet worden uitgezet.")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_create_pvb", failing)
    with uow_factory() as uow:
        before = uow.session.scalar(select(func.count(ProcessInstance.id)))
    with pytest.raises(Conflict):
        runner.set_out_pvbs(school, ids, world.users["begeleider_a"], uow_factory())
    assert calls["n"] == 437
    with uow_factory() as uow:
        s = uow.session
        assert s.scalar(select(func.count(ProcessInstance.id))) == before
        assert s.scalar(select(func.count(HumanTask.id))) == 0
        assert s.scalar(select(func.count(AuditEvent.id))) == 0
    monkeypatch.setattr(runner, "_create_pvb", real)
    assert len(runner.set_out_pvbs(school, ids, world.users["begeleider_a"], uow_factory())) == 500


def test_settings_change_is_recorded_with_who_and_when(world, admin, uow_factory):
    school = world.schools["a"]
    assert administration.change_school_setting(school, admin, "een_beoordelaar_toegestaan", "ja", uow_factory())
    assert not administration.change_school_setting(school, admin, "een_beoordelaar_toegestaan", "ja",
                                                    uow_factory())
    _rows, history = administration.school_settings(school, admin, uow_factory())
    assert [(h.key, h.old, h.new, h.by) for h in history] == [("een_beoordelaar_toegestaan", None, True, "Bea Beheer")]
    with pytest.raises(Forbidden):
        administration.change_school_setting(school, world.users["begeleider_a"], "bewijsstukken_gebruiken", "nee",
                                             uow_factory())
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count(SchoolSettingChange.id))) == 1


def test_r22_admin_replaces_an_assessor_during_execution_and_the_open_task_moves(world, admin, uow_factory):
    instance_id, task_id = start_and_walk_to(world, uow_factory, "beoordelen_praktijk")
    old, new = world.users["beoordelaar_a"], world.users["beoordelaar_a2"]
    assert task_id in {r.task_id for r in queries.list_my_tasks(old, uow_factory()).items}
    with pytest.raises(Forbidden, match="beheerder"):  # R7: after establishment not the begeleider
        assignments.change_participant(instance_id, "praktijkbeoordelaar", new, world.users["begeleider_a"],
                                       uow_factory())
    assignments.change_participant(instance_id, "praktijkbeoordelaar", new, admin, uow_factory())
    assert task_id in {r.task_id for r in queries.list_my_tasks(new, uow_factory()).items}
    assert task_id not in {r.task_id for r in queries.list_my_tasks(old, uow_factory()).items}
    with uow_factory() as uow:
        ev = uow.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                 .order_by(AuditEvent.seq.desc())).first()
        assert ev.action == "participant_changed" and ev.role == "beheerder"
        assert ev.details == {"role": "praktijkbeoordelaar", "from": old, "to": new}


def test_r19_wrongly_chosen_assignment_is_replaced_before_establishment(world, admin, uow_factory):
    school = world.schools["a"]
    wrong = assignments.create_assignment(school, "FOUT", "Verkeerde", "x", MODEL, uow_factory())
    right = assignments.create_assignment(school, "GOED", "Juiste", "y", MODEL, uow_factory())
    instance_id, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven", assignment_id=wrong)
    assignments.replace_exam_assignment(instance_id, right, world.users["begeleider_a"], uow_factory())
    with uow_factory() as uow:
        events = uow.session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == instance_id)).all()
    assert "assignment_replaced" in events
    later, _ = start_and_walk_to(world, uow_factory, "afspraken_plannen", assignment_id=wrong)
    with pytest.raises(Conflict, match="R19"):
        assignments.replace_exam_assignment(later, right, world.users["begeleider_a"], uow_factory())


def test_deactivating_an_account_bumps_its_sessions(world, admin, uow_factory):
    administration.set_account_active(world.schools["a"], admin, world.users["student_a"], False, uow_factory())
    with uow_factory() as uow:
        user = uow.session.get(User, world.users["student_a"])
        assert not user.active and user.session_version == 2
    assert accounts.load_session_user(world.users["student_a"], 1, uow_factory()) is None


def test_r1_one_beheerder_per_school_created_by_the_operator(world, admin, uow_factory):
    other = accounts.create_user("tweede@test.nl", "Tweede Beheerder", PASSWORD, uow_factory())
    with pytest.raises(BadRequest, match="R1"):
        accounts.grant_role(other, world.schools["a"], "beheerder", uow_factory())
    # The beheerder cannot make another beheerder from the admin pages either.
    with pytest.raises(ValidationFailed):
        administration.create_account(world.schools["a"], admin, "tweede@test.nl", "Tweede", "beheerder",
                                      uow_factory())
