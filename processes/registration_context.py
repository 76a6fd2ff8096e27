"""The services of an exam taken at exam moments, for the handlers of ``bpmn/aanmelden.bpmn`` and the
processes it calls (``herkansing``, ``beoordelen_v1``, ``beoordelen_v2``).

One ``ExamRegistration`` (a student's open exam, R41) has one process instance; its enrolments are
its attempts (R45) and each attempt that was taken gets one ``ExamResult`` (R38, R40). Everything
here runs inside the step's transaction and leaves an audit event on the instance.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select

from handlers import oke
from handlers.calendar import AMSTERDAM, to_amsterdam
from handlers.registry import StepRefused
from processes import enrolment as enrolments
from processes.errors import ExamflowError, Forbidden
from processes.exam import ExamContext
from processes.exchange import encode_body
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
    OutboxMessage,
    School,
    Student,
    User,
)

# The process whose instances are registrations; ``runner`` gives them this context.
REGISTRATION_PROCESS = "aanmelden"
# The committee's approval of an exam version outside the exam bank (R35).
VERSION_APPROVAL_PROCESS = "versie_goedkeuren"
ENROLMENT_VARIANTS = {"handmatig": "Handmatig door het examenbureau", "zelf": "Zelf inschrijven door de student",
                      "automatisch": "Automatisch"}
ASSESSMENT_VARIANTS = {1: "Variant 1: uitwisseling gecontroleerd, dan vaststellen",
                       2: "Variant 2: definitief zodra de cesuur bekend is"}
# Without a planned moment, self-enrolment stays open this long after the Go.
DEFAULT_ENROLMENT_DAYS = 28


def school_year_end(school_year: str) -> datetime:
    """The last moment of a school year such as "2026-2027": 31 July 2027, 23:59 in Amsterdam."""
    end_year = int(school_year.split("-")[1])
    return datetime(end_year, 7, 31, 23, 59, tzinfo=AMSTERDAM)


class RegistrationContext(ExamContext):
    """ExamContext for a registration: the services the exam-moment handlers call."""

    _registration: ExamRegistration | None = None

    # --- what the exam is ---------------------------------------------------------------------------

    def registration(self) -> ExamRegistration:
        if self._registration is None:
            self._registration = self.session.scalar(
                select(ExamRegistration).where(ExamRegistration.instance_id == self.instance.id))
            if self._registration is None:
                raise RuntimeError(f"instance {self.instance.id} is no exam registration")
        return self._registration

    def exam(self) -> Exam:
        return self.session.get(Exam, self.registration().exam_id)

    def student(self) -> Student:
        return self.session.get(Student, self.registration().student_id)

    def settings(self) -> dict:
        return dict(self.session.get(School, self.instance.school_id).settings or {})

    def current_enrolment(self) -> Enrolment:
        self.session.flush()  # the runner writes a step's rows with autoflush off
        enrolment = self.session.scalar(
            select(Enrolment).where(Enrolment.registration_id == self.registration().id)
            .order_by(Enrolment.id.desc()).limit(1))
        if enrolment is None:
            raise RuntimeError(f"registration {self.registration().id} has no enrolment")
        return enrolment

    def current_result(self) -> ExamResult:
        result = self.session.scalar(select(ExamResult).where(ExamResult.enrolment_id == self.current_enrolment().id))
        if result is None:
            raise RuntimeError(f"registration {self.registration().id} has no result")
        return result

    # --- enrolment (aanmelden.bpmn) ---------------------------------------------------------------

    def record_go(self) -> None:
        reg = self.registration()
        exists = self.session.scalar(select(ExamGo.id).where(ExamGo.exam_id == reg.exam_id,
                                                             ExamGo.student_id == reg.student_id))
        if exists is None:
            by = self.actor.id if self.actor else None
            if by is None:
                raise RuntimeError("a Go needs the teacher who gives it")
            self.session.add(ExamGo(exam_id=reg.exam_id, student_id=reg.student_id, given_by_id=by,
                                    given_at=self.now))
        self.audit("go_given", f"Go gegeven voor {self.exam().code} (R42)")

    def enrolment_plan(self) -> dict:
        exam, settings = self.exam(), self.settings()
        variant = exam.enrolment_variant or settings.get("inschrijfvariant") or "handmatig"
        assessment = int(exam.assessment_variant or settings.get("beoordelingsvariant") or 1)
        ends = [m.enrol_until or m.starts_at
                for m in enrolments.open_moments(self.session, exam.id, self.now, only_open_period=False)]
        closes = max(ends) if ends else None
        if closes is None or closes <= self.now:
            closes = min(school_year_end(self.registration().school_year),
                         self.now + timedelta(days=DEFAULT_ENROLMENT_DAYS))
            if closes <= self.now:
                closes = self.now + timedelta(days=DEFAULT_ENROLMENT_DAYS)
        return {
            "inschrijfvariant": variant,
            "beoordelingsvariant": assessment,
            "inschrijving_sluit": to_amsterdam(closes).isoformat(),
            "extra_poging_mogelijk": bool(settings.get("extra_poging_aanvragen", True)),
        }

    def open_enrolment(self) -> Enrolment | None:
        """An enrolment made outside the process (the API, OKE flow 2) that this attempt adopts."""
        self.session.flush()
        return self.session.scalar(select(Enrolment).where(Enrolment.registration_id == self.registration().id,
                                                           Enrolment.status == "ingeschreven")
                                   .order_by(Enrolment.id.desc()).limit(1))

    def enrol(self, moment_id, accommodations: list[str]) -> tuple[int, int]:
        existing = self.open_enrolment()
        if existing is not None:
            self.audit("enrolment_adopted", "Bestaande inschrijving overgenomen (gemaakt buiten deze taak)",
                       details={"enrolment": existing.id, "moment": existing.moment_id})
            return existing.id, existing.moment_id
        moment = self.session.get(ExamMoment, int(moment_id)) if moment_id is not None else None
        if moment is None or moment.school_id != self.instance.school_id:
            raise StepRefused("Kies een gepland examenmoment.", field="moment")
        version = self.session.get(ExamVersion, moment.exam_version_id)
        if version.exam_id != self.registration().exam_id:
            raise StepRefused("Dit examenmoment hoort bij een ander examen.", field="moment")
        try:
            enrolment = enrolments.take_seat(self.session, moment, self.student(), accommodations, self.now,
                                             by_student=self.role == "student")
        except ExamflowError as exc:
            raise StepRefused(exc.message, field="moment") from exc
        self._enrolled(enrolment, moment)
        return enrolment.id, moment.id

    def enrol_automatically(self) -> tuple[int | None, int | None]:
        existing = self.open_enrolment()
        if existing is not None:
            return existing.id, existing.moment_id
        for moment in enrolments.open_moments(self.session, self.registration().exam_id, self.now,
                                              only_open_period=True):
            if moment.enrolled >= moment.capacity:
                continue
            try:
                with self.session.begin_nested():
                    enrolment = enrolments.take_seat(self.session, moment, self.student(), [], self.now,
                                                     by_student=True)
            except ExamflowError:
                continue  # taken meanwhile, or not allowed: the next moment, else the examenbureau
            self._enrolled(enrolment, moment)
            return enrolment.id, moment.id
        self.audit("enrolment_postponed",
                   "Automatisch inschrijven: geen examenmoment met een vrije plaats; het examenbureau schrijft in")
        return None, None

    def _enrolled(self, enrolment: Enrolment, moment: ExamMoment) -> None:
        extra = f", faciliteiten: {', '.join(enrolment.accommodations)}" if enrolment.accommodations else ""
        self.audit("student_enrolled",
                   f"Ingeschreven voor {to_amsterdam(moment.starts_at):%d-%m-%Y %H:%M}, {moment.location} "
                   f"(poging {enrolment.attempt}{extra})",
                   details={"enrolment": enrolment.id, "moment": moment.id, "attempt": enrolment.attempt,
                            "accommodations": enrolment.accommodations})

    # --- attempts (herkansing.bpmn) ---------------------------------------------------------------

    def judge_absence(self, excused: bool, note: str) -> None:
        enrolment = self.current_enrolment()
        if enrolment.status != "afwezig":
            raise StepRefused("De laatste inschrijving is geen afwezigheid.")
        enrolment.excused = excused
        self.audit("absence_judged",
                   "Afwezigheid verschoond: telt niet als poging" if excused
                   else "Afwezigheid niet verschoond: telt als poging",
                   details={"enrolment": enrolment.id, "excused": excused, "toelichting": note})

    def attempts(self) -> tuple[int, int]:
        self.session.flush()
        exam = self.exam()
        return (enrolments.attempts_used(self.session, exam.id, self.registration().student_id),
                enrolments.attempts_allowed(self.session, exam, self.registration().student_id))

    def decide_extra_attempt(self, granted: bool, note: str) -> None:
        reg = self.registration()
        if granted:
            reg.extra_attempts += 1
        self.audit("extra_attempt_decided",
                   "Extra poging toegestaan" if granted else "Extra poging afgewezen",
                   details={"granted": granted, "extra_attempts": reg.extra_attempts, "toelichting": note})

    # --- results (beoordelen_v1/v2.bpmn) ----------------------------------------------------------

    def record_exam_result(self, score: int, note: str) -> bool | None:
        enrolment = self.current_enrolment()
        if enrolment.status != "afgerond":
            raise StepRefused("Er is geen afgenomen examen om te beoordelen.")
        moment = self.session.get(ExamMoment, enrolment.moment_id)
        version = self.session.get(ExamVersion, moment.exam_version_id)
        passed = None if version.cesuur is None else score >= version.cesuur
        result = ExamResult(
            enrolment_id=enrolment.id, instance_id=self.instance.id, exam_version_id=version.id, score=score,
            cesuur=version.cesuur, assessment_model=version.assessment_model, passed=passed, status="voorlopig",
            visible=False, assessed_by_id=self.actor.id if self.actor else None, assessed_at=self.now,
        )
        self.session.add(result)
        outcome = {None: "uitslag volgt bij de cesuur", True: "voldoende", False: "onvoldoende"}[passed]
        self.audit("result_recorded", f"Voorlopig resultaat vastgelegd: score {score} ({outcome})",
                   details={"score": score, "cesuur": version.cesuur, "version": version.version,
                            "toelichting": note})
        return passed

    def publish_provisional(self) -> None:
        result = self.current_result()
        result.visible = True
        self.audit("result_published", "Voorlopig resultaat zichtbaar voor de student (R49)")

    def apply_cesuur(self) -> bool | None:
        result = self.current_result()
        cesuur = self.session.get(ExamVersion, result.exam_version_id).cesuur
        if cesuur is None:
            return None
        if result.cesuur != cesuur or result.passed is None:
            result.cesuur, result.passed = cesuur, result.score >= cesuur
            self.audit("cesuur_applied", f"Cesuur {cesuur} toegepast: "
                       f"{'voldoende' if result.passed else 'onvoldoende'}", details={"cesuur": cesuur})
        return result.passed

    def mandate_active(self) -> bool:
        return active_mandate(self.session, self.instance.school_id) is not None

    def establish_exam_result(self) -> bool:
        result = self.current_result()
        if result.passed is None:
            raise StepRefused("De cesuur is nog niet bekend: het resultaat blijft voorlopig (R38).")
        mandate = None
        if self.role == "examenbureau":
            mandate = active_mandate(self.session, self.instance.school_id)
            if mandate is None:
                raise Forbidden("Het examenbureau stelt alleen vast met een mandaat van de examencommissie (R33).")
        result.status, result.visible = "definitief", True
        result.established_by_id = self.actor.id if self.actor else None
        result.established_role, result.established_at = self.role, self.now
        result.mandate_id = mandate.id if mandate else None
        how = f" onder mandaat van de examencommissie (mandaat {mandate.id})" if mandate else ""
        self.audit("result_established",
                   f"Resultaat definitief vastgesteld{how}: {'voldoende' if result.passed else 'onvoldoende'}",
                   details={"score": result.score, "cesuur": result.cesuur, "passed": result.passed,
                            "mandate": mandate.id if mandate else None})
        self.send_exam_result(final=True)
        return result.passed

    def send_exam_result(self, final: bool) -> int:
        """Flow 3 through the outbox (design 13); the same content twice is the same message."""
        self.session.flush()
        result, enrolment = self.current_result(), self.current_enrolment()
        school = self.session.get(School, self.instance.school_id)
        moment = self.session.get(ExamMoment, enrolment.moment_id)
        assessor = None
        if result.assessed_by_id is not None:
            user = self.session.get(User, result.assessed_by_id)
            assessor = oke.Assessor(name=user.name, role="roc_beoordelaar",
                                    assessor_id=oke.assessor_id_for(school.code, user.id))
        association_id = enrolment.external_id or oke.enrolment_association_id(school.code, enrolment.id)
        path, body = oke.build_exam_result_association(
            association_id, score=result.score, passed=result.passed, assessed_at=result.assessed_at,
            final=final, test_date=moment.starts_at, assessor=assessor, cesuur=result.cesuur)
        oke.validate_association_patch(body, association_id)
        digest = hashlib.sha256(("PATCH " + path + "\n").encode() + encode_body(body)).hexdigest()
        key = f"result-e{enrolment.id}-{digest[:16]}"
        existing = self.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
        if existing is not None:
            return existing
        message = OutboxMessage(
            school_id=self.instance.school_id, instance_id=self.instance.id, kind="result", method="PATCH",
            path=path, body=body, idempotency_key=key, status="pending", attempts=0, next_attempt_at=self.now,
            created_at=self.now)
        self.session.add(message)
        self.session.flush()
        self.audit("result_queued", ("Definitief" if final else "Voorlopig")
                   + " resultaat klaargezet voor de studentenadministratie", details={"message": message.id})
        return message.id

    def close_registration(self, passed: bool) -> None:
        reg = self.registration()
        reg.status = "behaald" if passed else "niet_behaald"
        self.audit("registration_closed", "Examen behaald" if passed else "Examen niet behaald: geen poging meer")

    # --- rules around a user task -----------------------------------------------------------------

    def check_task_rules(self, task: HumanTask, properties: dict[str, str]) -> None:
        super().check_task_rules(task, properties)
        if "not_by" in properties and self.actor is not None:
            assessed = self.session.scalar(
                select(ExamResult.id).join(Enrolment, Enrolment.id == ExamResult.enrolment_id)
                .where(Enrolment.registration_id == self.registration().id,
                       ExamResult.assessed_by_id == self.actor.id).limit(1))
            if assessed is not None:
                raise Forbidden("U heeft dit examen beoordeeld en mag het resultaat daarom niet vaststellen.")


def active_mandate(session, school_id: int) -> Mandate | None:
    return session.scalar(select(Mandate).where(Mandate.school_id == school_id, Mandate.revoked_at.is_(None))
                          .order_by(Mandate.id.desc()).limit(1))


class VersionApprovalContext(ExamContext):
    """ExamContext for the approval of an exam version that is not in the exam bank (R35)."""

    def decide_version(self, version_id: int, approved: bool, note: str) -> None:
        version = self.session.get(ExamVersion, version_id)
        exam = self.session.get(Exam, version.exam_id) if version else None
        if exam is None or exam.school_id != self.instance.school_id:
            raise RuntimeError(f"approval {self.instance.id} names an unknown exam version {version_id}")
        if approved:
            version.established = True
        self.audit("exam_version_decided",
                   f"Versie {version.version} van {exam.code} " + ("goedgekeurd en vastgesteld" if approved
                                                                   else "afgewezen") + " (R35)",
                   details={"version": version.id, "approved": approved, "toelichting": note})
