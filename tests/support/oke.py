"""The OKE spec's own example messages (``ooapiv5_MBO.yaml``) for tests, and openapi-core on the spec."""

from __future__ import annotations

import copy
import functools
import json

import yaml

from handlers import oke

OFFERING_EXAMPLE = "Create offering (zitting) without students (flow 2.1)"
OFFERING_MINIMAL_EXAMPLE = "Create offering (zitting) without students (flow 2.1 minimal)"
ASSOCIATION_EXAMPLE = "Add student to created offering (zitting) (flow 2.2.B and 2.3)"
ASSOCIATION_CHANGE_EXAMPLE = "Change student enrollment to offering (zitting) (flow 2.x)"
# The spec's association examples name a person "111-2222-33-4444-222", which is not the UUID its schema asks.
PERSON_ID = "5b7c1e2a-3f4d-4e6a-9b8c-7d6e5f4a3b2c"


@functools.cache
def _spec() -> dict:
    with (oke.spec_dir() / oke.SPEC_FILE).open() as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 — a safe loader


def spec_example(path: str, method: str, name: str) -> dict:
    """A copy of one request example of the spec, unchanged."""
    content = _spec()["paths"][path][method]["requestBody"]["content"]
    media = oke.MERGE_PATCH if method == "patch" else "application/json"
    return copy.deepcopy(content[media]["examples"][name]["value"])


def offering_example(name: str = OFFERING_EXAMPLE) -> dict:
    """The spec's flow-2.1 PUT example with its one finding fixed: ``safety`` in the consumer schema's spelling."""
    body = spec_example("/offerings/{offeringId}", "put", name)
    entry = oke.consumer_entry(body)
    if "safety" in entry:
        entry["safety"] = ["fixedLocation", "surveillance"]
    return body


def association_example(name: str = ASSOCIATION_EXAMPLE) -> dict:
    """The spec's flow-2.2.B PUT example with its one finding fixed: the person's id a UUID."""
    body = spec_example("/associations/{associationId}", "put", name)
    if isinstance(body["person"], dict):
        body["person"]["personId"] = PERSON_ID
    else:
        body["person"] = PERSON_ID
    return body


@functools.cache
def _openapi():
    from openapi_core import Config, OpenAPI

    # The spec overflows the spec validator; merge-patch bodies need a deserializer (shared/oke/README.md).
    config = Config(spec_validator_cls=None, extra_media_type_deserializers={oke.MERGE_PATCH: json.loads})
    return OpenAPI.from_dict(copy.deepcopy(_spec()), config=config), _spec()["servers"][0]["url"]


def validate_with_openapi_core(method: str, path: str, body, content_type: str) -> None:
    """openapi-core on the whole spec: an independent check of path, media type and body."""
    from openapi_core.testing import MockRequest

    api, server = _openapi()
    host = server.rsplit("/v5", 1)[0]
    api.validate_request(MockRequest(host, method, "/v5" + path, data=json.dumps(body), content_type=content_type))
