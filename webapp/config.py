"""Configuration from the environment (prefix EXAMENFLOW_, and DATABASE_URL), in one class."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from processes.mail import SmtpSettings


def _secret_key(instance_dir: Path) -> str:
    key = os.environ.get("EXAMENFLOW_SECRET_KEY")
    if key:
        return key
    # The embedded default keeps a generated key beside the SQLite file, so sessions survive restarts.
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


class Config:
    def __init__(self, overrides: dict | None = None):
        env = os.environ
        instance_dir = Path(env.get("EXAMENFLOW_INSTANCE_DIR", "instance"))
        self.values: dict = {
            "DATABASE_URL": env.get("DATABASE_URL"),
            "SECRET_KEY": None,
            # Forms and the JSON API are small; uploads (a later issue) raise it per request.
            "MAX_CONTENT_LENGTH": int(env.get("EXAMENFLOW_MAX_BODY_BYTES", 256 * 1024)),
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": env.get("EXAMENFLOW_SECURE_COOKIES", "0") == "1",
            "WTF_CSRF_TIME_LIMIT": None,
            "EXAMENFLOW_DEMO": env.get("EXAMENFLOW_DEMO", "0") == "1",
            "EXAMENFLOW_ARGON2_FAST": False,
            "EXAMENFLOW_INSTANCE_DIR": instance_dir,
            # Attachments and evidence (design 12): a folder of files named by their SHA-256 (default: the
            # instance folder's storage/).
            "EXAMENFLOW_STORAGE_DIR": Path(env["EXAMENFLOW_STORAGE_DIR"]) if env.get("EXAMENFLOW_STORAGE_DIR")
            else None,
            "EXAMENFLOW_UPLOAD_MAX_BYTES": int(env.get("EXAMENFLOW_UPLOAD_MAX_BYTES", 512 * 1024 * 1024)),
            # A chunked upload sends at most this much per request (webapp/uploads.py).
            "EXAMENFLOW_UPLOAD_CHUNK_BYTES": int(env.get("EXAMENFLOW_UPLOAD_CHUNK_BYTES", 8 * 1024 * 1024)),
            # SMTP for password resets and task mail (processes/mail.py lists the variables).
            "EXAMENFLOW_SMTP": SmtpSettings.from_env(env),
            "API_TITLE": "Examenflow API",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api/v1",
            "OPENAPI_JSON_PATH": "openapi.json",
        }
        self.values.update(overrides or {})
        if not self.values["EXAMENFLOW_STORAGE_DIR"]:
            self.values["EXAMENFLOW_STORAGE_DIR"] = Path(self.values["EXAMENFLOW_INSTANCE_DIR"]) / "storage"
        if not self.values["SECRET_KEY"]:
            self.values["SECRET_KEY"] = _secret_key(Path(self.values["EXAMENFLOW_INSTANCE_DIR"]))
