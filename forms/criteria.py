"""The assessment model behind a ``criteria`` field, and the pass rule (R25, R26, R40).

An assessment model comes with the exam's assignment, not with the form file::

    {"werkprocessen": [{"code": "B1-K1-W1", "title": "...", "rule": "all_crucial",
                        "criteria": [{"id": "c1", "text": "...", "crucial": true}]}]}

A judgement per criterion is ``{"oordeel": "voldaan" | "onvoldoende", "toelichting": "..."}``.
"""

from __future__ import annotations

from typing import Any

VOLDAAN = "voldaan"
ONVOLDOENDE = "onvoldoende"
OORDELEN = (VOLDAAN, ONVOLDOENDE)
# all_crucial: voldaan unless a crucial criterion is onvoldoende; all: every criterion must be voldaan.
RULES = ("all_crucial", "all")


class CriteriaModelError(ValueError):
    """An assessment model that cannot be used (a programming or data error, not a user's)."""


def check_criteria_model(model: Any) -> dict:
    """Return the model with defaults filled in, or raise CriteriaModelError."""
    if not isinstance(model, dict) or not isinstance(model.get("werkprocessen"), list):
        raise CriteriaModelError("assessment model needs a list 'werkprocessen'")
    # An empty model would pass every student.
    if not model["werkprocessen"]:
        raise CriteriaModelError("assessment model has no werkprocessen")
    seen: set[str] = set()
    werkprocessen = []
    for wp in model["werkprocessen"]:
        if not isinstance(wp, dict) or not isinstance(wp.get("code"), str):
            raise CriteriaModelError(f"werkproces without code: {wp!r}")
        rule = wp.get("rule", "all_crucial")
        if rule not in RULES:
            raise CriteriaModelError(f"werkproces {wp['code']}: unknown rule {rule!r}")
        criteria = []
        for c in wp.get("criteria", []):
            cid = c.get("id") if isinstance(c, dict) else None
            if not isinstance(cid, str) or not cid or "__" in cid:
                raise CriteriaModelError(f"werkproces {wp['code']}: criterion without a usable id: {c!r}")
            if cid in seen:
                raise CriteriaModelError(f"criterion id {cid!r} occurs twice")
            seen.add(cid)
            criteria.append({"id": cid, "text": c.get("text", ""), "crucial": bool(c.get("crucial", False))})
        if not criteria:
            raise CriteriaModelError(f"werkproces {wp['code']} has no criteria")
        werkprocessen.append(
            {"code": wp["code"], "title": wp.get("title", ""), "rule": rule, "criteria": criteria}
        )
    return {"werkprocessen": werkprocessen}


def criterion_ids(model: dict) -> list[str]:
    return [c["id"] for wp in model["werkprocessen"] for c in wp["criteria"]]


def compute_result(criteria_model: dict, judgements: dict) -> dict:
    """The result per werkproces and of the whole PvB from judgements per criterion id.

    Rule ``all_crucial`` (the default): a werkproces is voldaan unless a crucial criterion is
    onvoldoende. Rule ``all``: every criterion must be voldaan (an unjudged one is not). The PvB
    (uitslag) is voldaan when every werkproces is voldaan.
    """
    model = check_criteria_model(criteria_model)
    result: dict[str, str] = {}
    for wp in model["werkprocessen"]:
        passed = True
        for c in wp["criteria"]:
            oordeel = (judgements.get(c["id"]) or {}).get("oordeel")
            if wp["rule"] == "all":
                passed = passed and oordeel == VOLDAAN
            elif c["crucial"] and oordeel == ONVOLDOENDE:
                passed = False
        result[wp["code"]] = VOLDAAN if passed else ONVOLDOENDE
    uitslag = VOLDAAN if all(v == VOLDAAN for v in result.values()) else ONVOLDOENDE
    return {"werkprocessen": result, "uitslag": uitslag}
