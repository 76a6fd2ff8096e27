"""Flow 4.1 (issue 5, point 5): a sitting's report (zittingsverslag) as PATCH /offerings/{offeringId},
valid against ooapiv5_MBO.yaml and nl-test-admin-Offering, and refused when it is not."""

from __future__ import annotations

import pytest

from handlers import oke
from tests.support.oke import spec_example, validate_with_openapi_core

OFFERING_ID = oke.offering_id_for("roc-a", 7)
DOCUMENTS = [
    oke.Document("3f0b8a52-6c1d-4e2f-9a7b-5c4d3e2f1a0b", "sessionReport", "Proces-verbaal NED-2F 25-01-2027.pdf"),
    oke.Document("8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968", "attendanceReport", "Presentielijst NED-2F.pdf"),
]


def test_flow4_report_has_the_shape_of_the_specs_example():
    path, body = oke.build_offering_report(OFFERING_ID, irregularities="  Brandalarm om 10:12, 15 minuten stil.  ",
                                           documents=DOCUMENTS)
    assert path == f"/offerings/{OFFERING_ID}"
    assert body == {"offeringType": "component", "consumers": [{
        "consumerKey": "nl-test-admin",
        "irregularities": "Brandalarm om 10:12, 15 minuten stil.",
        "documents": [
            {"documentId": DOCUMENTS[0].document_id, "documentType": "sessionReport",
             "documentName": DOCUMENTS[0].document_name},
            {"documentId": DOCUMENTS[1].document_id, "documentType": "attendanceReport",
             "documentName": DOCUMENTS[1].document_name},
        ],
    }]}


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
@pytest.mark.parametrize("kwargs", [{}, {"irregularities": "Geen bijzonderheden."}, {"documents": DOCUMENTS},
                                    {"irregularities": "Stroomstoring.", "documents": DOCUMENTS[:1]}])
def test_flow4_report_validates_against_spec_and_consumer_schema(kwargs):
    path, body = oke.build_offering_report(OFFERING_ID, **kwargs)
    oke.validate_offering_patch(body, OFFERING_ID)
    validate_with_openapi_core("patch", path, body, oke.MERGE_PATCH)
    assert set(oke.consumer_entry(body)) <= oke.consumer_schema_properties("nl-test-admin-Offering")
    assert "irregularities" in oke.consumer_entry(body) or "irregularities" not in kwargs


def test_flow4_empty_irregularities_are_left_out():
    _, body = oke.build_offering_report(OFFERING_ID, irregularities="   ")
    assert oke.consumer_entry(body) == {"consumerKey": "nl-test-admin"}


@pytest.mark.parametrize("name", ["Send attendance and offering report directly (Flow 4.1)",
                                  "Delete offering (Flow 2.5)"])
def test_flow4_the_specs_own_offering_patch_examples_validate(name):
    # The flow 4.1 example leaves out offeringState, required in nl-test-admin-Offering: a PATCH may.
    oke.validate_offering_patch(spec_example("/offerings/{offeringId}", "patch", name))


def test_flow4_unknown_document_type_is_not_built():
    with pytest.raises(ValueError, match="documentType assessmentForm"):
        oke.build_offering_report(OFFERING_ID, documents=[oke.Document("d1", "assessmentForm", "x.pdf")])
    with pytest.raises(ValueError, match="geen UUID"):
        oke.build_offering_report("zitting-13")


@pytest.mark.parametrize(
    ("break_it", "finding"),
    [
        (lambda b: b.__setitem__("offeringType", "zitting"), "body.offeringType: 'zitting' is not one of"),
        (lambda b: b.__setitem__("consumers", {"consumerKey": "nl-test-admin"}), "body.consumers: "),
        (lambda b: oke.consumer_entry(b).__setitem__("irregularities", 12),
         "body.consumers[0].irregularities: 12 is not of type 'string'"),
        (lambda b: oke.consumer_entry(b)["documents"][0].__setitem__("documentType", "pdf"),
         "body.consumers[0].documents[0].documentType: 'pdf' is not one of"),
        (lambda b: oke.consumer_entry(b).__setitem__("offeringState", "afgelopen"),
         "body.consumers[0].offeringState: 'afgelopen' is not one of"),
    ],
)
def test_flow4_broken_reports_are_refused(break_it, finding):
    _, body = oke.build_offering_report(OFFERING_ID, irregularities="Stroomstoring.", documents=DOCUMENTS)
    break_it(body)
    with pytest.raises(oke.OkeMessageInvalid) as exc:
        oke.validate_offering_patch(body, OFFERING_ID)
    assert any(e.startswith(finding) for e in exc.value.errors), exc.value.errors
    assert str(exc.value).startswith("PATCH /offerings/{offeringId} voldoet niet aan de OKE-specificatie")


def test_flow4_offering_id_is_deterministic_per_school_and_moment():
    assert OFFERING_ID == oke.offering_id_for("roc-a", 7)
    assert len({OFFERING_ID, oke.offering_id_for("roc-b", 7), oke.offering_id_for("roc-a", 8),
                oke.association_id_for("roc-a", 7)}) == 4
    with pytest.raises(oke.OkeMessageInvalid, match="geen UUID"):
        oke.validate_offering_patch(oke.build_offering_report(OFFERING_ID)[1], "7")
