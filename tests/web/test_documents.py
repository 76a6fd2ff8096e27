"""Issue 8: the exam's printable documents (PDF) for the archive — the established assignment, every
assessment form and consensus, and the establishment of the result — read back with pypdf."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from processes import accounts, documents, pdf
from processes.models import Assessment, AuditEvent
from tests.conftest import PASSWORD, login
from tests.support.walk import complete, open_tasks, start_and_walk_to, walk_to

CRITERIA = ["Verzamelt de relevante gegevens van de cliënt", "Legt de gegevens juist vast",
            "Werkt hygiënisch en veilig", "Communiceert respectvol met de cliënt"]
PRAKTIJK = {
    "beoordeling": {
        "w1c1": {"oordeel": "voldaan", "toelichting": "Vroeg door naar de medicatie."},
        "w1c2": {"oordeel": "onvoldoende", "toelichting": "Rapportage was onvolledig."},
        "w2c1": {"oordeel": "voldaan"},
        "w2c2": {"oordeel": "voldaan"},
    },
    "toelichting": "Een goede proeve, de rapportage kan beter.",
    "bevestiging": True,
}
# The second assessor need not judge every criterion (R8); recorded knowingly incomplete (R26).
ROC = {
    "beoordeling": {
        "w1c1": {"oordeel": "voldaan"},
        "w1c2": {"oordeel": "onvoldoende", "toelichting": "Dossier niet bijgewerkt."},
        "w2c1": {"oordeel": "voldaan"},
    },
    "onvolledig_bevestigd": True,
    "bevestiging": True,
}


def _client(app, email: str):
    client = app.test_client()
    login(client, email)
    return client


def _text(resp) -> str:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(resp.data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def _local(at) -> str:
    return pdf.local_time(at)


def walk_with_own_assessments(world, uow_factory, student: str = "student_a") -> int:
    """A PvB to its end, both assessment forms filled in with the judgements above."""
    inst, _ = start_and_walk_to(world, uow_factory, "beoordelen_roc", student=student)
    for task in open_tasks(uow_factory, inst):
        if task.element_id == "beoordelen_praktijk":
            complete(world, uow_factory, task, student, data=PRAKTIJK)
        elif task.element_id == "beoordelen_roc":
            complete(world, uow_factory, task, student, data=ROC)
    assert walk_to(world, uow_factory, inst, None, student) is None
    return inst


def _rows(uow_factory, inst: int):
    with uow_factory() as uow:
        s = uow.session
        assessments = {(a.kind, a.role): (a.id, a.recorded_at)
                       for a in s.scalars(select(Assessment).where(Assessment.instance_id == inst))}
        events = s.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst)
                           .order_by(AuditEvent.seq)).all()
        by_element = {e.element_id: (e.actor_name, e.role, e.created_at) for e in events
                      if e.action == "task_completed"}
        established = {e.action: e.created_at for e in events}
    return assessments, by_element, established


@pytest.fixture
def ended(world, uow_factory) -> int:
    return walk_with_own_assessments(world, uow_factory)


def test_r13_each_assessment_form_pdf_has_criteria_judgements_justifications_and_signature(app, world, uow_factory,
                                                                                           ended):
    assessments, by_element, _ = _rows(uow_factory, ended)
    student = _client(app, world.email("student_a"))
    page = student.get(f"/examens/{ended}").get_data(as_text=True)
    links = re.findall(rf'href="(/examens/{ended}/documenten/[^"]+\.pdf)"', page)
    praktijk_id = assessments[("beoordeling", "praktijkbeoordelaar")][0]
    roc_id = assessments[("beoordeling", "roc_beoordelaar")][0]
    consensus_id = assessments[("consensus", "roc_beoordelaar")][0]
    assert links == [f"/examens/{ended}/documenten/opdracht.pdf",
                     f"/examens/{ended}/documenten/beoordeling/{praktijk_id}.pdf",
                     f"/examens/{ended}/documenten/beoordeling/{roc_id}.pdf",
                     f"/examens/{ended}/documenten/beoordeling/{consensus_id}.pdf",
                     f"/examens/{ended}/documenten/vaststelling.pdf"]

    resp = student.get(links[1])
    assert resp.headers["Content-Disposition"] == f'inline; filename="beoordeling-{praktijk_id}-examen-{ended}.pdf"'
    text = _text(resp)
    assert "Beoordelingsformulier" in text and "Sara Student (A001)" in text and "ROC A" in text
    for criterion in CRITERIA:
        assert criterion in text
    assert "Vroeg door naar de medicatie." in text and "Rapportage was onvolledig." in text
    assert "voldaan" in text and "onvoldoende" in text
    assert "Een goede proeve, de rapportage kan beter." in text
    name, role, at = by_element["beoordelen_praktijk"]
    assert (name, role) == ("Beatrix Beoordelaar", "praktijkbeoordelaar")
    assert "Beatrix Beoordelaar, Praktijkbeoordelaar" in text
    assert f"{_local(at)} (Europe/Amsterdam)" in text
    assert "Ik bevestig deze beoordeling. Na vastleggen kan ik haar niet meer wijzigen." in text

    text = _text(student.get(links[2]))
    assert "Dossier niet bijgewerkt." in text and "niet beoordeeld" in text
    assert "bewust onvolledig vastgelegd" in text
    assert "Rik ROC, ROC-beoordelaar" in text and _local(by_element["beoordelen_roc"][2]) in text

    text = _text(student.get(links[3]))
    assert text.startswith("Consensus")
    assert "Rik ROC, ROC-beoordelaar" in text and _local(by_element["consensus_vastleggen"][2]) in text
    # The praktijkbeoordelaar's agreement to the consensus is signed on it too (R29).
    assert "Akkoord Beatrix Beoordelaar, Praktijkbeoordelaar" in text
    assert _local(by_element["consensus_bevestigen"][2]) in text


def test_the_assignment_pdf_has_content_model_three_approvals_and_the_establishment(app, world, uow_factory, ended):
    _, by_element, _ = _rows(uow_factory, ended)
    resp = _client(app, world.email("praktijkbegeleider")).get(f"/examens/{ended}/documenten/opdracht.pdf")
    assert resp.headers["Content-Disposition"] == f'inline; filename="opdracht-examen-{ended}.pdf"'
    assert resp.headers["Cache-Control"] == "private, no-store"
    text = _text(resp)
    for expected in ("Examenopdracht (vastgesteld)", "Zorgen voor een cliënt", "Sara Student", "ROC A",
                     "Zorggroep De Linde", "Thuiszorg", "Voer de zorg uit.", "B1-K1-W1", "B1-K1-W2", *CRITERIA):
        assert expected in text, expected
    for element, who in (("goedkeuren_student", "Sara Student, Student"),
                         ("goedkeuren_roc_begeleider", "Anna Begeleider, ROC-begeleider"),
                         ("goedkeuren_praktijkbegeleider", "Piet Praktijk, Praktijkbegeleider")):
        assert f"Goedgekeurd door {who}" in text
        assert _local(by_element[element][2]) in text
    assert "Ik heb de informatie over de proeve van bekwaamheid gelezen." in text
    assert "Vastgesteld door Carla Commissie, Examencommissie" in text
    assert _local(by_element["opdracht_vaststellen"][2]) in text
    assert "Opdracht vastgesteld namens de examencommissie" in text
    assert "Ik bevestig dit besluit namens de examencommissie." in text


def test_r38_the_establishment_pdf_has_result_who_when_and_the_assessments(app, world, uow_factory, ended):
    _, by_element, events = _rows(uow_factory, ended)
    resp = _client(app, world.email("commissie_a")).get(f"/examens/{ended}/documenten/vaststelling.pdf")
    assert resp.headers["Content-Disposition"] == f'inline; filename="vaststelling-examen-{ended}.pdf"'
    text = _text(resp)
    assert "Uitslag voldaan (definitief, R38)" in text
    assert "Vastgesteld door Carla Commissie, Examencommissie" in text
    assert _local(events["result_established"]) in text
    assert "Eindbeoordeling vastgesteld: voldaan" in text
    assert "Consensus (grondslag)" in text
    assert "Beatrix Beoordelaar, Praktijkbeoordelaar" in text and "Rik ROC, ROC-beoordelaar" in text
    assert _local(by_element["beoordelen_praktijk"][2]) in text


def test_an_outsider_gets_403_and_unknown_documents_404(app, world, uow_factory, ended):
    assessments, _, _ = _rows(uow_factory, ended)
    any_id = next(iter(assessments.values()))[0]
    paths = [f"/examens/{ended}/documenten/opdracht.pdf", f"/examens/{ended}/documenten/beoordeling/{any_id}.pdf",
             f"/examens/{ended}/documenten/vaststelling.pdf"]
    for key in ("student_a2", "begeleider_b", "commissie_b", "beoordelaar_a2"):
        outsider = _client(app, world.email(key))
        for path in paths:
            assert outsider.get(path).status_code == 403, (key, path)
    # The school-wide roles of the exam's school may see it (as the dossier).
    assert _client(app, world.email("bureau_a")).get(paths[2]).status_code == 200
    insider = _client(app, world.email("student_a"))
    assert insider.get(f"/examens/{ended}/documenten/beoordeling/999999.pdf").status_code == 404
    assert insider.get("/examens/999999/documenten/opdracht.pdf").status_code == 404
    # Not logged in: to the login page, never a PDF.
    assert app.test_client().get(paths[0]).status_code in (302, 401)


def test_an_assessment_of_another_exam_is_404(app, world, uow_factory, ended):
    other, _ = start_and_walk_to(world, uow_factory, "opdracht_verwerven")
    assessments, _, _ = _rows(uow_factory, ended)
    any_id = next(iter(assessments.values()))[0]
    resp = _client(app, world.email("begeleider_a")).get(f"/examens/{other}/documenten/beoordeling/{any_id}.pdf")
    assert resp.status_code == 404


def test_a_document_that_does_not_exist_yet_is_404_with_the_reason(app, world, uow_factory):
    inst, _ = start_and_walk_to(world, uow_factory, "opdracht_vaststellen")
    client = _client(app, world.email("student_a"))
    resp = client.get(f"/examens/{inst}/documenten/opdracht.pdf")
    assert resp.status_code == 404
    assert "De opdracht is nog niet vastgesteld" in resp.get_data(as_text=True)
    resp = client.get(f"/examens/{inst}/documenten/vaststelling.pdf")
    assert resp.status_code == 404
    assert "De eindbeoordeling is nog niet vastgesteld" in resp.get_data(as_text=True)
    page = client.get(f"/examens/{inst}").get_data(as_text=True)
    assert "Nog geen documenten" in page and "/documenten/" not in page
    # Once established, the assignment is there; the establishment of the result still is not.
    walk_to(world, uow_factory, inst, "afspraken_plannen")
    assert client.get(f"/examens/{inst}/documenten/opdracht.pdf").status_code == 200
    assert client.get(f"/examens/{inst}/documenten/vaststelling.pdf").status_code == 404


@pytest.fixture
def lukasz(world, uow_factory) -> str:
    uid = accounts.create_user("lukasz@test.nl", "Łukasz Żółć", PASSWORD, uow_factory())
    world.users["lukasz"] = uid
    world.students["lukasz"] = accounts.create_student(uid, world.schools["a"], "A777", "2024", "25655",
                                                       uow_factory())
    return "lukasz"


def test_a_name_outside_latin1_is_printed_and_without_the_font_transliterated(app, world, uow_factory, lukasz,
                                                                              tmp_path):
    inst = walk_with_own_assessments(world, uow_factory, student=lukasz)
    client = _client(app, "lukasz@test.nl")
    for path in ("opdracht.pdf", "vaststelling.pdf"):
        assert "Łukasz Żółć (A777)" in _text(client.get(f"/examens/{inst}/documenten/{path}"))
    assessments, _, _ = _rows(uow_factory, inst)
    doc = documents.get_assessment_document(inst, assessments[("consensus", "roc_beoordelaar")][0],
                                            world.users[lukasz], uow_factory())
    assert "Łukasz Żółć (A777)" in " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf.render_assessment(doc))).pages)
    # Without DejaVu (no such folder): core Helvetica, outside latin-1 transliterated (ó stays), never a crash.
    fallback = pdf.render_assessment(doc, font_dir=tmp_path / "geen-fonts")
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(fallback)).pages).split())
    assert "Lukasz Zólc (A777)" in text and "Werkt hygiënisch en veilig" in text


def test_transliteration_keeps_latin1_and_replaces_the_rest():
    assert pdf.to_latin1("Łukasz Żółć – café “ok” 王") == "Lukasz Zólc - café \"ok\" ?"
