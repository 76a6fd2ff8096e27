"""Mijn taken: the inbox."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from handlers import clock
from processes import queries
from webapp import uow

bp = Blueprint("inbox", __name__, template_folder="templates")


@bp.get("/")
def home():
    return redirect(url_for("inbox.my_tasks"))


@bp.get("/taken")
@login_required
def my_tasks():
    page = request.args.get("pagina", default=1, type=int) or 1
    result = queries.list_my_tasks(current_user.user_id, uow(), page=page, per_page=25)
    return render_template("inbox/my_tasks.html", result=result, now=clock.now())
