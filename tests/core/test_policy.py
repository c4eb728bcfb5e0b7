"""Policies load strictly: every mistake names the file, line and key; nothing falls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from privroute import PolicyError, load_policy, shipped_policies
from privroute.classify import decide
from privroute.detect.base import Entity
from privroute.policy import Sensitivity

pytestmark = pytest.mark.fast

SHIPPED = ("finance", "general", "healthcare", "legal", "public-sector")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestShipped:
    def test_all_sector_policies_ship_and_load(self) -> None:
        """general, healthcare, finance, legal and public-sector load by name."""
        assert set(SHIPPED) <= set(shipped_policies())
        for name in SHIPPED:
            policy = load_policy(name)
            assert policy.name == name
            assert policy.classify.rules

    def test_sector_policies_extend_general(self) -> None:
        """Sector rules are added to general's by id, not replacing them."""
        ids = [r.id for r in load_policy("healthcare").classify.rules]
        assert "secret-or-credential" in ids and "hipaa-identifier-with-health-info" in ids

    def test_content_hash_is_stable_and_sensitive(self, tmp_path: Path) -> None:
        """The same policy hashes the same; a changed route changes the hash."""
        a = load_policy("general").content_hash
        changed = write(tmp_path, "p.yaml", "name: general\nextends: general\nroutes:\n  public: local\n")
        assert load_policy("general").content_hash == a
        assert load_policy(changed).content_hash != a


class TestStrictErrors:
    def test_unknown_key_names_file_line_and_key(self, tmp_path: Path) -> None:
        """A typo'd key is an error with its location."""
        path = write(tmp_path, "typo.yaml", "name: t\nclassify:\n  default: public\n  rulez: []\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        assert info.value.line == 4 and info.value.key == "classify.rulez"
        assert str(path) in str(info.value) and "unknown key" in str(info.value)

    def test_wrong_type(self, tmp_path: Path) -> None:
        """A string where a number belongs is named."""
        path = write(tmp_path, "t.yaml", "name: t\nfrontier:\n  max_attempts: lots\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        assert info.value.key == "frontier.max_attempts" and info.value.line == 3

    def test_bad_regex_in_rule(self, tmp_path: Path) -> None:
        """An invalid regular expression fails at load time, not at routing time."""
        path = write(tmp_path, "r.yaml", "name: r\nclassify:\n  rules:\n    - id: x\n      sensitivity: internal\n"
                                         "      when:\n        patterns_any: ['(unclosed']\n")
        with pytest.raises(PolicyError, match="regular expression") as info:
            load_policy(path)
        assert info.value.line is not None and info.value.line >= 4

    def test_bad_route_action(self, tmp_path: Path) -> None:
        """Only local, redact, frontier and block are actions."""
        path = write(tmp_path, "a.yaml", "name: a\nroutes:\n  regulated: cloud\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        assert info.value.key == "routes.regulated"

    def test_dangling_extends(self, tmp_path: Path) -> None:
        """extends: naming a missing parent is an error on the extends line."""
        path = write(tmp_path, "d.yaml", "name: d\n\nextends: no-such-policy\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        assert info.value.key == "extends" and info.value.line == 3

    def test_extends_cycle(self, tmp_path: Path) -> None:
        """a extends b extends a is refused."""
        write(tmp_path, "a.yaml", "name: a\nextends: b.yaml\n")
        write(tmp_path, "b.yaml", "name: b\nextends: a.yaml\n")
        with pytest.raises(PolicyError, match="cycle"):
            load_policy(tmp_path / "a.yaml")

    def test_relative_extends_and_merge(self, tmp_path: Path) -> None:
        """A child file extends a sibling file; the child's keys win."""
        write(tmp_path, "base.yaml", "name: base\nroutes:\n  public: local\n  internal: local\n")
        child = write(tmp_path, "child.yaml", "name: child\nextends: base.yaml\nroutes:\n  internal: redact\n"
                      "loosen:\n  - {key: routes.internal, reason: internal notes may be redacted}\n")
        policy = load_policy(child)
        assert (policy.routes.public, policy.routes.internal) == ("local", "redact")

    @pytest.mark.parametrize("content", ["name: [unclosed\n", ":\n  - : -\n  x", "- just\n- a list\n", "\x00\x01"])
    def test_not_yaml_or_not_a_mapping(self, tmp_path: Path, content: str) -> None:
        """Garbage is a PolicyError, never a crash or an empty default policy."""
        with pytest.raises(PolicyError):
            load_policy(write(tmp_path, "g.yaml", content))

    def test_binary_file(self, tmp_path: Path) -> None:
        """A non-UTF-8 file is named as such."""
        path = tmp_path / "b.yaml"
        path.write_bytes(b"\xff\xfe\x00garbage")
        with pytest.raises(PolicyError, match="UTF-8"):
            load_policy(path)

    def test_unknown_name_and_missing_file(self, tmp_path: Path) -> None:
        """Unknown shipped names list the known ones; missing files say so."""
        with pytest.raises(PolicyError, match="healthcare"):
            load_policy("no-such-sector")
        with pytest.raises(PolicyError, match="cannot read"):
            load_policy(tmp_path / "missing.yaml")

    def test_policy_error_is_a_value_error(self) -> None:
        """Callers catching ValueError catch policy problems too."""
        assert issubclass(PolicyError, ValueError)


class TestDecisions:
    """Rule evaluation over given entities (the detector is tested elsewhere)."""

    def test_highest_sensitivity_wins_and_all_reasons_listed(self) -> None:
        """Identifier + health term is regulated -> local, and both rules are reasons."""
        text = "Jane Roe has diabetes"
        decision = decide(load_policy("healthcare"), text, [Entity(0, 8, "PERSON")])
        assert decision.sensitivity == "regulated" and decision.action == "local"
        assert "hipaa-identifier-with-health-info" in decision.reasons
        assert "hipaa-identifier" in decision.reasons

    def test_identifier_alone_is_redacted(self) -> None:
        """A name with no health information is confidential -> redact."""
        decision = decide(load_policy("healthcare"), "Email Jane Roe", [Entity(6, 14, "PERSON")])
        assert (decision.sensitivity, decision.action) == ("confidential", "redact")

    def test_health_info_alone_goes_to_frontier(self) -> None:
        """A de-identified clinical question may use the frontier."""
        decision = decide(load_policy("healthcare"), "First-line treatment for hypertension?", [])
        assert (decision.sensitivity, decision.action) == ("internal", "frontier")

    def test_block_rule_overrides_route(self) -> None:
        """A rule with action: block blocks whatever the level's route says."""
        decision = decide(load_policy("finance"), "the CVV is 123", [])
        assert decision.action == "block" and decision.reasons == ("pci-sensitive-authentication-data",)

    def test_terms_are_whole_words(self) -> None:
        """'painting' does not match the health term 'pain'."""
        decision = decide(load_policy("healthcare"), "Jane Roe likes painting", [Entity(0, 8, "PERSON")])
        assert "hipaa-identifier-with-health-info" not in decision.reasons

    def test_default_level_when_nothing_matches(self) -> None:
        """No rule matched: the default sensitivity and its route."""
        decision = decide(load_policy("general"), "hello", [])
        assert decision == decide(load_policy("general"), "hello", [])
        assert (decision.sensitivity, decision.action, decision.reasons) == ("public", "frontier", ())

    def test_rule_action_cannot_loosen_the_route(self, tmp_path: Path) -> None:
        """A rule saying 'frontier' on a regulated level still goes local."""
        path = write(tmp_path, "loose.yaml", "name: loose\nclassify:\n  rules:\n    - id: r\n"
                     "      sensitivity: regulated\n      action: frontier\n      when:\n        terms_any: [x]\n")
        assert decide(load_policy(path), "x", []).action == "local"

    def test_sensitivity_order(self) -> None:
        """public < internal < confidential < regulated."""
        assert Sensitivity.public < Sensitivity.internal < Sensitivity.confidential < Sensitivity.regulated


class TestRedactStyle:
    def test_unsupported_style_is_an_error_not_a_silent_default(self, tmp_path: Path) -> None:
        """redact.style: surrogate is refused at load time rather than quietly ignored."""
        path = write(tmp_path, "s.yaml", "name: s\nredact:\n  style: surrogate\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        assert info.value.key == "redact.style" and info.value.line == 3


class TestLocalSettings:
    def test_worker_settings_validate_and_change_the_hash_only_when_set(self, tmp_path: Path) -> None:
        """local.workers / deadline_s / on_overflow: typed, strict, and existing policies keep their hash."""
        base = load_policy("healthcare")
        same = load_policy({"name": "healthcare-copy", "extends": "healthcare",
                            "local": {"workers": 1, "deadline_s": 120, "on_overflow": "refuse"}})
        changed = load_policy({"name": "healthcare-copy", "extends": "healthcare", "local": {"workers": 2}})
        assert (changed.local.workers, changed.local.deadline_s, changed.local.on_overflow) == (2, 120.0, "refuse")
        unchanged = load_policy({"name": "healthcare-copy", "extends": "healthcare"})
        assert same.content_hash == unchanged.content_hash != changed.content_hash
        assert base.content_hash.startswith("affb5338e0af")  # as pinned in test_policy_loosen.py
        path = write(tmp_path, "o.yaml", "name: o\nlocal:\n  on_overflow: truncate\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        assert info.value.key == "local.on_overflow"
