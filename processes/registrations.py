"""Use cases around exams at exam moments that drive ``bpmn/aanmelden.bpmn``: registering students
for their exams (R41), carrying untaken exams to the next school year, unenrolling, the cut-off score
(R38), the mandate (R33) and the student's "Mijn examens" (R49). A moment's cancellation and its
proces-verbaal (R36) are in ``processes/moments.py``.

Each use case is one transaction; where it moves a process on (the proces-verbaal, the cut-off score)
it does so the way the runner does a step: claim the revision, run the engine, store, sync, audit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, undefer

from handlers.calendar import to_amsterdam, use_school_calendar
from handlers.clock import use_clock
from processes import audit, policy
from processes.db import UnitOfWork
from processes.engine import default_engine
from processes.enrolment import attempts_allowed, attempts_used, cancelled_moment_of
from processes.errors import Conflict, NotFound, ValidationFailed
from processes.models import (
    Enrolment,
    Exam,
    ExamGo,
    ExamMoment,
    ExamRegistration,
    ExamResult,
    ExamVersion,
    HumanTask,
    Mandate,
    Participant,
    ProcessInstance,
    School,
    Student,
    User,
    utcnow,
)
from processes.registration_context import REGISTRATION_PROCESS, VERSION_APPROVAL_PROCESS, active_mandate
from processes.runner import _claim, _ctx_factory, _LostRace, _run_step, _store_state, exam_context, sync_index
from processes.versions import latest_version_id, loaded_version

log = logging.getLogger(__name__)

SYSTEM = "systeem"


def school_year_of(when: datetime) -> str:
    """The Dutch school year a moment falls in: from 1 August, "2026-2027"."""
    local = to_amsterdam(when)
    start = local.year if local.month >= 8 else local.year - 1
    return f"{start}-{start + 1}"


def next_school_year(school_year: str) -> str:
    start = int(school_year.split("-")[0]) + 1
    return f"{start}-{start + 1}"


def _check_school_year(value: str) -> str:
    parts = value.split("-") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 4 for p in parts) or int(parts[1]) != int(parts[0]) + 1:
        raise ValidationFailed({"school_year": [f"'{value}' is geen schooljaar; schrijf het als 2026-2027."]})
    return value


def audit_outside_step(s: Session, inst: ProcessInstance, actor: User | None, role: str, action: str, summary: str,
                   data: dict, now: datetime) -> None:
    """An audit event on an instance outside an engine step: the revision is claimed first (decision 2),
    so two writers never fork its hash chain."""
    try:
        _claim(s, inst, inst.revision)
    except _LostRace:
        raise Conflict("Het examen is intussen door iemand anders gewijzigd. Probeer het opnieuw.") from None
    audit.append_event(s, inst, actor_id=actor.id if actor else None, actor_name=actor.name if actor else "Examenflow",
                       role=role, action=action, summary=summary, data=data, details=data, now=now)


def acting_user(s: Session, actor_id: int | None) -> User | None:
    return None if actor_id is None else policy.active_user(s, actor_id)


# --------------------------------------------------------------------------- registering (R41)


def register_student(exam_id: int, student_id: int, actor_id: int | None, uow: UnitOfWork,
                     school_year: str | None = None) -> int:
    """Puts an exam on a student's list of open exams and starts its enrolment process, which waits
    for the Go (R42). Returns the registration's id."""
    with uow:
        s = uow.session
        exam = s.get(Exam, exam_id)
        if exam is None:
            raise NotFound("Onbekend examen.")
        student = s.get(Student, student_id)
        if student is None or student.school_id != exam.school_id:
            raise NotFound("Onbekende student op de school van dit examen.")
        actor = acting_user(s, actor_id)
        role = SYSTEM
        if actor is not None:
            role = policy.require_role(s, actor, exam.school_id, ("examenbureau", "roc_begeleider"),
                                       "een student voor een examen registreren")
        if s.scalar(select(ExamRegistration.id).where(ExamRegistration.exam_id == exam.id,
                                                      ExamRegistration.student_id == student.id)):
            raise Conflict(f"Deze student staat al geregistreerd voor {exam.code}.")
        now = utcnow()
        reg = _register(s, exam, student.id, student.user_id, actor, role, now, school_year or school_year_of(now))
        uow.commit()
        return reg.id


def _register(s: Session, exam: Exam, student_id: int, student_user_id: int, actor: User | None, role: str,
              now: datetime, school_year: str, version_id: int | None = None,
              school: School | None = None) -> ExamRegistration:
    school = school or s.get(School, exam.school_id)
    version = loaded_version(s, version_id or latest_version_id(s, REGISTRATION_PROCESS, exam.school_id))
    inst = ProcessInstance(
        version_id=version.id, school_id=exam.school_id, student_id=student_id,
        title=f"{exam.code} {exam.title}", status="running", revision=1,
        started_by_id=actor.id if actor else None, started_at=now, updated_at=now,
    )
    s.add(inst)
    s.flush()
    reg = ExamRegistration(school_id=exam.school_id, exam_id=exam.id, student_id=student_id, instance_id=inst.id,
                           school_year=school_year, status="open", extra_attempts=0, created_at=now)
    s.add(reg)
    people = {"student": student_user_id}
    if exam.teacher_id:
        people["roc_begeleider"] = exam.teacher_id
    if exam.assessor_id:
        people["roc_beoordelaar"] = exam.assessor_id
    s.add_all([Participant(instance_id=inst.id, role=r, user_id=u) for r, u in people.items()])
    s.flush()
    ctx = exam_context(s, inst, version, actor, role, now)
    ctx._people = dict(people)
    engine = default_engine()
    wf = engine.new_workflow(version.key, version.spec_json)
    with use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, ctx)), "Registreren")
    inst.state = engine.dump(wf)
    sync_index(s, inst, wf, now, people=people, had_timers=False)
    audit.append_event(
        s, inst, actor_id=actor.id if actor else None, actor_name=actor.name if actor else "Examenflow", role=role,
        action="instance_started", summary=f"Geregistreerd voor {exam.code} in schooljaar {school_year} (R41)",
        data={"process_id": REGISTRATION_PROCESS, "version": version.version, "exam": exam.id,
              "student_id": student_id, "school_year": school_year},
        now=now,
    )
    return reg


def start_version_approval(s: Session, version: ExamVersion, exam: Exam, actor: User, role: str,
                           now: datetime) -> ProcessInstance:
    """R35: a version outside the exam bank reaches the examencommissie's inbox as a task; approving it
    establishes it. Runs in the caller's transaction."""
    school = s.get(School, exam.school_id)
    pv = loaded_version(s, latest_version_id(s, VERSION_APPROVAL_PROCESS, exam.school_id))
    inst = ProcessInstance(version_id=pv.id, school_id=exam.school_id, student_id=None,
                           title=f"Goedkeuring {exam.code} versie {version.version}", status="running", revision=1,
                           started_by_id=actor.id, started_at=now, updated_at=now)
    s.add(inst)
    s.flush()
    ctx = exam_context(s, inst, pv, actor, role, now)
    engine = default_engine()
    wf = engine.new_workflow(pv.key, pv.spec_json)
    engine.set_start_data(wf, {"examenversie": version.id})
    with use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, ctx)), "Goedkeuring aanvragen")
    inst.state = engine.dump(wf)
    sync_index(s, inst, wf, now, people={}, had_timers=False)
    audit.append_event(s, inst, actor_id=actor.id, actor_name=actor.name, role=role, action="instance_started",
                       summary=f"Versie {version.version} van {exam.code} staat niet in de examenbank: "
                               "goedkeuring gevraagd aan de examencommissie (R35)",
                       data={"process_id": VERSION_APPROVAL_PROCESS, "exam_version": version.id}, now=now)
    return inst


@dataclass
class CohortRegistration:
    created: int = 0
    already: int = 0
    exams: int = 0
    students: int = 0


def register_cohort(school_id: int, actor_id: int | None, uow: UnitOfWork, *, cohort: str | None = None,
                    crebo: str | None = None, school_year: str | None = None, batch_size: int = 500,
                    progress=None) -> CohortRegistration:
    """R41: registers every active student of the school for the exams of his programme (crebo) and,
    where an exam names one, his cohort. Students already registered for an exam are left alone, so
    running it again (the scheduler does, daily) only adds what is new. Commits per batch."""
    outcome = CohortRegistration()
    with uow:
        s = uow.session
        school = s.get(School, school_id)
        if school is None:
            raise NotFound("Onbekende school.")
        actor = acting_user(s, actor_id)
        role = SYSTEM
        if actor is not None:
            role = policy.require_role(s, actor, school_id, ("examenbureau",), "studenten automatisch registreren")
        year = _check_school_year(school_year) if school_year else school_year_of(utcnow())
        exams_q = select(Exam).where(Exam.school_id == school_id)
        if crebo:
            exams_q = exams_q.where(Exam.crebo == crebo)
        exams = list(s.scalars(exams_q.order_by(Exam.id)))
        students_q = (select(Student.id, Student.user_id, Student.crebo, Student.cohort)
                      .join(User, User.id == Student.user_id)
                      .where(Student.school_id == school_id, User.active.is_(True)))
        if cohort:
            students_q = students_q.where(Student.cohort == cohort)
        students = s.execute(students_q.order_by(Student.id)).all()
        outcome.exams, outcome.students = len(exams), len(students)
        existing = set(s.execute(select(ExamRegistration.exam_id, ExamRegistration.student_id)
                                 .where(ExamRegistration.school_id == school_id)).tuples())
        version_id = latest_version_id(s, REGISTRATION_PROCESS, school_id) if exams and students else None
        pending = 0
        for exam in exams:
            for student in students:
                if student.crebo != exam.crebo or (exam.cohort and student.cohort != exam.cohort):
                    continue
                if (exam.id, student.id) in existing:
                    outcome.already += 1
                    continue
                _register(s, exam, student.id, student.user_id, actor, role, utcnow(), year, version_id, school)
                outcome.created += 1
                pending += 1
                if pending >= batch_size:
                    uow.commit()
                    s.expunge_all()
                    pending = 0
                    if progress:
                        progress(outcome)
        uow.commit()
    log.info("school %s: %s registrations created, %s already there", school_id, outcome.created, outcome.already)
    return outcome


def carry_over(school_id: int, from_year: str, actor_id: int | None, uow: UnitOfWork) -> int:
    """R41: exams not taken in ``from_year`` (still open) move to the next school year. Returns how many."""
    _check_school_year(from_year)
    to_year = next_school_year(from_year)
    moved = 0
    with uow:
        s = uow.session
        actor = acting_user(s, actor_id)
        role = SYSTEM
        if actor is not None:
            role = policy.require_role(s, actor, school_id, ("examenbureau",), "examens doorschuiven")
        now = utcnow()
        rows = s.execute(
            select(ExamRegistration, ProcessInstance)
            .join(ProcessInstance, ProcessInstance.id == ExamRegistration.instance_id)
            .where(ExamRegistration.school_id == school_id, ExamRegistration.school_year == from_year,
                   ExamRegistration.status == "open")
        ).all()
        for reg, inst in rows:
            reg.school_year = to_year
            audit_outside_step(s, inst, actor, role, "registration_carried_over",
                           f"Niet afgerond in {from_year}: doorgeschoven naar {to_year} (R41)",
                           {"from": from_year, "to": to_year}, now)
            moved += 1
        uow.commit()
    return moved


def carry_over_due(uow_factory, now: datetime | None = None) -> int:
    """R41 in the scheduler: on the first day of a school year every school's open exams of earlier
    years move to the new one. Returns how many moved."""
    current = school_year_of(now or utcnow())
    with uow_factory() as uow:
        due = uow.session.execute(
            select(ExamRegistration.school_id, ExamRegistration.school_year).distinct()
            .where(ExamRegistration.status == "open", ExamRegistration.school_year < current)
        ).all()
    moved = 0
    for school_id, year in sorted(due):
        while year < current:
            moved += carry_over(school_id, year, None, uow_factory())
            year = next_school_year(year)
    return moved


def register_all_schools(uow_factory) -> int:
    """R41 in the scheduler: every school's students for the exams of their programme. Returns how many
    registrations were made."""
    with uow_factory() as uow:
        school_ids = uow.session.scalars(select(School.id).order_by(School.id)).all()
    created = 0
    for school_id in school_ids:
        created += register_cohort(school_id, None, uow_factory()).created
    return created


# --------------------------------------------------------------------------- moving a process on


def deliver(s: Session, instance_id: int, message: str, payload: dict, now: datetime, actor: User | None,
            role: str, summary: str, details: dict | None = None) -> bool:
    """Delivers a BPMN message to one instance and runs it on, in the caller's transaction.
    Returns False (and changes nothing) when the instance is not waiting for it."""
    inst = s.get(ProcessInstance, instance_id, options=[undefer(ProcessInstance.state)])
    if inst is None or inst.status != "running":
        return False
    seen = inst.revision
    version = loaded_version(s, inst.version_id)
    school = s.get(School, inst.school_id)
    engine = default_engine()
    wf = engine.load(version.key, version.spec_json, inst.state)
    if not engine.deliver_message(wf, message, payload):
        return False
    _claim(s, inst, seen)
    ctx = exam_context(s, inst, version, actor, role, now)
    ctx.audit(f"message_{message}", summary, details=details or payload)
    with use_clock(now), use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, ctx)), summary)
    status = "completed" if engine.is_completed(wf) else "running"
    _store_state(s, inst, engine.dump(wf), status, now)
    sync_index(s, inst, wf, now, people=ctx.participants())
    return True


# The user tasks of aanmelden.bpmn at which the process waits for an enrolment.
ENROLMENT_TASKS = ("inschrijven_bureau", "examenmoment_kiezen")


def enrolled_outside_the_task(s: Session, enrolment: Enrolment, actor: User, role: str, now: datetime) -> bool:
    """An enrolment made outside the process (the API, OKE flow 2) for a student whose process waits at
    an enrolment task: that task is completed with it, in the caller's transaction, signed by the one who
    enrolled. Returns False when the process was not waiting for an enrolment (nothing changes)."""
    instance_id = s.scalar(select(ExamRegistration.instance_id).where(ExamRegistration.id == enrolment.registration_id))
    task = s.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open",
                                            HumanTask.element_id.in_(ENROLMENT_TASKS)))
    if task is None:
        inst = s.get(ProcessInstance, instance_id)
        audit_outside_step(s, inst, actor, role, "student_enrolled",
                       f"Ingeschreven buiten het proces om (inschrijving {enrolment.id}, poging {enrolment.attempt})",
                       {"enrolment": enrolment.id, "moment": enrolment.moment_id,
                        "external_id": enrolment.external_id}, now)
        return False
    inst = s.get(ProcessInstance, instance_id, options=[undefer(ProcessInstance.state)])
    seen = inst.revision
    version = loaded_version(s, inst.version_id)
    school = s.get(School, inst.school_id)
    engine = default_engine()
    wf = engine.load(version.key, version.spec_json, inst.state)
    _claim(s, inst, seen)
    ctx = exam_context(s, inst, version, actor, role, now)
    data = {"moment": enrolment.moment_id, **{code: True for code in enrolment.accommodations}}
    ctx.audit("task_completed", f"{task.name} afgerond met een inschrijving van buiten de taak",
              details={"enrolment": enrolment.id, "moment": enrolment.moment_id, "external_id": enrolment.external_id})
    engine.complete_user_task(wf, task.task_guid, data)
    with use_clock(now), use_school_calendar(school.settings or {}):
        _run_step(lambda: engine.run(wf, _ctx_factory(inst, school, ctx)), task.name)
    task.status, task.completed_by_id, task.completed_role, task.completed_at = "completed", actor.id, role, now
    _store_state(s, inst, engine.dump(wf), "completed" if engine.is_completed(wf) else "running", now)
    sync_index(s, inst, wf, now, people=ctx.participants())
    return True


def release_seat(s: Session, enrolment: Enrolment) -> bool:
    """Unenrols (status afgemeld) and frees the seat, once: two conditional UPDATEs. False if the
    enrolment was no longer ingeschreven (taken, absent or unenrolled already)."""
    done = s.execute(
        update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.status == "ingeschreven")
        .values(status="afgemeld").execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        return False
    s.execute(update(ExamMoment).where(ExamMoment.id == enrolment.moment_id, ExamMoment.enrolled > 0)
              .values(enrolled=ExamMoment.enrolled - 1).execution_options(synchronize_session=False))
    s.refresh(enrolment)
    return True


def after_unenrolment(s: Session, enrolment: Enrolment, actor: User, role: str, now: datetime, why: str,
                      details: dict | None = None) -> bool:
    """The student's process learns of an unenrolment and goes back to enrolment (a new moment); its
    audit trail records it either way. False when the enrolment belongs to no process."""
    instance_id = s.scalar(select(ExamRegistration.instance_id).where(
        ExamRegistration.id == enrolment.registration_id)) if enrolment.registration_id else None
    if instance_id is None:
        log.info("enrolment %s unenrolled by user %s (%s)", enrolment.id, actor.id, why)
        return False
    summary = f"Afgemeld voor het examenmoment ({why}); de plaats is vrijgegeven"
    payload = {"inschrijving": enrolment.id, "moment": enrolment.moment_id}
    if not deliver(s, instance_id, "inschrijving_afgemeld", payload, now, actor, role, summary,
                   details={**payload, **(details or {})}):
        audit_outside_step(s, s.get(ProcessInstance, instance_id), actor, role, "enrolment_cancelled", summary,
                           {**payload, **(details or {})}, now)
    return True


def unenrol(enrolment_id: int, actor_id: int, uow: UnitOfWork, now: datetime | None = None) -> None:
    """The student (before the moment starts) or the examenbureau unenrols; the seat is freed and the
    student's process goes back to enrolment. An unenrolment uses no attempt (R45)."""
    now = now or utcnow()
    with uow:
        s = uow.session
        enrolment = s.get(Enrolment, enrolment_id)
        if enrolment is None:
            raise NotFound("Onbekende inschrijving.")
        moment = s.get(ExamMoment, enrolment.moment_id)
        student = s.get(Student, enrolment.student_id)
        actor = acting_user(s, actor_id)
        is_self = actor.id == student.user_id
        role = "student" if is_self else policy.require_role(s, actor, moment.school_id, ("examenbureau",),
                                                             "deze student afmelden")
        if now >= moment.starts_at:
            raise Conflict("Het examenmoment is al begonnen: afmelden kan niet meer.")
        if not release_seat(s, enrolment):
            raise Conflict(f"Deze inschrijving is al {enrolment.status}; afmelden kan niet meer.")
        after_unenrolment(s, enrolment, actor, role, now, "door de student" if is_self else "door het examenbureau")
        uow.commit()


# --------------------------------------------------------------------------- cut-off score and mandate


def set_cesuur(version_id: int, cesuur: int, actor_id: int, uow: UnitOfWork) -> int:
    """The cut-off score of an exam version (R40); variant-2 results waiting for it become
    establishable (R38). Returns how many waiting exams moved on."""
    if isinstance(cesuur, bool) or not isinstance(cesuur, int) or not 0 <= cesuur <= 1000:
        raise ValidationFailed({"cesuur": ["Een geheel getal van 0 tot en met 1000."]})
    moved = 0
    with uow:
        s = uow.session
        version = s.get(ExamVersion, version_id)
        if version is None:
            raise NotFound("Onbekende examenversie.")
        exam = s.get(Exam, version.exam_id)
        actor = acting_user(s, actor_id)
        role = policy.require_role(s, actor, exam.school_id, ("examencommissie", "examenbureau"),
                                   "de cesuur vastleggen")
        if version.cesuur is not None:
            raise Conflict(f"De cesuur van versie {version.version} van {exam.code} is al vastgesteld "
                           f"({version.cesuur}).")
        version.cesuur = cesuur
        s.flush()
        now = utcnow()
        waiting = s.scalars(select(ExamResult.instance_id).where(ExamResult.exam_version_id == version.id,
                                                                 ExamResult.status == "voorlopig")).all()
        for instance_id in sorted(set(waiting)):
            if deliver(s, instance_id, "cesuur_vastgesteld", {"cesuur": cesuur}, now, actor, role,
                       f"Cesuur {cesuur} vastgesteld voor {exam.code} versie {version.version}"):
                moved += 1
        uow.commit()
        log.info("cesuur %s set for version %s by user %s; %s exams moved on", cesuur, version.id, actor.id, moved)
        return moved


def grant_mandate(school_id: int, actor_id: int, note: str, uow: UnitOfWork) -> int:
    """R33: the examencommissie mandates the examenbureau to establish results; recorded with who and when."""
    with uow:
        s = uow.session
        actor = acting_user(s, actor_id)
        policy.require_role(s, actor, school_id, ("examencommissie",), "het examenbureau mandateren")
        if active_mandate(s, school_id) is not None:
            raise Conflict("Het examenbureau heeft al een mandaat om vast te stellen.")
        mandate = Mandate(school_id=school_id, granted_by_id=actor.id, granted_at=utcnow(), note=note.strip())
        s.add(mandate)
        uow.commit()
        log.info("mandate %s granted at school %s by user %s", mandate.id, school_id, actor.id)
        return mandate.id


def revoke_mandate(school_id: int, actor_id: int, uow: UnitOfWork) -> None:
    with uow:
        s = uow.session
        actor = acting_user(s, actor_id)
        policy.require_role(s, actor, school_id, ("examencommissie",), "het mandaat intrekken")
        mandate = active_mandate(s, school_id)
        if mandate is None:
            raise Conflict("Er is geen mandaat om in te trekken.")
        mandate.revoked_by_id, mandate.revoked_at = actor.id, utcnow()
        uow.commit()


# --------------------------------------------------------------------------- Mijn examens (R41, R49)


@dataclass
class MyResult:
    attempt: int
    score: int
    passed: bool | None
    status: str
    established_at: datetime | None


@dataclass
class MyExam:
    registration_id: int
    instance_id: int | None
    code: str
    title: str
    school: str
    school_year: str
    status: str
    go: bool
    attempts_used: int
    attempts_allowed: int
    moment: str | None
    accommodations: list[str]
    results: list[MyResult] = field(default_factory=list)
    open_task_id: int | None = None
    open_task: str | None = None
    # The moment he was unenrolled from because it was cancelled (and not enrolled again since).
    cancelled_moment: str | None = None


STATUS_LABELS = {"open": "Open", "behaald": "Behaald", "niet_behaald": "Niet behaald"}


def my_exams(user_id: int, uow: UnitOfWork) -> list[MyExam]:
    """The student's open and closed exams with moments, attempts and the results he may see (R49):
    provisional once published, definitive once established."""
    with uow:
        s = uow.session
        rows = s.execute(
            select(ExamRegistration, Exam, School)
            .join(Student, Student.id == ExamRegistration.student_id)
            .join(Exam, Exam.id == ExamRegistration.exam_id)
            .join(School, School.id == ExamRegistration.school_id)
            .where(Student.user_id == user_id)
            .order_by(ExamRegistration.status != "open", Exam.code)
        ).all()
        out = []
        for reg, exam, school in rows:
            go = s.scalar(select(ExamGo.id).where(ExamGo.exam_id == exam.id,
                                                  ExamGo.student_id == reg.student_id)) is not None
            current = s.execute(
                select(Enrolment, ExamMoment).join(ExamMoment, ExamMoment.id == Enrolment.moment_id)
                .where(Enrolment.registration_id == reg.id, Enrolment.status == "ingeschreven")
                .order_by(Enrolment.id.desc()).limit(1)).first()
            cancelled = cancelled_moment_of(s, reg.id) if current is None else None
            results = s.execute(
                select(ExamResult, Enrolment.attempt).join(Enrolment, Enrolment.id == ExamResult.enrolment_id)
                .where(Enrolment.registration_id == reg.id, ExamResult.visible.is_(True))
                .order_by(Enrolment.attempt)).all()
            task = s.execute(
                select(HumanTask.id, HumanTask.name).where(
                    HumanTask.instance_id == reg.instance_id, HumanTask.status == "open",
                    HumanTask.assignee_id == user_id).limit(1)).first() if reg.instance_id else None
            out.append(MyExam(
                registration_id=reg.id, instance_id=reg.instance_id, code=exam.code, title=exam.title,
                school=school.name, school_year=reg.school_year, status=reg.status, go=go,
                attempts_used=attempts_used(s, exam.id, reg.student_id),
                attempts_allowed=attempts_allowed(s, exam, reg.student_id),
                moment=(f"{to_amsterdam(current[1].starts_at):%d-%m-%Y %H:%M}, {current[1].location}"
                        if current else None),
                accommodations=list(current[0].accommodations) if current else [],
                results=[MyResult(attempt, r.score, r.passed, r.status, r.established_at) for r, attempt in results],
                open_task_id=task.id if task else None, open_task=task.name if task else None,
                cancelled_moment=cancelled,
            ))
        return out


def registrations_count(school_id: int, uow: UnitOfWork) -> int:
    with uow:
        return uow.session.scalar(select(func.count(ExamRegistration.id))
                                  .where(ExamRegistration.school_id == school_id)) or 0

