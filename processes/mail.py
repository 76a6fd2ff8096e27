"""Sending e-mail through SMTP (Python's smtplib); settings come from the environment.

| variable | meaning |
|---|---|
| EXAMENFLOW_SMTP_HOST / _PORT | the SMTP server (no host: mail is logged, not sent) |
| EXAMENFLOW_SMTP_USER / _PASSWORD | login, when the server asks for one |
| EXAMENFLOW_SMTP_SECURITY | `starttls` (default on port 587), `ssl` (port 465) or `none` |
| EXAMENFLOW_MAIL_FROM | the sender address |
| EXAMENFLOW_BASE_URL | the address links in mails start with, e.g. https://examens.roc-a.nl |
"""

from __future__ import annotations

import logging
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = None
    security: str = "starttls"
    sender: str = "examenflow@localhost"
    base_url: str = "http://127.0.0.1:5000"

    @classmethod
    def from_env(cls, env=None) -> SmtpSettings:
        env = os.environ if env is None else env
        port = int(env.get("EXAMENFLOW_SMTP_PORT", "587"))
        default_security = "ssl" if port == 465 else ("starttls" if port == 587 else "none")
        return cls(
            host=env.get("EXAMENFLOW_SMTP_HOST") or None,
            port=port,
            user=env.get("EXAMENFLOW_SMTP_USER") or None,
            password=env.get("EXAMENFLOW_SMTP_PASSWORD") or None,
            security=env.get("EXAMENFLOW_SMTP_SECURITY", default_security),
            sender=env.get("EXAMENFLOW_MAIL_FROM", "examenflow@localhost"),
            base_url=env.get("EXAMENFLOW_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        )


class Mailer:
    """Sends a batch of mails over one SMTP connection; returns how many were accepted."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def link(self, path: str) -> str:
        return self.settings.base_url + path

    def send(self, mails: list[Mail]) -> int:
        if not mails:
            return 0
        st = self.settings
        if not st.host:
            for m in mails:
                log.info("no SMTP host configured; mail to %s not sent: %s", m.to, m.subject)
            return 0
        smtp_class = smtplib.SMTP_SSL if st.security == "ssl" else smtplib.SMTP
        with smtp_class(st.host, st.port, timeout=10) as smtp:
            if st.security == "starttls":
                smtp.starttls()
            if st.user:
                smtp.login(st.user, st.password or "")
            for m in mails:
                msg = EmailMessage()
                msg["From"] = st.sender
                msg["To"] = m.to
                msg["Subject"] = m.subject
                msg.set_content(m.body)
                smtp.send_message(msg)
        return len(mails)
