"""Importing students from CSV or Excel (R3, R4 and beyond) and exporting students and results (R4).

A file is read into rows, every row checked (Dutch message per bad row), and the good rows written in
one transaction. A student is matched by his student number at the school: a re-import updates him
instead of adding a second one; a file that changes nothing changes nothing. One account per person
(R2): an address that already has an account (a student elsewhere, a praktijkbegeleider) is linked.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy import select

from processes import policy
from processes.db import UnitOfWork
from processes.errors import BadRequest, NotFound
from processes.models import (
    ExamAssignment,
    ExamGroup,
    ExamGroupMember,
    ExamRegistration,
    ExamResult,
    ProcessInstance,
    RoleMembership,
    School,
    Student,
    User,
)

COLUMNS = {
    "studentnummer": "student_number",
    "naam": "name",
    "e-mailadres": "email",
    "email": "email",
    "e-mail": "email",
    "cohort": "cohort",
    "crebo": "crebo",
    "groep": "group",
}
REQUIRED = ("student_number", "name", "email", "cohort", "crebo")
MAX_ROWS = 20_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class RowError:
    row: int  # as the user sees it in his file: the header is row 1
    student_number: str
    messages: list[str]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def good(self) -> int:
        return self.created + self.updated + self.unchanged


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict]]:
    """The data rows of a CSV or .xlsx file as (row number, fields); anything else is refused."""
    name = (filename or "").lower()
    if name.endswith(".xlsx") or content[:4] == b"PK\x03\x04":
        table = _xlsx_table(content)
    elif name.endswith((".csv", ".txt")):
        table = _csv_table(content)
    else:
        raise BadRequest("Dit bestand kan niet worden ingelezen: kies een CSV-bestand (.csv) of een "
                         "Excel-bestand (.xlsx).")
    if not table:
        raise BadRequest("Het bestand is leeg.")
    header = [str(h or "").strip().lower() for h in table[0]]
    keys = [COLUMNS.get(h) for h in header]
    missing = [dutch for dutch, key in (("studentnummer", "student_number"), ("naam", "name"),
                                        ("e-mailadres", "email"), ("cohort", "cohort"), ("crebo", "crebo"))
               if key not in keys]
    if missing:
        raise BadRequest("De eerste regel moet de kolomnamen bevatten; ontbreekt: " + ", ".join(missing) + ".")
    if len(table) - 1 > MAX_ROWS:
        raise BadRequest(f"Een bestand heeft hoogstens {MAX_ROWS} regels.")
    rows = []
    for number, values in enumerate(table[1:], start=2):
        if not any(str(v or "").strip() for v in values):
            continue
        fields = {}
        for key, value in zip(keys, values, strict=False):
            if key and key not in fields:
                fields[key] = _text(value)
        rows.append((number, fields))
    return rows


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _csv_table(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if "\x00" in text:
        raise BadRequest("Dit is geen tekstbestand: kies een CSV-bestand (.csv) of een Excel-bestand (.xlsx).")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _xlsx_table(content: bytes) -> list[list]:
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BadRequest("Dit Excel-bestand kan niet worden gelezen. Sla het op als .xlsx en probeer het "
                         "opnieuw.") from exc
    try:
        ws = wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _check(fields: dict) -> list[str]:
    messages = []
    labels = {"student_number": "Studentnummer", "name": "Naam", "email": "E-mailadres", "cohort": "Cohort",
              "crebo": "Crebo"}
    for key in REQUIRED:
        if not fields.get(key):
            messages.append(f"{labels[key]} ontbreekt.")
    number, email = fields.get("student_number", ""), fields.get("email", "")
    if len(number) > 40:
        messages.append("Studentnummer is langer dan 40 tekens.")
    if len(fields.get("name", "")) > 200:
        messages.append("Naam is langer dan 200 tekens.")
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        messages.append(f"E-mailadres '{email[:60]}' is ongeldig.")
    cohort = fields.get("cohort", "")
    if cohort and not (cohort.isdigit() and len(cohort) == 4 and 2000 <= int(cohort) <= 2100):
        messages.append(f"Cohort '{cohort[:20]}' is geen jaartal: het cohort is het beginjaar van het "
                        "kwalificatiedossier, bv. 2024 (R10).")
    crebo = fields.get("crebo", "")
    if crebo and not (crebo.isdigit() and len(crebo) == 5):
        messages.append(f"Crebo '{crebo[:20]}' is geen nummer van vijf cijfers.")
    if len(fields.get("group", "")) > 100:
        messages.append("Groep is langer dan 100 tekens.")
    return messages


def import_students(school_id: int, actor_id: int, filename: str, content: bytes, uow: UnitOfWork,
                    *, dry_run: bool = False) -> ImportReport:
    """Checks every row and (unless ``dry_run``: the preview) writes the good ones in one transaction."""
    rows = read_rows(filename, content)
    report = ImportReport()
    with uow:
        s = uow.session
        actor = s.get(User, actor_id)
        if actor is None or s.get(School, school_id) is None:
            raise NotFound("Onbekende gebruiker of school.")
        policy.require_role(s, actor, school_id, ("beheerder",), "studenten importeren")
        for _, fields in rows:
            fields["email"] = fields.get("email", "").lower()
        numbers = {f["student_number"] for _, f in rows if f.get("student_number")}
        emails = {f["email"] for _, f in rows if f.get("email")}
        students = {st.student_number: st for st in _chunked(s, select(Student).where(Student.school_id == school_id),
                                                             Student.student_number, numbers)}
        users = {u.email: u for u in _chunked(s, select(User), User.email, emails)}
        users_by_id = {u.id: u for u in users.values()}
        for st in students.values():
            if st.user_id not in users_by_id:
                users_by_id[st.user_id] = s.get(User, st.user_id)
        student_of_user = {st.user_id: st for st in s.scalars(
            select(Student).where(Student.school_id == school_id,
                                  Student.user_id.in_([u.id for u in users.values()] or [0])))}
        groups = {g.name: g for g in s.scalars(select(ExamGroup).where(ExamGroup.school_id == school_id))}
        student_roles = set(s.scalars(select(RoleMembership.user_id).where(
            RoleMembership.school_id == school_id, RoleMembership.role == "student")))
        seen_numbers: dict[str, int] = {}
        seen_emails: dict[str, int] = {}
        for number, fields in rows:
            messages = _check(fields)
            sn, email = fields.get("student_number", ""), fields.get("email", "")
            if sn and sn in seen_numbers:
                messages.append(f"Studentnummer {sn} staat ook op regel {seen_numbers[sn]}.")
            if email and email in seen_emails:
                messages.append(f"E-mailadres {email} staat ook op regel {seen_emails[email]}.")
            existing = students.get(sn)
            owner = users.get(email)
            if not messages and owner is not None:
                other = student_of_user.get(owner.id)
                if other is not None and other.student_number != sn:
                    messages.append(f"E-mailadres {email} hoort al bij studentnummer {other.student_number}.")
            if messages:
                report.errors.append(RowError(number, sn, messages))
                continue
            seen_numbers[sn], seen_emails[email] = number, number
            if existing is None:
                report.created += 1
                if dry_run:
                    continue
                user = owner or User(email=email, name=fields["name"])
                if owner is None:
                    s.add(user)
                    s.flush()
                    users[email] = user
                st = Student(user_id=user.id, school_id=school_id, student_number=sn, cohort=fields["cohort"],
                             crebo=fields["crebo"])
                s.add(st)
                students[sn], student_of_user[user.id] = st, st
                if user.id not in student_roles:
                    s.add(RoleMembership(user_id=user.id, school_id=school_id, role="student"))
                    student_roles.add(user.id)
            else:
                user = users_by_id[existing.user_id]
                if owner is not None and owner.id != user.id:
                    report.errors.append(RowError(number, sn, [f"E-mailadres {email} hoort al bij een ander "
                                                               "account."]))
                    continue
                changes = {k: v for k, v in (("cohort", fields["cohort"]), ("crebo", fields["crebo"]))
                           if getattr(existing, k) != v}
                user_changes = {k: v for k, v in (("name", fields["name"]), ("email", email))
                                if getattr(user, k) != v}
                if not changes and not user_changes and not _group_change(s, groups, existing, fields):
                    report.unchanged += 1
                    continue
                report.updated += 1
                if dry_run:
                    continue
                for k, v in changes.items():
                    setattr(existing, k, v)
                for k, v in user_changes.items():
                    setattr(user, k, v)
                st = existing
            if fields.get("group"):
                _join_group(s, school_id, groups, st, fields)
        if not dry_run:
            uow.commit()
    report.errors.sort(key=lambda e: e.row)
    return report


def _chunked(s, query, column, values: set[str], size: int = 500) -> list:
    values = sorted(values)
    found = []
    for i in range(0, len(values), size):
        found.extend(s.scalars(query.where(column.in_(values[i:i + size]))))
    return found


def _group_change(s, groups: dict, st: Student, fields: dict) -> bool:
    name = fields.get("group")
    if not name:
        return False
    group = groups.get(name)
    if group is None or st.id is None:
        return True
    return s.scalar(select(ExamGroupMember.id).where(ExamGroupMember.group_id == group.id,
                                                     ExamGroupMember.student_id == st.id)) is None


def _join_group(s, school_id: int, groups: dict, st: Student, fields: dict) -> None:
    name = fields["group"]
    group = groups.get(name)
    if group is None:
        group = ExamGroup(school_id=school_id, name=name, cohort=fields["cohort"], crebo=fields["crebo"])
        s.add(group)
        groups[name] = group
    s.flush()
    if s.scalar(select(ExamGroupMember.id).where(ExamGroupMember.group_id == group.id,
                                                 ExamGroupMember.student_id == st.id)) is None:
        s.add(ExamGroupMember(group_id=group.id, student_id=st.id))


# ----------------------------------------------------------------------------- export (R4)


def _workbook(title: str, header: list[str], rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(r)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def students_workbook(school_id: int, actor_id: int, uow: UnitOfWork) -> bytes:
    """Every student of the school, archived ones included (the admin's export, R4)."""
    with uow:
        s = uow.session
        policy.require_role(s, s.get(User, actor_id), school_id, ("beheerder",), "studenten exporteren")
        group_names: dict[int, list[str]] = {}
        for sid, name in s.execute(select(ExamGroupMember.student_id, ExamGroup.name)
                                   .join(ExamGroup, ExamGroup.id == ExamGroupMember.group_id)
                                   .where(ExamGroup.school_id == school_id)):
            group_names.setdefault(sid, []).append(name)
        rows = [[st.student_number, u.name, u.email, st.cohort, st.crebo, ", ".join(group_names.get(st.id, [])),
                 "ja" if st.archived_at else "nee"]
                for st, u in s.execute(select(Student, User).join(User, User.id == Student.user_id)
                                       .where(Student.school_id == school_id).order_by(Student.student_number))]
    return _workbook("Studenten", ["studentnummer", "naam", "e-mailadres", "cohort", "crebo", "groep",
                                   "gearchiveerd"], rows)


def results_workbook(school_id: int, actor_id: int, uow: UnitOfWork) -> bytes:
    """The established results of the school's PvBs and exams at exam moments (R4, R38)."""
    with uow:
        s = uow.session
        policy.require_role(s, s.get(User, actor_id), school_id, ("beheerder",), "resultaten exporteren")
        rows = []
        for st, u, inst, ea in s.execute(
                select(Student, User, ProcessInstance, ExamAssignment)
                .join(User, User.id == Student.user_id)
                .join(ProcessInstance, ProcessInstance.student_id == Student.id)
                .join(ExamAssignment, ExamAssignment.instance_id == ProcessInstance.id)
                .where(Student.school_id == school_id, ExamAssignment.result_established_at.is_not(None))
                .order_by(Student.student_number, ProcessInstance.id)):
            rows.append([st.student_number, u.name, st.cohort, st.crebo, "PvB", inst.title,
                         "voldaan" if ea.result == "voldaan" else "niet voldaan", "definitief",
                         ea.result_established_at.replace(tzinfo=None), inst.id])
        for st, u, inst, res in s.execute(
                select(Student, User, ProcessInstance, ExamResult)
                .join(User, User.id == Student.user_id)
                .join(ExamRegistration, ExamRegistration.student_id == Student.id)
                .join(ProcessInstance, ProcessInstance.id == ExamRegistration.instance_id)
                .join(ExamResult, ExamResult.instance_id == ProcessInstance.id)
                .where(Student.school_id == school_id, ExamResult.status == "definitief")
                .order_by(Student.student_number, ExamResult.id)):
            rows.append([st.student_number, u.name, st.cohort, st.crebo, "examen", inst.title,
                         "behaald" if res.passed else "niet behaald", res.status,
                         res.established_at.replace(tzinfo=None) if res.established_at else None, inst.id])
    return _workbook("Resultaten", ["studentnummer", "naam", "cohort", "crebo", "soort", "examen", "resultaat",
                                    "status", "vastgesteld op (UTC)", "examen-id"], rows)
