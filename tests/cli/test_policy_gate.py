"""`privroute policy check | diff | test`: a deploy gate, a reviewer's diff, unit tests for policies.

Each policy the issue found "ok" that then failed or protected less at run time is
now a failing check naming the file, line and key; the shipped policies pass their
own checks and their own case files (this is what runs them in CI).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privroute.policy import shipped_policies
from privroute.policy_cases import run_cases, shipped_cases
from privroute.policy_check import check_policy
from privroute.testing import OpenAIServer
from tests.cli.test_cli import one_line_error, run


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path | str, **options: bool) -> list[str]:
    return [str(p) for p in check_policy(str(path), offline=options.get("offline", True)).problems]


def only(found: list[str], fragment: str) -> str:
    matching = [p for p in found if fragment in p]
    assert len(matching) == 1, found
    return matching[0]


@pytest.fixture
def frontier_env(monkeypatch: pytest.MonkeyPatch, frontier: OpenAIServer) -> OpenAIServer:
    monkeypatch.setenv("OPENAI_BASE_URL", frontier.url)
    return frontier


class TestCheckFindsWhatRouteWouldHit:
    def test_audit_disabled_under_a_parent_that_requires_it(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\naudit:\n  enabled: false\n"
                                         "loosen:\n  - {key: audit.enabled, reason: dev laptop}\n")
        line = only(problems(path), "audit.enabled")
        assert line.startswith(f"{path}:4: audit.enabled: audit.required is true but audit.enabled is false")

    def test_without_declaration_the_same_file_is_a_loosening(self, tmp_path: Path,
                                                              frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\naudit:\n  enabled: false\n")
        line = only(problems(path), "audit.enabled")
        assert line.startswith(f"{path}:4: audit.enabled: protects less than the parent policy 'healthcare'")

    def test_missing_model_file(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", f"name: p\nextends: healthcare\nlocal:\n  model: {tmp_path}/missing.gguf\n")
        assert only(problems(path), "local.model") == (f"{path}:4: local.model: model file not found: "
                                                        f"{tmp_path}/missing.gguf")

    def test_unknown_catalog_name(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\nlocal:\n  model: llama-9000\n")
        line = only(problems(path), "local.model")
        assert f"{path}:4: local.model: unknown local model 'llama-9000'" in line
        assert "smollm2-135m-instruct" in line

    def test_a_file_that_is_not_a_gguf(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        fake = write(tmp_path, "weights.gguf", "not a model")
        path = write(tmp_path, "p.yaml", f"name: p\nextends: healthcare\nlocal:\n  model: {fake}\n")
        assert "weights.gguf is not a GGUF model file" in only(problems(path), "local.model")

    def test_spacy_model_not_installed(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: general\ndetect:\n  spacy_model: xx_missing_pipeline_sm\n")
        line = only(problems(path), "detect.spacy_model")
        assert line.startswith(f"{path}:4: detect.spacy_model: spaCy model package 'xx_missing_pipeline_sm' is not "
                               "installed")

    def test_entity_typo_names_the_closest_known_type(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: general\nclassify:\n  rules:\n    - id: claims\n"
                                         "      sensitivity: confidential\n      when:\n"
                                         "        entities_any: [PERSON, CLAIM_NUMBR]\n")
        line = only(problems(path), "CLAIM_NUMBR")
        assert line.startswith(f"{path}:8: classify.rules.claims.when.entities_any: unknown entity type "
                               "'CLAIM_NUMBR'")
        path = write(tmp_path, "q.yaml", "name: q\nextends: general\nredact:\n  entities: [PERSN, EMAIL_ADDRESS]\n"
                                         "detect:\n  thresholds: {EMAIL_ADRESS: 0.3}\n")
        found = problems(path)
        assert "did you mean 'PERSON'?" in only(found, "'PERSN'")
        assert "did you mean 'EMAIL_ADDRESS'?" in only(found, "detect.thresholds.EMAIL_ADRESS")

    def test_a_type_a_policy_recognizer_defines_is_known(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: general\ndetect:\n  recognizers:\n    - name: claim\n"
                                         "      entity: CLAIM_NUMBER\n      patterns: [{regex: 'CLM-\\d{6}'}]\n"
                                         "classify:\n  rules:\n    - id: claims\n      sensitivity: confidential\n"
                                         "      when: {entities_any: [CLAIM_NUMBER]}\n")
        assert problems(path) == []

    def test_recognizer_entity_typo(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: general\ndetect:\n  recognizers:\n    - name: mrn\n"
                                         "      entity: MEDICAL_RECORD_NUMBR\n      patterns: [{regex: 'X-\\d{6}'}]\n")
        line = only(problems(path), "MEDICAL_RECORD_NUMBR")
        assert line.startswith(f"{path}:6: detect.recognizers.mrn.entity:")
        assert "did you mean 'MEDICAL_RECORD_NUMBER'?" in line

    def test_a_route_to_the_frontier_is_a_loosening(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\nroutes:\n  regulated: frontier\n")
        line = only(problems(path), "routes.regulated")
        assert line == (f"{path}:4: routes.regulated: protects less than the parent policy 'healthcare' "
                        "(local -> frontier); declare it under loosen: with a reason")

    def test_every_problem_is_reported_at_once(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\ndetect:\n  spacy_model: xx_missing_pipeline_sm\n"
                                         "classify:\n  rules:\n    - id: x\n      sensitivity: internal\n"
                                         "      when: {entities_any: [CLAIM_NUMBR]}\n"
                                         "local:\n  model: llama-9000\n")
        keys = {p.key for p in check_policy(str(path), offline=True).problems}
        assert keys == {"detect.spacy_model", "classify.rules.x.when.entities_any", "local.model"}

    def test_no_frontier_configured_when_a_route_needs_one(self, tmp_path: Path) -> None:
        found = problems("healthcare")
        assert "some route sends to the frontier, but none is configured" in only(found, "frontier")

    def test_no_frontier_needed_when_every_route_stays_local(self, tmp_path: Path) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: general\n"
                                         "routes: {public: local, internal: local, confidential: local}\n")
        report = check_policy(str(path), offline=True)
        assert report.ok, report.problems
        assert "frontier: no route sends to the frontier" in report.skipped

    def test_loosen_that_loosens_nothing(self, tmp_path: Path, frontier_env: OpenAIServer) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\n"
                                         "loosen:\n  - {key: routes.public, reason: leftover}\n")
        line = only(problems(path), "loosen.routes.public")
        assert line.startswith(f"{path}:4: loosen.routes.public: declares a loosening of 'routes.public'")

    def test_unwritable_audit_log(self, tmp_path: Path, frontier_env: OpenAIServer,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a regular file where the audit directory should be")
        monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(blocker / "sub" / "audit.db"))
        assert "not writable" in only(problems("healthcare"), "audit")


class TestNetwork:
    def test_online_check_reaches_the_frontier(self, frontier_env: OpenAIServer) -> None:
        report = check_policy("healthcare")
        assert report.ok, report.problems
        assert f"frontier {frontier_env.url}: answers" in report.checked

    def test_an_unreachable_frontier_is_a_problem_online_and_skipped_offline(self, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
        with OpenAIServer() as server:
            dead = server.url
        monkeypatch.setenv("OPENAI_BASE_URL", dead)
        assert f"cannot reach {dead}" in only(problems("healthcare", offline=False), "frontier")
        report = check_policy("healthcare", offline=True)
        assert report.ok and f"frontier {dead}: not contacted (--offline)" in report.skipped


class TestShipped:
    @pytest.mark.parametrize("name", shipped_policies())
    def test_shipped_policy_passes_its_check(self, name: str, frontier_env: OpenAIServer) -> None:
        report = check_policy(name, offline=True)
        assert report.ok, report.problems

    def test_every_shipped_policy_has_a_case_file(self) -> None:
        assert set(shipped_cases()) == set(shipped_policies())

    @pytest.mark.parametrize("name", shipped_policies())
    def test_shipped_case_files_pass(self, name: str) -> None:
        """The shipped policies' own case files, on the real detector (this is what CI runs)."""
        report = run_cases(name, shipped_cases()[name])
        assert report.ok, [r for r in report.results if not r.passed]
        assert len(report.results) >= 4


class TestCommands:
    def test_check_prints_every_problem_and_exits_1(self, tmp_path: Path) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\nroutes:\n  regulated: frontier\n"
                                         "audit:\n  enabled: false\n")
        proc = run("policy", "check", "--offline", str(path))
        assert proc.returncode == 1
        out = proc.stdout.decode()
        assert f"{path}:4: routes.regulated:" in out and f"{path}:6: audit.enabled:" in out
        assert one_line_error(proc).endswith(f"problems in {path}")

    def test_check_json_on_a_shipped_policy(self, frontier: OpenAIServer) -> None:
        proc = run("policy", "check", "--offline", "--json", "finance", env={"OPENAI_BASE_URL": frontier.url})
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
        data = json.loads(proc.stdout)
        assert data["ok"] is True and data["problems"] == [] and data["name"] == "finance"

    def test_missing_parent_message_says_extends_once(self, tmp_path: Path) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: finanse\n")
        proc = run("policy", "check", str(path))
        out = proc.stdout.decode()
        assert proc.returncode == 1
        assert f"{path}:2: extends: cannot load the parent policy: unknown policy 'finanse'; did you mean " \
               "'finance'?" in out
        assert "extends: extends" not in out

    def test_diff_on_a_shipped_pair(self) -> None:
        proc = run("policy", "diff", "healthcare", "general")
        assert proc.returncode == 0
        out = proc.stdout.decode()
        assert out.startswith("healthcare -> general: ")
        assert "LOOSENS  classify.rules.hipaa-record-identifier: rule dropped (was regulated)" in out
        assert "LOOSENS  audit.required: True -> False" in out
        data = json.loads(run("policy", "diff", "--json", "general", "healthcare").stdout)
        assert data["loosens"] == 0
        assert {"key": "audit.required", "before": "False", "after": "True", "loosens": False,
                "note": ""} in data["changes"]

    def test_diff_marks_a_declared_loosening(self, tmp_path: Path) -> None:
        path = write(tmp_path, "p.yaml", "name: p\nextends: healthcare\nroutes:\n  regulated: redact\n"
                                         "loosen:\n  - {key: routes.regulated, reason: approved}\n")
        out = run("policy", "diff", "healthcare", str(path)).stdout.decode()
        assert "LOOSENS  routes.regulated: local -> redact" in out

    def test_policy_test_shipped_and_failing_with_a_readable_diff(self, tmp_path: Path) -> None:
        proc = run("policy", "test", "healthcare")
        assert proc.returncode == 0, proc.stdout.decode()
        assert "6 passed, 0 failed" in proc.stdout.decode()
        cases = write(tmp_path, "cases.yaml", "cases:\n  - name: wrong-on-purpose\n"
                                              "    prompt: 'What are good practices for naming database columns?'\n"
                                              "    expect: {action: local, sensitivity: regulated, "
                                              "reasons: [secret-or-credential]}\n")
        proc = run("policy", "test", "general", str(cases))
        out = proc.stdout.decode()
        assert proc.returncode == 1
        assert f"FAIL wrong-on-purpose ({cases}:2)" in out
        assert "action:      expected local, got frontier" in out
        assert "sensitivity: expected regulated, got public" in out
        assert "reasons:     expected [secret-or-credential], got []" in out
        assert "0 passed, 1 failed" in out

    @pytest.mark.parametrize(("text", "expected"), [
        ("cases:\n  - name: a\n    prompt: hi\n    expect: {action: sideways}\n", ":4: cases.0.expect.action:"),
        ("cases:\n  - name: a\n    prompt: hi\n    expect: {action: local}\n    colour: red\n",
         ":5: cases.0.colour: unknown key"),
        ("cases: []\n", ":1: cases:"),
        ("cases: [unclosed\n", ":2: not valid YAML"),
    ])
    def test_a_broken_case_file_is_one_clear_error(self, tmp_path: Path, text: str, expected: str) -> None:
        cases = write(tmp_path, "cases.yaml", text)
        proc = run("policy", "test", "general", str(cases))
        assert proc.returncode == 1
        line = one_line_error(proc)
        assert f"{cases}{expected}" in line, line
