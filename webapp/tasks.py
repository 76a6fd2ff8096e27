"""One task: its page with the form, and completing it."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

import forms as formlib
from processes import attachments, queries, runner
from processes.errors import Conflict, ValidationFailed
from webapp import uow

bp = Blueprint("tasks", __name__, template_folder="templates")


def _render(view: queries.TaskView, values=None, errors=None, status=200, message=None):
    fields = formlib.render_description(view.form, values=values if values is not None else view.values,
                                        errors=errors, choices=view.choices,
                                        criteria_model=view.criteria_model)
    evidence = attachments.list_attachments(view.instance_id, current_user.user_id, uow(), "bewijs")
    files: dict = {"evidence": evidence}
    if view.form.key == attachments.EVIDENCE_FORM and view.status == "open":
        # The student adds his evidence right here, beside the step that closes it (R23).
        files.update(evidence_state=attachments.evidence_state(view.instance_id, current_user.user_id, uow()),
                     exam={"id": view.instance_id}, upload_limit=current_app.config["EXAMENFLOW_UPLOAD_MAX_BYTES"],
                     upload_chunk=current_app.config["EXAMENFLOW_UPLOAD_CHUNK_BYTES"])
    return (
        render_template("tasks/task.html", task=view, fields=fields, errors=errors, message=message, **files),
        status,
    )


@bp.get("/taken/<int:task_id>")
@login_required
def show(task_id: int):
    view = queries.get_task(task_id, current_user.user_id, uow())
    return _render(view)


@bp.post("/taken/<int:task_id>")
@login_required
def complete(task_id: int):
    data = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        result = runner.complete_task(task_id, current_user.user_id, data, uow(), from_html=True)
    except ValidationFailed as exc:
        view = queries.get_task(task_id, current_user.user_id, uow())
        return _render(view, values=data, errors=exc.errors, status=422,
                       message="Het formulier bevat fouten; verbeter de gemarkeerde velden.")
    except Conflict as exc:
        flash(exc.message, "fout")
        return redirect(url_for("inbox.my_tasks"), code=303)
    flash("De taak is afgerond.", "info")
    for warning in result.warnings:
        flash(f"Let op: {warning}", "waarschuwing")
    return redirect(url_for("inbox.my_tasks"), code=303)
