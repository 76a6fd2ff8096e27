"""An API client for tests that validates every response against the served OpenAPI document."""

from __future__ import annotations

from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

from processes import accounts

_SPECS: dict[int, OpenAPI] = {}


def served_openapi(client) -> OpenAPI:
    key = id(client.application)
    if key not in _SPECS:
        resp = client.get("/api/v1/openapi.json")
        assert resp.status_code == 200
        _SPECS[key] = OpenAPI.from_dict(resp.get_json())
    return _SPECS[key]


class _SentRequest(WerkzeugOpenAPIRequest):
    """The body was consumed by the app; validating the response needs only path and method."""

    @property
    def body(self) -> bytes:
        return b""


class ApiClient:
    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token
        self.openapi = served_openapi(client)

    def _headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def _check(self, resp):
        request = _SentRequest(resp.request)
        self.openapi.validate_response(request, WerkzeugOpenAPIResponse(resp))
        return resp

    def get(self, path, **kw):
        return self._check(self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw))

    def post(self, path, json=None, **kw):
        headers = self._headers(kw.pop("headers", None))
        if json is not None:
            kw["json"] = json
        return self._check(self.client.post(path, headers=headers, **kw))

    def put(self, path, data=b"", headers=None, **kw):
        return self._check(self.client.put(path, data=data, headers=self._headers(headers), **kw))


def api_for(app, user_id: int, uow_factory) -> ApiClient:
    token = accounts.create_api_token(user_id, "test", uow_factory())
    return ApiClient(app.test_client(), token)
