"""The HTTP client for the OKE exchange (design 13): a school's receiver endpoint and OAuth2 client credentials.

No database, no Flask: ``processes/exchange.py`` stores messages in the outbox and hands each one to a
:class:`Sender` — in production the process-wide :func:`default_client` — as an :class:`OutgoingRequest`.
The body bytes come from :func:`encode_body`, one canonical encoding, so every attempt sends the same body.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

TIMEOUT_SECONDS = 10.0
# The log keeps what came back, within reason.
MAX_LOGGED_RESPONSE = 10_000
DEFAULT_SECRET_ENV = "EXAMENFLOW_OKE_CLIENT_SECRET"
# OKE: "minimaal TLS-1.3" (technical-reference.md).
MIN_TLS = ssl.TLSVersion.TLSv1_3


def encode_body(body: dict) -> bytes:
    """The bytes sent: one canonical encoding, so every attempt sends the identical body."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- the receiver's endpoint and the HTTP client ---------------------------------------------------


class EndpointNotConfigured(Exception):
    pass


class DeliveryError(Exception):
    """No answer from the receiver (network, timeout, token refused); ``status``/``body`` if any came."""

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Endpoint:
    """A school's OKE receiver, from ``School.settings`` (the secret from the environment)."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str = ""
    scope: str | None = None
    token_auth: str = "basic"

    @classmethod
    def from_settings(cls, settings: Mapping | None, environ: Mapping[str, str] | None = None) -> Endpoint:
        settings = settings or {}
        environ = os.environ if environ is None else environ
        missing = [k for k in ("oke_base_url", "oke_token_url", "oke_client_id") if not settings.get(k)]
        if missing:
            raise EndpointNotConfigured("OKE-koppeling niet ingesteld: " + ", ".join(missing) + " ontbreekt")
        secret_env = settings.get("oke_client_secret_env") or DEFAULT_SECRET_ENV
        secret = environ.get(secret_env, "")
        if not secret:
            raise EndpointNotConfigured(f"OKE-koppeling: omgevingsvariabele {secret_env} (client secret) is leeg")
        endpoint = cls(
            base_url=str(settings["oke_base_url"]).rstrip("/"),
            token_url=str(settings["oke_token_url"]),
            client_id=str(settings["oke_client_id"]),
            client_secret=secret,
            scope=settings.get("oke_scope") or None,
            token_auth=settings.get("oke_token_auth") or "basic",
        )
        for url in (endpoint.base_url, endpoint.token_url):
            _check_url(url)
        return endpoint

    def url_for(self, path: str) -> str:
        return self.base_url + path


def _check_url(url: str) -> None:
    """HTTPS only (client secrets and tokens travel), except to this machine (tests, development)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            if host == "localhost" or ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise EndpointNotConfigured(f"OKE-koppeling: {url!r} is geen https-adres")


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str
    headers: Mapping[str, str]


class Sender(Protocol):
    def send(self, endpoint: Endpoint, request: OutgoingRequest, now: datetime) -> HttpResponse: ...


class OkeClient:
    """HTTP with OAuth2 client credentials; the token is cached per client until shortly before it expires.

    Any HTTP answer is returned (2xx or not); no answer at all raises :class:`DeliveryError`.
    """

    EXPIRY_MARGIN = timedelta(seconds=30)

    def __init__(self, timeout: float = TIMEOUT_SECONDS):
        self.timeout = timeout
        self._tokens: dict[tuple, tuple[str, datetime]] = {}
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context()
        self._ssl.minimum_version = MIN_TLS
        self.token_requests = 0

    def send(self, endpoint: Endpoint, request: OutgoingRequest, now: datetime) -> HttpResponse:
        token = self._token(endpoint, now)
        headers = {**request.headers, "Authorization": f"Bearer {token}"}
        response = self._http(request.method, request.url, request.body, headers)
        if response.status == 401:
            self._forget(endpoint)
        return response

    def _key(self, endpoint: Endpoint) -> tuple:
        return (endpoint.token_url, endpoint.client_id, endpoint.scope)

    def _forget(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._tokens.pop(self._key(endpoint), None)

    def _token(self, endpoint: Endpoint, now: datetime) -> str:
        key = self._key(endpoint)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and now < cached[1]:
                return cached[0]
        form = {"grant_type": "client_credentials"}
        if endpoint.scope:
            form["scope"] = endpoint.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if endpoint.token_auth == "post":
            form |= {"client_id": endpoint.client_id, "client_secret": endpoint.client_secret}
        else:  # RFC 6749 2.3.1: HTTP Basic with form-encoded id and secret
            pair = f"{urllib.parse.quote_plus(endpoint.client_id)}:{urllib.parse.quote_plus(endpoint.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        self.token_requests += 1
        response = self._http("POST", endpoint.token_url, urllib.parse.urlencode(form).encode(), headers)
        if not 200 <= response.status < 300:
            raise DeliveryError(f"token geweigerd (HTTP {response.status})", response.status, response.body)
        try:
            data = json.loads(response.body)
            token = str(data["access_token"])
            expires_in = int(data.get("expires_in") or 300)
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"onbruikbaar tokenantwoord: {exc}", response.status, response.body) from None
        if str(data.get("token_type", "bearer")).lower() != "bearer":
            raise DeliveryError(f"token_type {data.get('token_type')!r} is geen bearer", response.status)
        with self._lock:
            self._tokens[key] = (token, now + timedelta(seconds=expires_in) - self.EXPIRY_MARGIN)
        return token

    def _http(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        context = self._ssl if url.startswith("https:") else None
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=context) as resp:
                return HttpResponse(resp.status, _read(resp), dict(resp.headers.items()))
        except urllib.error.HTTPError as exc:
            try:
                return HttpResponse(exc.code, _read(exc), dict(exc.headers.items()) if exc.headers else {})
            finally:
                exc.close()
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, bad URLs
            raise DeliveryError(f"geen antwoord van {urllib.parse.urlsplit(url).netloc}: {exc}") from None


def _read(resp) -> str:
    return resp.read(MAX_LOGGED_RESPONSE + 1).decode("utf-8", errors="replace")


_default_client: OkeClient | None = None
_default_lock = threading.Lock()


def default_client() -> OkeClient:
    """One client per process, so a token is reused across sweeps."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = OkeClient()
        return _default_client
