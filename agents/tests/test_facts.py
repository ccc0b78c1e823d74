"""FactExtractionAgent's structured answer: the contract the Rust memory service reads."""

import json

from ventros_agents.offline import FACT_PREDICATES, structured_facts


def test_first_person_facts_in_the_shared_vocabulary():
    facts = structured_facts("Hi, I moved to Rio de Janeiro and I work at Acme. My email is Ana@Example.com")
    assert {"predicate": "lives_in", "object": "Rio de Janeiro"} in facts
    assert {"predicate": "works_at", "object": "Acme"} in facts
    assert {"predicate": "email", "object": "ana@example.com"} in facts
    assert all(f["predicate"] in FACT_PREDICATES for f in facts)
    assert structured_facts("Comprei o Plano Pro ontem") == [
        {"predicate": "purchased", "object": "Plano Pro ontem"}
    ]
    assert structured_facts("what time do you open?") == []
    json.dumps({"facts": facts})  # the agent's answer is JSON
