"""The detector's entity types, as ``privroute policy check`` reads them without loading spaCy."""

from __future__ import annotations

import pytest

from privroute.detect.engine import _PRESIDIO_RECOGNIZERS, PRESIDIO_RENAMES, known_entity_types
from privroute.policy import load_policy, shipped_policies


def test_presidio_recognizers_report_the_declared_types() -> None:
    """The table of what each Presidio recognizer reports agrees with Presidio itself."""
    from presidio_analyzer import predefined_recognizers

    for class_name, entity in _PRESIDIO_RECOGNIZERS.items():
        assert getattr(predefined_recognizers, class_name)().supported_entities == [entity], class_name


def test_every_type_the_detector_reports_is_known() -> None:
    """What the built analyzer supports (after privroute's renames) is within the known types."""
    from privroute.detect.presidio import presidio_detector

    detector = presidio_detector(load_policy("general").detect)
    supported = {PRESIDIO_RENAMES.get(t, t) for t in detector._analyzer.get_supported_entities("en")}
    assert supported <= known_entity_types(), supported - known_entity_types()


@pytest.mark.parametrize("name", shipped_policies())
def test_shipped_rules_name_only_known_types(name: str) -> None:
    policy = load_policy(name)
    known = known_entity_types() | {r.entity for r in policy.detect.recognizers}
    for rule in policy.classify.rules:
        assert set(rule.when.entities_any) | set(rule.when.entities_all) <= known, rule.id
