"""The OKE spec's own example messages (``ooapiv5_MBO.yaml``) for tests, and openapi-core on the spec."""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


# ----------------------------------------------------------------------------- a school that takes flow 2

# The exam the spec's flow-2.1 example names (its ``component``) and the student of its association example.
COMPONENT_ID = "c5fca27e-ccc1-430d-9888-90e005ad6a86"
SPEC_STUDENT_NUMBER = "1234567"
OFFERING_ID = "123e4567-e89b-12d3-a456-134564174000"
ASSOCIATION_ID = "123e4567-e89b-12d3-a456-426614174000"


@dataclass
class OkeSchool:
    """School a with the spec example's exam (established), its student with a Go, and a client."""

    exam_id: int
    student_id: int
    client_id: str
    secret: str
    system_user_id: int


def prepare_oke_school(world, uow_factory, school: str = "a") -> OkeSchool:
    from processes import accounts, oke_clients
    from processes import enrolment as enr

    bureau, commissie, begeleider = (world.users[f"{r}_{school}"] for r in ("bureau", "commissie", "begeleider"))
    exam_id = enr.create_exam(world.schools[school], COMPONENT_ID, "Rekenen MBO-3", "25655", bureau, uow_factory())
    version_id = enr.add_version(exam_id, bureau, uow_factory(), cesuur=55)
    enr.establish_version(version_id, commissie, uow_factory())
    uid = accounts.create_user(f"maartje.{school}@test.nl", "Maartje van Damme", None, uow_factory())
    student_id = accounts.create_student(uid, world.schools[school], SPEC_STUDENT_NUMBER, "2024", "25655",
                                         uow_factory())
    enr.give_go(exam_id, student_id, begeleider, uow_factory())
    created = oke_clients.create_client(world.schools[school], oke_clients.DEFAULT_NAME, uow_factory())
    return OkeSchool(exam_id, student_id, created.client_id, created.secret, created.user_id)


def future_offering(name: str = OFFERING_EXAMPLE, days: int = 30, **changes) -> dict:
    """The spec's offering example moved ``days`` ahead (its own date lies in 2022), with ``changes``."""
    body = offering_example(name)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    body["startDateTime"] = start.isoformat()
    body["endDateTime"] = (start + timedelta(hours=1)).isoformat()
    body.update(changes)
    return body


def association_for(number: str = SPEC_STUDENT_NUMBER, association_id: str = ASSOCIATION_ID, **changes) -> dict:
    """The spec's association example for the student with ``number``."""
    body = association_example()
    body["associationId"] = association_id
    body["person"]["primaryCode"]["code"] = number
    body.update(changes)
    return body
