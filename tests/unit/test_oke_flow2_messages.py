"""Flow-2 messages coming in (issue 5, point 7): the planner's PUT /offerings/{id} and PUT
/associations/{id} are checked against ooapiv5_MBO.yaml and the OKE consumer schemas."""

from __future__ import annotations

import pytest

from handlers import oke
from tests.support.oke import (
    ASSOCIATION_CHANGE_EXAMPLE,
    ASSOCIATION_EXAMPLE,
    OFFERING_EXAMPLE,
    OFFERING_MINIMAL_EXAMPLE,
    association_example,
    offering_example,
    spec_example,
)

OFFERING_ID = "123e4567-e89b-12d3-a456-134564174000"
ASSOCIATION_ID = "123e4567-e89b-12d3-a456-426614174000"


def _findings(validate, body, path_id) -> list[str]:
    with pytest.raises(oke.OkeMessageInvalid) as exc:
        validate(body, path_id)
    assert "OKE-specificatie" in str(exc.value)
    return exc.value.errors


@pytest.mark.parametrize("name", [OFFERING_EXAMPLE, OFFERING_MINIMAL_EXAMPLE])
def test_flow2_offering_put_spec_examples_validate(name):
    oke.validate_offering_put(offering_example(name), OFFERING_ID)


def test_flow2_offering_put_spec_example_has_only_its_safety_spelling_wrong():
    # The spec's full example writes safety as "Fixed Location", which its own consumer schema refuses.
    body = spec_example("/offerings/{offeringId}", "put", OFFERING_EXAMPLE)
    assert _findings(oke.validate_offering_put, body, OFFERING_ID) == [
        "body.consumers[0].safety[0]: 'Fixed Location' is not one of ['securedComputer', 'fixedLocation', "
        "'surveillance']",
        "body.consumers[0].safety[1]: 'Surveillance' is not one of ['securedComputer', 'fixedLocation', "
        "'surveillance']",
    ]


@pytest.mark.parametrize("name", [ASSOCIATION_EXAMPLE, ASSOCIATION_CHANGE_EXAMPLE])
def test_flow2_association_put_spec_examples_validate(name):
    oke.validate_association_put(association_example(name), ASSOCIATION_ID)


def test_flow2_association_put_spec_example_has_only_its_person_id_wrong():
    body = spec_example("/associations/{associationId}", "put", ASSOCIATION_EXAMPLE)
    findings = _findings(oke.validate_association_put, body, ASSOCIATION_ID)
    assert findings and all("111-2222-33-4444-222" in f for f in findings), findings


@pytest.mark.parametrize(
    ("break_it", "finding"),
    [
        (lambda b: b.pop("startDateTime"), "body: 'startDateTime' is a required property"),
        (lambda b: b.pop("primaryCode"), "body: 'primaryCode' is a required property"),
        (lambda b: b.__setitem__("resultExpected", "ja"), "body.resultExpected: 'ja' is not of type 'boolean'"),
        (lambda b: b.__setitem__("offeringType", "zitting"), "body.offeringType: 'zitting' is not one of"),
        (lambda b: b.__setitem__("startDateTime", "21-06-2022 12:45"), "body.startDateTime: '21-06-2022 12:45' is "
                                                                        "not a 'date-time'"),
        (lambda b: b.__setitem__("maxNumberStudents", -1), "body.maxNumberStudents: -1 is less than the minimum"),
        (lambda b: b.__setitem__("offeringId", "123e4567-e89b-12d3-a456-000000000000"), "body.offeringId: "),
        # Only the consumer schema knows these:
        (lambda b: oke.consumer_entry(b).__setitem__("offeringState", "gepland"),
         "body.consumers[0].offeringState: 'gepland' is not one of ['active', 'canceled']"),
        (lambda b: oke.consumer_entry(b).pop("offeringState"),
         "body.consumers[0]: 'offeringState' is a required property"),
        (lambda b: oke.consumer_entry(b).__setitem__("locationCode", 13),
         "body.consumers[0].locationCode: 13 is not of type 'string'"),
    ],
)
def test_flow2_broken_offering_puts_are_refused(break_it, finding):
    body = offering_example()
    break_it(body)
    findings = _findings(oke.validate_offering_put, body, OFFERING_ID)
    assert any(f.startswith(finding) for f in findings), findings


@pytest.mark.parametrize(
    ("break_it", "finding"),
    [
        (lambda b: b.pop("role"), "body: 'role' is a required property"),
        (lambda b: b.__setitem__("state", "ingeschreven"), "body.state: 'ingeschreven' is not one of"),
        (lambda b: b.__setitem__("offering", "zitting-13"), "body.offering: 'zitting-13' is not a 'uuid'"),
        (lambda b: b.__setitem__("associationId", "123e4567-e89b-12d3-a456-000000000000"), "body.associationId: "),
        (lambda b: oke.consumer_entry(b).__setitem__("personalNeeds", "extraTime"),
         "body.consumers[0].personalNeeds: 'extraTime' is not of type 'array'"),
        (lambda b: oke.consumer_entry(b).__setitem__("additionalTimeInMin", "30"),
         "body.consumers[0].additionalTimeInMin: '30' is not of type 'integer'"),
        (lambda b: b["person"].__setitem__("consumers", [{"consumerKey": "nl-test-admin", "idCheckName": 7}]),
         "body.person.consumers[0].idCheckName: 7 is not of type 'string'"),
    ],
)
def test_flow2_broken_association_puts_are_refused(break_it, finding):
    body = association_example()
    break_it(body)
    findings = _findings(oke.validate_association_put, body, ASSOCIATION_ID)
    assert any(f.startswith(finding) for f in findings), findings


@pytest.mark.parametrize("body", [[], "zitting", None, 42])
def test_flow2_a_body_that_is_not_an_object_is_refused(body):
    assert _findings(oke.validate_offering_put, body, OFFERING_ID)
    assert _findings(oke.validate_association_put, body, ASSOCIATION_ID)


def test_flow2_path_ids_must_be_uuids():
    assert _findings(oke.validate_offering_put, offering_example(), "zitting-13") == [
        "offeringId 'zitting-13' is geen UUID",
        f"body.offeringId: '{OFFERING_ID}' is niet de offeringId uit het pad ('zitting-13')",
    ]
    assert "associationId '42' is geen UUID" in _findings(oke.validate_association_put, association_example(), "42")
