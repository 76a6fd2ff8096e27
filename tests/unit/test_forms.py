"""Behaviour of form files: parsing, server-side validation (Dutch messages), the pass rule, rendering."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from forms import (
    FormFileError,
    FormInvalid,
    build_schema,
    compute_result,
    load_form_dir,
    load_form_file,
    parse_form,
    render_description,
    shipped_forms_dir,
    unflatten_form,
    validate,
)
from forms.model import ROLE_CODES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_KEYS = {
    "opdracht_aanmaken",
    "opdracht_verwerven",
    "deelnemers_vastleggen",
    "opdracht_goedkeuren",
    "opdracht_goedkeuren_student",
    "termijn_escalatie",
    "opdracht_vaststellen",
    "opdracht_herzien",
    "afspraken_plannen",
    "bewijsstukken_uploaden",
    "bewijsstukken_controleren",
    "uitvoering_afronden",
    "beoordelen",
    "consensus",
    "consensus_bevestigen",
    "eindbeoordeling_vaststellen",
    "afsluiten",
    "vervolg_bepalen",
    # exams at exam moments (aanmelden, herkansing, beoordelen_v1/v2)
    "go_geven",
    "examenmoment_kiezen",
    "inschrijven",
    "afwezigheid_beoordelen",
    "extra_poging_aanvragen",
    "extra_poging_beoordelen",
    "resultaat_invoeren",
    "uitwisseling_controleren",
    "resultaat_vaststellen",
    "examenversie_goedkeuren",
    # inspection and objection (inzage_bezwaar, R34)
    "verzoek_behandelen",
    "besluit_inzien",
}
MODEL = {
    "werkprocessen": [
        {
            "code": "B1-K1-W1",
            "title": "Plant de werkzaamheden",
            "criteria": [
                {"id": "c1", "text": "Maakt een haalbare planning", "crucial": True},
                {"id": "c2", "text": "Overlegt met collega's", "crucial": False},
            ],
        },
        {
            "code": "B1-K1-W2",
            "title": "Voert de werkzaamheden uit",
            "rule": "all",
            "criteria": [{"id": "c3", "text": "Werkt veilig"}],
        },
    ]
}
PEOPLE = {
    "praktijkbegeleider": [{"value": 11, "label": "P. Begeleider"}],
    "praktijkbeoordelaar": [{"value": 12, "label": "P. Beoordelaar"}],
    "roc_beoordelaar": [{"value": 13, "label": "R. Beoordelaar"}],
    "vaststeller": [{"value": 14, "label": "V. Steller"}, {"value": 15, "label": "W. Steller"}],
}


def shipped(key: str):
    return load_form_file(shipped_forms_dir() / f"{key}.json")


def errors_of(form, data, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(FormInvalid) as exc:
        validate(form, data, **kwargs)
    return exc.value.errors


def minimal_form(**field_overrides) -> dict:
    field = {"name": "reden", "label": "Reden", "type": "text"} | field_overrides
    return {"key": "proef", "title": "Proef", "fields": [field]}


# --- the shipped files -------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(SHIPPED_KEYS))
def test_each_shipped_form_parses_and_is_named_by_its_key(key):
    form = shipped(key)
    assert form.key == key
    assert form.fields


def test_load_form_dir_returns_the_raw_dicts_of_all_shipped_forms():
    forms = load_form_dir(shipped_forms_dir())
    assert set(forms) == SHIPPED_KEYS
    raw = json.loads((shipped_forms_dir() / "beoordelen.json").read_text(encoding="utf-8"))
    assert forms["beoordelen"] == raw


def test_r12_the_location_field_is_called_examenlocatie():
    form = shipped("opdracht_verwerven")
    assert "examenlocatie" in form.field_names
    text = json.dumps(load_form_dir(shipped_forms_dir()), ensure_ascii=False).lower()
    assert "bpv-bedrijf" not in text and "bpv_bedrijf" not in text


def test_the_vaststeller_is_chosen_from_the_examencommissie():
    form = shipped("deelnemers_vastleggen")
    assert form.field("vaststeller").role == "examencommissie"
    # R8: one assessor may do where the school agrees; every other role is required (R7).
    assert [f.name for f in form.fields if not f.required] == ["praktijkbeoordelaar"]


def test_role_codes_match_the_core():
    from processes.models import ROLES

    assert ROLE_CODES == set(ROLES)


def test_forms_package_does_not_import_flask():
    for path in Path(shipped_forms_dir()).glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in {"flask", "webapp", "processes"} for n in names), path


# --- validation ---------------------------------------------------------------------------------


def test_a_missing_required_field_gets_its_dutch_message():
    errors = errors_of(shipped("afspraken_plannen"), {"uitvoeringsdatum": "2025-03-03"})
    assert errors == {"beoordelingsdatum": ["Dit veld is verplicht."]}


def test_an_empty_string_from_an_html_post_counts_as_missing():
    form = shipped("opdracht_aanmaken")
    errors = errors_of(form, {"titel": "  ", "opdrachttekst": "", "gewenste_einddatum": "2025-06-30"})
    assert errors == {"titel": ["Dit veld is verplicht."]}
    clean = validate(form, {"titel": "Zorgplan", "opdrachttekst": "", "gewenste_einddatum": "2025-06-30"})
    assert clean == {"titel": "Zorgplan", "gewenste_einddatum": "2025-06-30"}


def test_an_invalid_date_and_a_too_long_text_are_refused_in_dutch():
    form = shipped("opdracht_aanmaken")
    errors = errors_of(form, {"titel": "x" * 201, "gewenste_einddatum": "30-06-2025"})
    assert errors == {
        "titel": ["Maximaal 200 tekens."],
        "gewenste_einddatum": ["Vul een geldige datum in (jjjj-mm-dd)."],
    }


def test_an_unknown_field_is_refused():
    errors = errors_of(shipped("opdracht_verwerven"), {"examenlocatie": "Zorgcentrum", "bpv_bedrijf": "x"})
    assert errors == {"bpv_bedrijf": ["Onbekend veld."]}


def test_a_choice_outside_the_options_is_refused():
    errors = errors_of(shipped("opdracht_vaststellen"), {"opdracht_besluit": "misschien", "bevestiging": "on"})
    assert errors == {"opdracht_besluit": ["Kies een van de opties."]}


def test_r13_a_decision_needs_the_confirmation_ticked():
    form = shipped("opdracht_vaststellen")
    assert errors_of(form, {"opdracht_besluit": "vastgesteld"}) == {"bevestiging": ["Bevestig dit om verder te gaan."]}
    assert errors_of(form, {"opdracht_besluit": "vastgesteld", "bevestiging": False}) == {
        "bevestiging": ["Bevestig dit om verder te gaan."]
    }
    assert validate(form, {"opdracht_besluit": "vastgesteld", "bevestiging": "on"}) == {
        "opdracht_besluit": "vastgesteld",
        "bevestiging": True,
    }
    assert validate(form, {"opdracht_besluit": "vastgesteld", "bevestiging": True})["bevestiging"] is True


@pytest.mark.parametrize(
    "key,besluit,reden,refusal",
    [
        ("opdracht_vaststellen", "opdracht_besluit", "opdracht_reden", "afgewezen"),
        ("bewijsstukken_controleren", "bewijs_besluit", "bewijs_reden", "onvolledig"),
        ("consensus_bevestigen", "consensus_akkoord", "consensus_reden", "niet_akkoord"),
        ("eindbeoordeling_vaststellen", "eind_besluit", "eind_reden", "terug_naar_consensus"),
    ],
)
def test_required_when_asks_for_a_reason_only_on_a_refusal(key, besluit, reden, refusal):
    form = shipped(key)
    assert errors_of(form, {besluit: refusal, "bevestiging": "on"}) == {reden: ["Dit veld is verplicht."]}
    accepted = form.field(besluit).options[0]["value"]
    assert validate(form, {besluit: accepted, "bevestiging": "on"}) == {
        besluit: accepted,
        "bevestiging": True,
    }
    clean = validate(form, {besluit: refusal, reden: "Onvolledig", "bevestiging": "on"})
    assert clean[reden] == "Onvolledig"


def test_a_conditional_field_with_its_own_error_gets_only_that_error():
    form = shipped("opdracht_vaststellen")
    errors = errors_of(form, {"opdracht_besluit": "afgewezen", "opdracht_reden": "x" * 5001, "bevestiging": "on"})
    assert errors == {"opdracht_reden": ["Maximaal 5000 tekens."]}


def test_required_when_with_in_and_on_a_checkbox():
    form = parse_form(
        {
            "key": "proef",
            "title": "Proef",
            "fields": [
                {"name": "cijfer", "label": "Cijfer", "type": "integer", "min": 1, "max": 10},
                {
                    "name": "uitleg",
                    "label": "Uitleg",
                    "type": "text",
                    "required_when": {"field": "cijfer", "in": [1, 2]},
                },
                {"name": "afwijking", "label": "Afwijking", "type": "boolean"},
                {
                    "name": "welke",
                    "label": "Welke",
                    "type": "text",
                    "required_when": {"field": "afwijking", "equals": True},
                },
            ],
        }
    )
    assert errors_of(form, {"cijfer": "2"}) == {"uitleg": ["Dit veld is verplicht."]}
    assert validate(form, {"cijfer": "7"}) == {"cijfer": 7, "afwijking": False}
    assert errors_of(form, {"afwijking": "on"}) == {"welke": ["Dit veld is verplicht."]}
    assert errors_of(form, {"cijfer": "11"}) == {"cijfer": ["Vul een getal van maximaal 10 in."]}
    assert errors_of(form, {"cijfer": 2.5}) == {"cijfer": ["Vul een geheel getal in."]}


def test_a_person_is_validated_against_the_supplied_choices():
    form = shipped("deelnemers_vastleggen")
    post = {
        "praktijkbegeleider": "11",
        "praktijkbeoordelaar": "12",
        "roc_beoordelaar": "13",
        "vaststeller": "15",
    }
    assert validate(form, post, choices=PEOPLE) == {
        "praktijkbegeleider": 11,
        "praktijkbeoordelaar": 12,
        "roc_beoordelaar": 13,
        "vaststeller": 15,
    }
    errors = errors_of(form, post | {"vaststeller": 12}, choices=PEOPLE)
    assert errors == {"vaststeller": ["Kies een van de opties."]}


def test_a_person_field_cannot_be_validated_without_choices():
    with pytest.raises(ValueError, match="vaststeller"):
        build_schema(
            shipped("deelnemers_vastleggen"), choices={k: v for k, v in PEOPLE.items() if k != "vaststeller"}
        )


def test_a_moment_is_one_of_the_moments_the_system_offers_and_renders_as_a_list():
    form = shipped("examenmoment_kiezen")
    moments = {"moment": [{"value": 7, "label": "25-01-2027 10:00, Lokaal 1.01 (3 van 20 plaatsen vrij)"}]}
    assert validate(form, {"moment": "7", "bevestiging": "on"}, choices=moments)["moment"] == 7
    assert errors_of(form, {"moment": "8", "bevestiging": "on"}, choices=moments) == \
        {"moment": ["Kies een van de opties."]}
    with pytest.raises(ValueError, match="moment"):
        build_schema(form, choices={})
    [field] = [f for f in render_description(form, choices=moments) if f["name"] == "moment"]
    assert field["input_type"] == "select"
    assert [o["label"] for o in field["options"]] == [moments["moment"][0]["label"]]


def test_a_datetime_without_offset_is_read_in_school_time():
    form = parse_form(minimal_form(name="moment", label="Moment", type="datetime"))
    assert validate(form, {"moment": "2025-03-03T10:30"}) == {"moment": "2025-03-03T10:30:00+01:00"}


# --- the criteria section (step 8) ---------------------------------------------------------------


def assessment(**extra) -> dict:
    return {
        "beoordeling": {
            "c1": {"oordeel": "voldaan", "toelichting": ""},
            "c2": {"oordeel": "voldaan"},
            "c3": {"oordeel": "onvoldoende", "toelichting": "Geen handschoenen gedragen."},
        },
        "bevestiging": True,
    } | extra


def test_a_complete_assessment_is_accepted():
    clean = validate(shipped("beoordelen"), assessment(), criteria_model=MODEL)
    assert clean["beoordeling"]["c3"] == {
        "oordeel": "onvoldoende",
        "toelichting": "Geen handschoenen gedragen.",
    }
    assert clean["beoordeling"]["c2"] == {"oordeel": "voldaan", "toelichting": ""}
    assert clean["onvolledig_bevestigd"] is False


def test_r25_onvoldoende_without_toelichting_is_refused():
    data = assessment()
    data["beoordeling"]["c3"] = {"oordeel": "onvoldoende", "toelichting": "  "}
    errors = errors_of(shipped("beoordelen"), data, criteria_model=MODEL)
    assert errors == {"beoordeling__c3__toelichting": ["Een toelichting is verplicht bij onvoldoende."]}


def test_r26_incomplete_assessment_without_confirmation_is_refused():
    data = assessment()
    del data["beoordeling"]["c2"]
    errors = errors_of(shipped("beoordelen"), data, criteria_model=MODEL)
    assert errors == {
        "beoordeling": [
            "Niet alle criteria zijn beoordeeld: bevestig dat u een onvolledige beoordeling vastlegt."
        ]
    }


def test_r26_incomplete_assessment_with_confirmation_is_accepted():
    data = assessment(onvolledig_bevestigd="on")
    del data["beoordeling"]["c2"]
    clean = validate(shipped("beoordelen"), data, criteria_model=MODEL)
    assert set(clean["beoordeling"]) == {"c1", "c3"}
    assert clean["onvolledig_bevestigd"] is True


def test_an_assessment_with_nothing_judged_is_refused_even_when_confirmed():
    errors = errors_of(
        shipped("beoordelen"), {"bevestiging": "on", "onvolledig_bevestigd": "on"}, criteria_model=MODEL
    )
    assert errors == {"beoordeling": ["Beoordeel ten minste één criterium."]}


def test_an_unknown_criterion_or_judgement_is_refused():
    data = assessment()
    data["beoordeling"]["c9"] = {"oordeel": "voldaan"}
    data["beoordeling"]["c1"] = {"oordeel": "goed"}
    errors = errors_of(shipped("beoordelen"), data, criteria_model=MODEL)
    assert errors == {
        "beoordeling__c9": ["Onbekend criterium."],
        "beoordeling__c1__oordeel": ["Kies voldaan of onvoldoende."],
    }


def test_flattened_html_post_is_unflattened_and_validated():
    form = shipped("beoordelen")
    post = {
        "csrf_token": "abc",
        "beoordeling__c1__oordeel": "voldaan",
        "beoordeling__c1__toelichting": "",
        "beoordeling__c2__oordeel": "onvoldoende",
        "beoordeling__c2__toelichting": "Overlegt niet.",
        "beoordeling__c3__oordeel": "voldaan",
        "beoordeling__c3__toelichting": "",
        "toelichting": "",
        "bevestiging": "on",
    }
    data = unflatten_form(form, post)
    assert data["beoordeling"]["c2"] == {"oordeel": "onvoldoende", "toelichting": "Overlegt niet."}
    assert "csrf_token" not in data
    clean = validate(form, data, criteria_model=MODEL)
    assert clean["beoordeling"]["c2"]["oordeel"] == "onvoldoende"
    assert "toelichting" not in clean


def test_a_criteria_form_cannot_be_validated_without_the_assessment_model():
    with pytest.raises(ValueError, match="beoordeling"):
        validate(shipped("beoordelen"), assessment())


def judged(**oordelen) -> dict:
    return {cid: {"oordeel": o, "toelichting": "t"} for cid, o in oordelen.items()}


def test_compute_result_fails_a_werkproces_on_a_crucial_criterion():
    result = compute_result(MODEL, judged(c1="onvoldoende", c2="voldaan", c3="voldaan"))
    assert result == {
        "werkprocessen": {"B1-K1-W1": "onvoldoende", "B1-K1-W2": "voldaan"},
        "uitslag": "onvoldoende",
    }


def test_compute_result_passes_despite_a_non_crucial_onvoldoende():
    result = compute_result(MODEL, judged(c1="voldaan", c2="onvoldoende", c3="voldaan"))
    assert result == {"werkprocessen": {"B1-K1-W1": "voldaan", "B1-K1-W2": "voldaan"}, "uitslag": "voldaan"}


def test_compute_result_rule_all_needs_every_criterion_voldaan():
    result = compute_result(MODEL, judged(c1="voldaan", c2="voldaan", c3="onvoldoende"))
    assert result["werkprocessen"]["B1-K1-W2"] == "onvoldoende"
    assert result["uitslag"] == "onvoldoende"
    assert (
        compute_result(MODEL, judged(c1="voldaan", c2="voldaan"))["werkprocessen"]["B1-K1-W2"]
        == "onvoldoende"
    )


# --- broken form files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,fragment",
    [
        (minimal_form(requird=True), "onbekende sleutel 'requird'"),
        (minimal_form(type="email"), "onbekend type 'email'"),
        (minimal_form(type="choice"), "'options'"),
        (minimal_form(required_when={"field": "besluit", "equals": "x"}), "'besluit', dat niet bestaat"),
        (minimal_form(type="person"), "'role'"),
        (minimal_form(type="boolean", required=True), "type 'confirm'"),
    ],
)
def test_a_broken_field_gives_a_dutch_error_naming_the_field(raw, fragment):
    with pytest.raises(FormFileError) as exc:
        parse_form(raw)
    assert "veld 'reden'" in str(exc.value)
    assert fragment in str(exc.value)
    assert exc.value.field == "reden"


def test_duplicate_field_names_are_refused():
    raw = minimal_form()
    raw["fields"].append({"name": "reden", "label": "Nog eens", "type": "textarea"})
    with pytest.raises(FormFileError, match="veld 'reden': deze veldnaam komt twee keer voor"):
        parse_form(raw)


def test_required_when_must_name_a_possible_value():
    raw = json.loads((shipped_forms_dir() / "opdracht_vaststellen.json").read_text(encoding="utf-8"))
    raw["fields"][1]["required_when"] = {"field": "opdracht_besluit", "equals": "afgekeurd"}
    with pytest.raises(FormFileError, match="veld 'opdracht_reden'.*'afgekeurd' is geen mogelijke waarde"):
        parse_form(raw)


def test_a_file_with_bad_json_or_a_wrong_name_is_refused(tmp_path):
    (tmp_path / "kapot.json").write_text('{"key": "kapot",', encoding="utf-8")
    with pytest.raises(FormFileError, match="kapot.json' is geen geldige JSON"):
        load_form_dir(tmp_path)
    (tmp_path / "kapot.json").write_text(json.dumps(minimal_form()), encoding="utf-8")
    with pytest.raises(FormFileError, match="de key is 'proef'"):
        load_form_file(tmp_path / "kapot.json")


# --- rendering -----------------------------------------------------------------------------------


def test_render_description_carries_values_errors_and_the_condition():
    form = shipped("opdracht_vaststellen")
    fields = render_description(
        form, {"opdracht_besluit": "afgewezen"}, {"opdracht_reden": ["Dit veld is verplicht."]}
    )
    besluit, reden, bevestiging = fields
    assert besluit["input_type"] == "radio"
    assert [o["selected"] for o in besluit["options"]] == [False, True]
    assert reden["errors"] == ["Dit veld is verplicht."]
    assert reden["required_when"] == {"field": "opdracht_besluit", "values": ["afgewezen"]}
    assert "veld-opdracht_reden-fout" in reden["describedby"].split()
    assert bevestiging["input_type"] == "checkbox" and bevestiging["required"] and not bevestiging["checked"]


def test_render_description_of_criteria_from_a_flat_post():
    form = shipped("beoordelen")
    post = {"beoordeling__c3__oordeel": "onvoldoende", "beoordeling__c3__toelichting": ""}
    errors = {"beoordeling__c3__toelichting": ["Een toelichting is verplicht bij onvoldoende."]}
    section = render_description(form, post, errors, criteria_model=MODEL)[0]
    c3 = section["werkprocessen"][1]["criteria"][0]
    assert c3["oordeel"] == "onvoldoende"
    assert c3["name_toelichting"] == "beoordeling__c3__toelichting"
    assert c3["toelichting_errors"] == ["Een toelichting is verplicht bij onvoldoende."]
    assert section["werkprocessen"][0]["criteria"][0]["crucial"] is True


def test_the_fields_macro_renders_accessible_html():
    env = Environment(loader=FileSystemLoader(ROOT / "webapp" / "templates"), autoescape=True)
    macro = env.get_template("forms/_fields.html").module.render_fields
    form = shipped("opdracht_vaststellen")
    html = str(
        macro(
            render_description(
                form, {"opdracht_reden": "<b>kort</b>"}, {"opdracht_besluit": ["Kies een van de opties."]}
            )
        )
    )
    assert 'id="veld-bevestiging"' in html and 'for="veld-bevestiging"' in html
    assert '<p class="veld-fout" id="veld-opdracht_besluit-fout">Kies een van de opties.</p>' in html
    assert 'aria-describedby="veld-opdracht_besluit-fout"' in html
    assert "&lt;b&gt;kort&lt;/b&gt;" in html
    assert "data-required-when=" in html
    html = str(macro(render_description(shipped("beoordelen"), criteria_model=MODEL)))
    assert 'name="beoordeling__c1__oordeel"' in html and "(cruciaal criterium)" in html
