"""The exam's printable documents (PDF) for the archive: whoever may see the exam may read them."""

from __future__ import annotations

from flask import Blueprint, Response, g, url_for
from flask_login import current_user, login_required

from processes import documents, exam_queries, pdf
from webapp import uow

bp = Blueprint("documents", __name__, template_folder="templates")


def _pdf(content: bytes, filename: str) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    # Personal data: not for shared caches, not kept by the browser.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/examens/<int:instance_id>/documenten/opdracht.pdf")
@login_required
def assignment(instance_id: int):
    doc = documents.get_assignment_document(instance_id, current_user.user_id, uow())
    return _pdf(pdf.render_assignment(doc), f"opdracht-examen-{instance_id}.pdf")


@bp.get("/examens/<int:instance_id>/documenten/beoordeling/<int:assessment_id>.pdf")
@login_required
def assessment(instance_id: int, assessment_id: int):
    doc = documents.get_assessment_document(instance_id, assessment_id, current_user.user_id, uow())
    name = "consensus" if doc.kind == "consensus" else "beoordeling"
    return _pdf(pdf.render_assessment(doc), f"{name}-{assessment_id}-examen-{instance_id}.pdf")


@bp.get("/examens/<int:instance_id>/documenten/vaststelling.pdf")
@login_required
def establishment(instance_id: int):
    doc = documents.get_establishment_document(instance_id, current_user.user_id, uow())
    return _pdf(pdf.render_establishment(doc), f"vaststelling-examen-{instance_id}.pdf")


@bp.get("/examenmomenten/<int:moment_id>/proces-verbaal.pdf")
@login_required
def proces_verbaal(moment_id: int):
    """The proces-verbaal for the archive (R36): for its surveillant and the school's exam bank roles."""
    view = exam_queries.proces_verbaal(moment_id, current_user.user_id, uow())
    school = exam_queries.school_name(view.moment.school_id, uow())
    return _pdf(pdf.render_proces_verbaal(view, school), f"proces-verbaal-examenmoment-{moment_id}.pdf")


@bp.app_context_processor
def _exam_documents():
    def exam_documents(instance_id: int) -> list[dict]:
        """For the dossier's list (dossier/_documents.html): the documents that exist, with their URL."""
        cache = g.setdefault("exam_documents", {})
        if instance_id not in cache:
            cache[instance_id] = [
                {"label": d.label, "url": _url(instance_id, d)}
                for d in documents.list_documents(instance_id, current_user.user_id, uow())
            ]
        return cache[instance_id]

    return {"exam_documents": exam_documents}


def _url(instance_id: int, d: documents.DocumentLink) -> str:
    if d.kind == "beoordeling":
        return url_for("documents.assessment", instance_id=instance_id, assessment_id=d.assessment_id)
    endpoint = {"opdracht": "documents.assignment", "vaststelling": "documents.establishment"}[d.kind]
    return url_for(endpoint, instance_id=instance_id)
