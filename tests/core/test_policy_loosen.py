"""Loosening is explicit: a child that protects less than its parent must say so, and why.

The declared reason travels into every audit record the loosened path decides; the
audit chain still verifies, and databases written before the column existed keep
verifying after new records are added.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from privroute import Blocked, PolicyError, Router, load_policy
from privroute.audit import AuditEvent, AuditStore, verify
from privroute.loosening import SENSITIVITIES, compare
from privroute.policy import Sensitivity
from privroute.testing import FakeBackend, FakeDetector, OpenAIServer

pytestmark = pytest.mark.fast

NAME, MRN = "Jane Roe", "4471123"
DETECTOR = FakeDetector({NAME: "PERSON"}, patterns={r"\bMRN \d{7}\b": "MEDICAL_RECORD_NUMBER"})
PHI = f"Patient {NAME}, MRN {MRN}, has new chest pain. Next steps?"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def child(tmp_path: Path, body: str, extends: str = "healthcare") -> Path:
    return write(tmp_path, "child.yaml", f"name: child\nextends: {extends}\n{body}")


class TestUndeclaredLoosening:
    @pytest.mark.parametrize(("body", "key", "line"), [
        ("routes:\n  regulated: frontier\n", "routes.regulated", 4),
        ("routes:\n  confidential: frontier\n", "routes.confidential", 4),
        ("detect:\n  threshold: 0.8\n", "detect.threshold", 4),
        ("detect:\n  thresholds: {PERSON: 0.9}\n", "detect.thresholds.PERSON", 4),
        ("audit:\n  enabled: false\n  required: false\n", "audit.enabled", 4),
        ("audit:\n  required: false\n", "audit.required", 4),
        ("classify:\n  default: public\n  rules:\n    - id: bulk-phi-export\n      sensitivity: regulated\n"
         "      when: {terms_any: [export everything]}\n", "classify.rules.bulk-phi-export.action", 6),
        ("classify:\n  rules:\n    - id: hipaa-record-identifier\n      sensitivity: internal\n"
         "      when: {entities_any: [MEDICAL_RECORD_NUMBER, HEALTH_PLAN_ID]}\n",
         "classify.rules.hipaa-record-identifier.sensitivity", 6),
        ("classify:\n  rules:\n    - id: hipaa-record-identifier\n      sensitivity: regulated\n"
         "      when: {entities_any: [HEALTH_PLAN_ID]}\n", "classify.rules.hipaa-record-identifier.when", 7),
        ("redact:\n  entities: [US_SSN]\n", "redact.entities", 4),
        ("detect:\n  allow_list: [Jane Roe]\n", "detect.allow_list", 4),
        ("detect:\n  fields: {enabled: false}\n", "detect.fields.enabled", 4),
        ("detect:\n  fields:\n    ignore: [member_id]\n", "detect.fields.ignore", 5),
    ])
    def test_is_a_policy_error_on_its_line(self, tmp_path: Path, body: str, key: str, line: int) -> None:
        """Each way of protecting less than the parent is refused at load, naming the key and line."""
        with pytest.raises(PolicyError) as info:
            load_policy(child(tmp_path, body))
        keys = [p.key for p in info.value.problems]
        assert key in keys, info.value.problems
        problem = info.value.problems[keys.index(key)]
        assert problem.line == line and problem.source and problem.source.endswith("child.yaml")
        assert "protects less than the parent policy 'healthcare'" in problem.message
        assert "loosen:" in problem.message

    def test_every_loosening_is_reported_not_only_the_first(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError) as info:
            load_policy(child(tmp_path, "routes:\n  regulated: frontier\naudit:\n  enabled: false\n"
                                        "detect:\n  threshold: 0.7\n"))
        assert {p.key for p in info.value.problems} == {"routes.regulated", "audit.enabled", "detect.threshold"}
        assert "(and 2 more errors)" in str(info.value)

    @pytest.mark.parametrize("body", [
        "routes:\n  regulated: block\n",
        "detect:\n  threshold: 0.3\n",
        "classify:\n  rules:\n    - id: hipaa-record-identifier\n      sensitivity: regulated\n"
        "      when: {entities_any: [MEDICAL_RECORD_NUMBER, HEALTH_PLAN_ID, US_SSN]}\n",
        "classify:\n  rules:\n    - id: extra\n      sensitivity: regulated\n      when: {terms_any: [merger]}\n",
        "detect:\n  fields:\n    names: {badge: ACCOUNT_NUMBER}\n",
    ])
    def test_tightening_needs_no_declaration(self, tmp_path: Path, body: str) -> None:
        assert load_policy(child(tmp_path, body)).loosened == ()

    def test_a_parent_declaration_does_not_cover_a_further_loosening(self, tmp_path: Path) -> None:
        """A grandchild loosening the same key again must declare it itself."""
        write(tmp_path, "mid.yaml", "name: mid\nextends: healthcare\nroutes:\n  regulated: redact\n"
                                    "loosen:\n  - {key: routes.regulated, reason: redaction is enough here}\n")
        write(tmp_path, "leaf.yaml", "name: leaf\nextends: mid.yaml\nroutes:\n  regulated: frontier\n")
        with pytest.raises(PolicyError) as info:
            load_policy(tmp_path / "leaf.yaml")
        assert info.value.key == "routes.regulated" and "'mid'" in info.value.message

    def test_loosen_entries_are_strict(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError) as info:
            load_policy(child(tmp_path, "loosen:\n  - {key: routes.regulated, reason: '  ', why: x}\n"))
        keys = {p.key for p in info.value.problems}
        assert {"loosen.0.why", "loosen.0.reason"} <= keys


class TestDeclaredLoosening:
    BODY = ("routes:\n  regulated: redact\n"
            "loosen:\n  - key: routes.regulated\n    reason: approved by the DPO, ticket 1234\n")

    def test_loads_and_names_the_path(self, tmp_path: Path) -> None:
        policy = load_policy(child(tmp_path, self.BODY))
        assert policy.routes.regulated == "redact"
        [path] = policy.loosened
        assert (path.key, path.reason, path.sensitivities) == ("routes.regulated", "approved by the DPO, ticket 1234",
                                                                ("regulated",))

    def test_reason_is_in_the_audit_record_of_the_loosened_path_only(self, tmp_path: Path,
                                                                     frontier: OpenAIServer) -> None:
        path = child(tmp_path, self.BODY + f"frontier: {{model: test-frontier, base_url: '{frontier.url}'}}\n")
        store = AuditStore(tmp_path / "audit.db")
        router = Router(path, detector=DETECTOR, local=FakeBackend("local"), audit=store)
        loosened = router.route(PHI)
        assert loosened.decision.action == "redact"
        assert loosened.decision.loosened == (("routes.regulated", "approved by the DPO, ticket 1234"),)
        assert MRN not in json.dumps(frontier.requests[-1])
        plain = router.route("What is a haiku?")
        assert plain.decision.loosened == ()
        rows = sqlite3.connect(tmp_path / "audit.db").execute("SELECT sensitivity, loosened FROM records "
                                                              "ORDER BY seq").fetchall()
        assert rows[0][0] == "regulated"
        assert json.loads(rows[0][1]) == [{"key": "routes.regulated", "reason": "approved by the DPO, ticket 1234"}]
        assert rows[1][1] is None
        assert verify(tmp_path / "audit.db").ok

    def test_a_loosened_rule_is_recorded_where_the_parents_rule_matches(self, tmp_path: Path,
                                                                       frontier: OpenAIServer) -> None:
        body = ("classify:\n  rules:\n    - id: bulk-phi-export\n      sensitivity: confidential\n"
                "      when: {terms_any: [export all patients]}\n"
                "loosen:\n  - {key: classify.rules.bulk-phi-export, reason: exports go through redaction}\n"
                f"frontier: {{model: test-frontier, base_url: '{frontier.url}'}}\n")
        router = Router(child(tmp_path, body), detector=DETECTOR, local=FakeBackend("local"))
        decision = router.classify("Export all patients' medical records to a spreadsheet.")
        assert decision.action == "redact"
        assert decision.loosened == (("classify.rules.bulk-phi-export", "exports go through redaction"),)
        assert router.classify("What is a haiku?").loosened == ()

    def test_a_blocked_decision_carries_it_too(self, tmp_path: Path) -> None:
        body = ("detect:\n  threshold: 0.5\n"
                "loosen:\n  - {key: detect.threshold, reason: fewer false positives on product codes}\n")
        store = AuditStore(tmp_path / "audit.db")
        router = Router(child(tmp_path, body), detector=DETECTOR, local=FakeBackend("local"), audit=store)
        with pytest.raises(Blocked):
            router.route("Export all patients' medical records to a spreadsheet.")
        row = sqlite3.connect(tmp_path / "audit.db").execute("SELECT outcome, loosened FROM records").fetchone()
        assert row[0] == "blocked" and "fewer false positives" in row[1]

    def test_inherited_declaration_still_records_its_reason(self, tmp_path: Path) -> None:
        write(tmp_path, "mid.yaml", "name: mid\nextends: healthcare\n" + self.BODY)
        write(tmp_path, "leaf.yaml", "name: leaf\nextends: mid.yaml\ndescription: a team's copy\n")
        policy = load_policy(tmp_path / "leaf.yaml")
        assert [(p.key, p.reason) for p in policy.loosened] == [("routes.regulated",
                                                                 "approved by the DPO, ticket 1234")]

    def test_hashes_of_policies_without_loosen_are_unchanged(self) -> None:
        """Adding the loosen key (and detect.fields) changed no existing policy's content hash (audit records
        name it). Pinned after the general policy gained its opaque-encoded-text rule, a content change."""
        assert load_policy("healthcare").content_hash.startswith("affb5338e0af")


class TestAuditCompatibility:
    def test_a_database_from_before_the_loosened_column_keeps_verifying(self, tmp_path: Path) -> None:
        """Records written without the column verify, and new records chain onto them."""
        db = tmp_path / "old.db"
        store = AuditStore(db)
        store.append(AuditEvent(outcome="answered", policy="p", policy_hash="h", reasons=("r",)))
        store.close()
        # Rebuild the file the way the previous release wrote it: no loosened column.
        conn = sqlite3.connect(db)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(records)") if row[1] != "loosened"]
        conn.executescript(f"CREATE TABLE old AS SELECT {', '.join(columns)} FROM records; DROP TABLE records; "
                           "ALTER TABLE old RENAME TO records;")
        conn.commit()
        conn.close()
        assert verify(db).ok
        store = AuditStore(db)
        store.append(AuditEvent(outcome="answered", policy="p", policy_hash="h",
                                loosened=(("routes.regulated", "why"),)))
        store.close()
        report = verify(db)
        assert report.ok and report.records == 2

    def test_editing_a_recorded_reason_is_detected(self, tmp_path: Path) -> None:
        db = tmp_path / "a.db"
        store = AuditStore(db)
        store.append(AuditEvent(outcome="answered", policy="p", policy_hash="h",
                                loosened=(("routes.regulated", "approved"),)))
        store.close()
        conn = sqlite3.connect(db)
        conn.execute("""UPDATE records SET loosened = '[{"key": "routes.regulated", "reason": "x"}]'""")
        conn.commit()
        conn.close()
        report = verify(db)
        assert not report.ok and report.first_bad == 1


class TestCompare:
    def test_sensitivity_order_agrees_with_the_policy_model(self) -> None:
        assert SENSITIVITIES == tuple(level.name for level in sorted(Sensitivity))

    def test_shipped_pair_general_to_healthcare_adds_and_tightens(self) -> None:
        changes = {c.key: c for c in compare(load_policy("general"), load_policy("healthcare"))}
        assert "classify.rules.hipaa-identifier-with-health-info" in changes
        assert changes["audit.required"].describe() == "False -> True"
        assert not any(c.loosens for c in changes.values())

    def test_shipped_pair_healthcare_to_general_loosens(self) -> None:
        loosened = {c.key for c in compare(load_policy("healthcare"), load_policy("general")) if c.loosens}
        assert {"classify.rules.hipaa-record-identifier", "audit.required"} <= loosened


class TestMessages:
    def test_missing_parent_says_it_once_with_a_suggestion(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError) as info:
            load_policy(write(tmp_path, "p.yaml", "name: p\nextends: finanse\n"))
        text = str(info.value)
        assert text.count("extends") == 1 and text.count("finanse") == 1
        assert "did you mean 'finance'?" in text and info.value.line == 2

    def test_every_schema_error_is_listed_with_its_line(self, tmp_path: Path) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nroutes:\n  regulated: nowhere\naudit:\n  enabled: maybe\n"
                                         "colour: blue\n")
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        found = {(p.key, p.line) for p in info.value.problems}
        assert found == {("routes.regulated", 3), ("audit.enabled", 5), ("colour", 6)}
