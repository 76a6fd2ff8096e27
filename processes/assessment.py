"""Assessment models (werkprocessen, criteria, crucial marks, the pass rule; R40).

Until assignments carry their own model (the PvB issue), an exam uses the school's default model,
or this built-in example.
"""

from __future__ import annotations

EXAMPLE_MODEL: dict = {
    "werkprocessen": [
        {
            "code": "B1-K1-W1",
            "title": "Onderkent de behoefte aan zorg",
            "rule": "all_crucial",
            "criteria": [
                {"id": "w1c1", "text": "Verzamelt de relevante gegevens van de cliënt", "crucial": True},
                {"id": "w1c2", "text": "Legt de gegevens juist vast", "crucial": False},
            ],
        },
        {
            "code": "B1-K1-W2",
            "title": "Voert de zorg uit",
            "rule": "all_crucial",
            "criteria": [
                {"id": "w2c1", "text": "Werkt hygiënisch en veilig", "crucial": True},
                {"id": "w2c2", "text": "Communiceert respectvol met de cliënt", "crucial": False},
            ],
        },
    ]
}


def model_for(school_settings: dict | None) -> dict:
    return (school_settings or {}).get("beoordelingsmodel") or EXAMPLE_MODEL
