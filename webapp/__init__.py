"""The Flask application: blueprints per area, Dutch templates, the JSON API under /api/v1."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from processes import accounts
from processes.db import UnitOfWork, make_engine, make_session_factory
from webapp.config import Config

csrf = CSRFProtect()


class Services:
    """What the views need from the core: a way to open a unit of work."""

    def __init__(self, database_url: str | None):
        self.engine = make_engine(database_url)
        self.session_factory = make_session_factory(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(Config(test_config).values)
    if app.config["EXAMENFLOW_ARGON2_FAST"]:
        accounts.configure_hasher(time_cost=1, memory_cost=8, parallelism=1)
    app.extensions["examenflow"] = Services(app.config["DATABASE_URL"])
    from webapp import admin

    app.before_request(admin.allow_larger_upload)
    csrf.init_app(app)

    from webapp import (
        api,
        auth,
        committee,
        documents,
        dossier,
        editor,
        errors,
        exam_bank,
        exam_moments,
        exam_requests,
        inbox,
        ooapi,
        retention,
        tasks,
    )
    from webapp import uploads as uploads_bp

    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(dossier.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(committee.bp)
    app.register_blueprint(exam_bank.bp)
    app.register_blueprint(exam_moments.bp)
    app.register_blueprint(exam_requests.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(uploads_bp.bp)
    app.register_blueprint(retention.bp)
    api.init_app(app)
    ooapi.init_app(app)
    errors.init_app(app)

    @app.template_filter("bestandsgrootte")
    def file_size(n: int) -> str:
        if n >= 2**20:
            return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n / 2**20:.1f} MiB".replace(".", ",")
        return f"{n / 2**10:.1f} kB".replace(".", ",") if n >= 2**10 else f"{n} bytes"

    @app.template_filter("datum")
    def datum(value) -> str:
        from webapp.formatting import format_datetime

        return format_datetime(value)

    @app.context_processor
    def globals_():
        return {"demo_mode": app.config["EXAMENFLOW_DEMO"]}

    return app


def services() -> Services:
    from flask import current_app

    return current_app.extensions["examenflow"]


def uow() -> UnitOfWork:
    return services().uow()


def mailer():
    """The SMTP mailer, from the settings of the environment (tests override them in the config)."""
    from flask import current_app

    from processes.mail import Mailer

    return Mailer(current_app.config["EXAMENFLOW_SMTP"])
