"""Flow-3 result messages (R46): built from plain values, valid against ooapiv5_MBO.yaml and the OKE
consumer schemas, and refused when they are not."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
import yaml

from handlers import oke

ESTABLISHED = datetime(2027, 2, 11, 23, 30, tzinfo=UTC)  # 12 February in Amsterdam
ASSESSORS = [
    oke.Assessor("Rik ROC", "roc_beoordelaar", oke.assessor_id_for("roc-a", 7)),
    oke.Assessor("Beatrix Beoordelaar", "praktijkbeoordelaar", oke.assessor_id_for("roc-a", 8)),
]


def build(result="voldaan", werkprocessen=None, **kwargs):
    werkprocessen = werkprocessen or {"B1-K1-W1": "voldaan", "B1-K1-W2": result}
    return oke.build_result_association(oke.association_id_for("roc-a", 42), result=result,
                                        werkprocessen=werkprocessen, assessors=ASSESSORS,
                                        established_at=ESTABLISHED, **kwargs)


def entry(body):
    return body["result"]["consumers"][0]


@pytest.fixture(scope="module")
def openapi():
    """openapi-core on the whole spec: an independent check of the request (path, media type, body)."""
    from openapi_core import Config, OpenAPI

    with (oke.spec_dir() / oke.SPEC_FILE).open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    # The spec overflows the spec validator; merge-patch bodies need a deserializer (shared/oke/README.md).
    config = Config(spec_validator_cls=None,
                    extra_media_type_deserializers={oke.MERGE_PATCH: json.loads})
    return OpenAPI.from_dict(spec, config=config), spec["servers"][0]["url"]


def validate_with_openapi_core(openapi, path, body, content_type=oke.MERGE_PATCH):
    from openapi_core.testing import MockRequest

    api, server = openapi
    host, prefix = server.rsplit("/v5", 1)[0], "/v5"
    api.validate_request(MockRequest(host, "patch", prefix + path, data=json.dumps(body),
                                     content_type=content_type))


def test_r46_passed_result_is_a_final_completed_patch():
    path, body = build("voldaan")
    assert path == "/associations/" + oke.association_id_for("roc-a", 42)
    assert body["associationType"] == "componentOfferingAssociation"
    result = body["result"]
    assert (result["state"], result["pass"], result["score"], result["weight"]) == ("completed", "passed",
                                                                                   "passed", 100)
    assert result["resultDate"] == "2027-02-12"  # the school's date, not UTC's
    assert entry(body) == {"consumerKey": "nl-test-admin", "attendance": "present", "final": True,
                           "assessorId": ASSESSORS[0].assessor_id}
    assert "B1-K1-W1 voldaan" in result["comment"] and "Rik ROC (ROC-beoordelaar)" in result["comment"]
    assert "Beatrix Beoordelaar (praktijkbeoordelaar)" in result["comment"]


def test_r46_failed_result_maps_to_failed():
    _, body = build("onvoldoende")
    assert (body["result"]["pass"], body["result"]["score"]) == ("failed", "failed")
    assert "B1-K1-W2 onvoldoende" in body["result"]["comment"]
    assert entry(body)["final"] is True


def test_r46_unknown_outcome_is_not_built():
    with pytest.raises(ValueError, match="voldaan/onvoldoende"):
        build("goed")
    with pytest.raises(ValueError, match="tijdzone"):
        oke.build_result_association(oke.association_id_for("roc-a", 1), result="voldaan", werkprocessen={},
                                     assessors=[], established_at=datetime(2027, 2, 11, 12, 0))


@pytest.mark.parametrize("result", ["voldaan", "onvoldoende"])
@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
def test_r46_result_body_validates_against_spec_and_consumer_schema(result, openapi):
    path, body = build(result, test_date=datetime(2027, 2, 1, 9, 0, tzinfo=UTC),
                       documents=[oke.Document("9d1e6a0e-1c1b-4c8e-8a4e-1f2b3c4d5e6f", "assessmentForm",
                                               "Beoordelingsformulier.pdf")])
    oke.validate_association_patch(body, path.rsplit("/", 1)[1])
    validate_with_openapi_core(openapi, path, body)
    # Only fields the consumer schema defines (it allows others, so a typo would pass unseen).
    assert set(entry(body)) <= oke.consumer_schema_properties("nl-test-admin-Result")


def test_r46_the_specs_own_flow3_examples_validate():
    with (oke.spec_dir() / oke.SPEC_FILE).open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    examples = spec["paths"]["/associations/{associationId}"]["patch"]["requestBody"]["content"][
        oke.MERGE_PATCH]["examples"]
    flow3 = {name: ex["value"] for name, ex in examples.items() if "flow 3" in name}
    assert len(flow3) == 3
    for name, value in flow3.items():
        if "documents" not in value["result"]["consumers"][0]:
            oke.validate_association_patch(value)
            continue
        # The spec's examples give documentId as a number, which its own consumer schema refuses:
        # that is the only finding, so the validator reads the schema as its authors meant it.
        with pytest.raises(oke.OkeMessageInvalid) as exc:
            oke.validate_association_patch(value)
        assert exc.value.errors == [
            "body.result.consumers[0].documents[0].documentId: 123454 is not of type 'string'"
        ], name


@pytest.mark.parametrize(
    ("break_it", "finding"),
    [
        (lambda b: b["result"].__setitem__("pass", "voldaan"), "body.result.pass: 'voldaan' is not one of"),
        (lambda b: b["result"].__setitem__("state", "done"), "body.result.state: 'done' is not one of"),
        (lambda b: b["result"].pop("weight"), "body.result: 'weight' is a required property"),
        (lambda b: b["result"].pop("resultDate"), "body.result: 'resultDate' is a required property"),
        (lambda b: b["result"].__setitem__("resultDate", "12-02-2027"), "body.result.resultDate:"),
        (lambda b: b.__setitem__("associationType", "pvb"), "body.associationType: 'pvb' is not one of"),
        # Only the consumer schema knows these (the main spec takes any consumer entry):
        (lambda b: entry(b).__setitem__("attendance", "aanwezig"),
         "body.result.consumers[0].attendance: 'aanwezig' is not one of"),
        (lambda b: entry(b).pop("attendance"), "body.result.consumers[0]: 'attendance' is a required property"),
        (lambda b: entry(b).__setitem__("final", "ja"), "body.result.consumers[0].final: 'ja' is not of type"),
        (lambda b: entry(b).__setitem__("documents", [{"documentType": "pdf"}]),
         "body.result.consumers[0].documents[0].documentType: 'pdf' is not one of"),
        (lambda b: b.__setitem__("consumers", [{"consumerKey": "nl-test-admin", "attempt": "eerste"}]),
         "body.consumers[0].attempt: 'eerste' is not of type 'integer'"),
    ],
)
def test_r46_broken_bodies_are_refused(break_it, finding):
    _, body = build()
    broken = copy.deepcopy(body)
    break_it(broken)
    with pytest.raises(oke.OkeMessageInvalid) as exc:
        oke.validate_association_patch(broken)
    assert any(e.startswith(finding) for e in exc.value.errors), exc.value.errors
    assert "OKE-specificatie" in str(exc.value)


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
def test_r46_consumer_check_catches_what_the_main_spec_lets_through(openapi):
    from openapi_core.validation.request.exceptions import RequestValidationError

    path, body = build()
    entry(body)["attendance"] = "aanwezig"
    validate_with_openapi_core(openapi, path, body)  # anyOf a generic consumer: accepted
    with pytest.raises(oke.OkeMessageInvalid):
        oke.validate_association_patch(body)
    # And the PATCH is a merge patch, not plain JSON.
    with pytest.raises(RequestValidationError):
        validate_with_openapi_core(openapi, path, build()[1], content_type="application/json")


def test_r46_association_id_is_deterministic_per_school_and_exam():
    a = oke.association_id_for("roc-a", 42)
    assert a == oke.association_id_for("roc-a", 42)
    assert len({a, oke.association_id_for("roc-b", 42), oke.association_id_for("roc-a", 43)}) == 3
    with pytest.raises(oke.OkeMessageInvalid, match="geen UUID"):
        oke.validate_association_patch(build()[1], "42")
    with pytest.raises(ValueError, match="geen UUID"):
        oke.association_path("42")
