"""Logging in and out (Flask-Login, argon2id, a fresh session at login, server-side ending)."""

from __future__ import annotations

import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user

from processes import accounts, passwords, task_mail
from processes.errors import BadRequest
from webapp import mailer, uow

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()


class WebUser(UserMixin):
    def __init__(self, auth: accounts.AuthUser):
        self.user_id = auth.id
        self.name = auth.name
        self.email = auth.email
        self.session_version = auth.session_version

    def get_id(self) -> str:
        # The session version in the id lets the server end sessions: bump it and the id no longer loads.
        return f"{self.user_id}:{self.session_version}"


def init_app(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in om verder te gaan."
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        try:
            uid, version = (int(p) for p in user_id.split(":"))
        except ValueError:
            return None
        auth = accounts.load_session_user(uid, version, uow())
        return WebUser(auth) if auth else None


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("inbox.my_tasks")


@bp.route("/inloggen", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        email = request.form.get("email", "")
        password = request.form.get("wachtwoord", "")
        try:
            auth = passwords.login(email, password, uow())
        except passwords.Throttled as exc:
            flash(exc.message, "fout")
            return render_template("auth/login.html", email=email), 429
        if auth is None:
            flash("E-mailadres of wachtwoord klopt niet.", "fout")
            return render_template("auth/login.html", email=email), 401
        next_url = _safe_next(request.args.get("next"))
        session.clear()  # a fresh session at login: nothing of the anonymous one carries over
        login_user(WebUser(auth))
        return redirect(next_url)
    return render_template("auth/login.html", email="")


@bp.post("/uitloggen")
@login_required
def logout():
    logout_user()
    session.clear()
    flash("U bent uitgelogd.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/uitloggen-overal")
@login_required
def logout_everywhere():
    accounts.end_all_sessions(current_user.user_id, uow())
    logout_user()
    session.clear()
    flash("U bent op al uw apparaten uitgelogd.", "info")
    return redirect(url_for("auth.login"))


RESET_ANSWER_SECONDS = 1.0
RESET_ANSWER = ("Als er een account met dit e-mailadres bestaat, is er een e-mail met een link verstuurd. "
                "De link is een uur geldig en werkt één keer.")


@bp.route("/wachtwoord-vergeten", methods=["GET", "POST"])
def forgot_password():
    """R5: the answer is the same for a known and an unknown address."""
    if request.method == "POST":
        started = time.monotonic()
        passwords.request_password_reset(request.form.get("email", ""), uow(), mailer())
        # The same time too: a known address costs an SMTP round trip, so both answers take at least this.
        time.sleep(max(0.0, RESET_ANSWER_SECONDS - (time.monotonic() - started)))
        flash(RESET_ANSWER, "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html")


@bp.route("/wachtwoord-herstellen/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    if request.method == "POST":
        new, again = request.form.get("wachtwoord", ""), request.form.get("wachtwoord_herhalen", "")
        if new != again or len(new) < 8:
            flash("Een wachtwoord heeft minstens 8 tekens." if len(new) < 8
                  else "De twee wachtwoorden zijn niet gelijk.", "fout")
            return render_template("auth/reset_password.html", token=token), 422
        try:
            passwords.reset_password(token, new, uow())
        except BadRequest as exc:
            flash(exc.message, "fout")
            return render_template("auth/reset_password.html", token=token, invalid=True), 400
        flash("Uw wachtwoord is gewijzigd. Log in met uw nieuwe wachtwoord.", "info")
        return redirect(url_for("auth.login"))
    try:
        passwords.check_reset_link(token, uow())
    except BadRequest as exc:
        flash(exc.message, "fout")
        return render_template("auth/reset_password.html", token=token, invalid=True), 400
    return render_template("auth/reset_password.html", token=token)


@bp.route("/mijn-account", methods=["GET", "POST"])
@login_required
def my_account():
    """The user's own settings: mail when a task arrives (on by default)."""
    if request.method == "POST":
        on = request.form.get("taakmail") == "ja"
        task_mail.set_task_mail(current_user.user_id, on, uow())
        flash("U krijgt een e-mail als er een taak voor u klaarstaat." if on else
              "U krijgt geen e-mail meer bij nieuwe taken.", "info")
        return redirect(url_for("auth.my_account"))
    return render_template("auth/my_account.html", task_mail=task_mail.task_mail_on(current_user.user_id, uow()))
