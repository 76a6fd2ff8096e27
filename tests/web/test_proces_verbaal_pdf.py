"""R36, R13: the proces-verbaal of an exam moment as PDF for the archive — read back with pypdf."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from handlers import clock
from tests.conftest import login
from tests.support.moments import AFTER, do, enrolments_of, make_exam, record_attendance, register


@pytest.fixture
def recorded(world, uow_factory):
    """student_a present and student_a2 absent at a moment whose proces-verbaal is recorded."""
    setup = make_exam(world, uow_factory)
    enrolments = []
    for student in ("student_a", "student_a2"):
        reg_id, inst = register(world, uow_factory, setup, student=student)
        do(world, uow_factory, inst, "go_geven")
        do(world, uow_factory, inst, "inschrijven_bureau", {"moment": setup.moment_id})
        enrolments += enrolments_of(uow_factory, reg_id)
    clock.set_process_clock(lambda: AFTER)
    record_attendance(world, uow_factory, setup.moment_id, {enrolments[0].id: True, enrolments[1].id: False},
                      incidents="Brandalarm om 10:40; tien minuten stilgelegd.")
    yield setup.moment_id
    clock.set_process_clock(None)


def _client(app, key):
    client = app.test_client()
    login(client, f"{key}@test.nl")
    return client


def test_r36_the_proces_verbaal_pdf_has_attendance_incidents_and_the_surveillants_signature(app, recorded):
    bureau = _client(app, "bureau_a")
    page = bureau.get(f"/examenmomenten/{recorded}/proces-verbaal").get_data(as_text=True)
    assert f"/examenmomenten/{recorded}/proces-verbaal.pdf" in page
    resp = bureau.get(f"/examenmomenten/{recorded}/proces-verbaal.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(resp.data)).pages)
    assert "Proces-verbaal van het examenmoment" in text and "NED-2F" in text
    assert "Aanwezigheid: 1 van 2 aanwezig" in text
    assert "Sara Student" in text and "A001" in text and "Sem Student" in text and "afwezig" in text
    assert "Brandalarm om 10:40" in text
    assert "Sanne Surveillant, Surveillant" in text and "25-01-2027" in text


@pytest.mark.parametrize("who", ["student_a", "commissie_b", "begeleider_a"])
def test_the_proces_verbaal_pdf_is_not_for_others(app, recorded, who):
    assert _client(app, who).get(f"/examenmomenten/{recorded}/proces-verbaal.pdf").status_code == 403


def test_no_pdf_before_the_proces_verbaal_is_recorded(app, world, uow_factory):
    setup = make_exam(world, uow_factory)
    resp = _client(app, "bureau_a").get(f"/examenmomenten/{setup.moment_id}/proces-verbaal.pdf")
    assert resp.status_code == 404 and "nog geen proces-verbaal" in resp.get_data(as_text=True)
