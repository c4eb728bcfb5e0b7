"""Field-aware batch redaction: a column or key that names an identifier types every value under it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from privroute.batch.engines import Job, run_job
from privroute.policy import load_policy

from .batch_fixtures import read_report, run_batch, write

# The issue's export, and held-out spellings and id shapes the classifier never saw as a list.
EXPORT = "name,mrn,dob,member_id\nJane Roe,4471123,1968-03-14,XJ99812\n"
IDENTIFIERS = ("4471123", "XJ99812", "123456789", "A-77120", "0098-22", "ZQ41", "PT00042", "77-1234567")


@pytest.fixture
def healthcare() -> Any:
    return load_policy("healthcare")


def _redact(tmp_path: Path, name: str, content: str, **options: Any) -> str:
    source = write(tmp_path / "in" / name, content)
    out = tmp_path / "out"
    options.setdefault("policy", "healthcare")
    run_batch([source], out, **options)
    return (out / name).read_text(encoding="utf-8")


class TestFieldTyping:
    def test_the_issue_export_is_fully_redacted(self, tmp_path: Path, warm_router: Any) -> None:
        out = _redact(tmp_path, "export.csv", EXPORT, verify=True)
        assert out.splitlines()[0] == "name,mrn,dob,member_id"
        row = out.splitlines()[1].split(",")
        assert row == ["<PERSON_1>", "<MEDICAL_RECORD_NUMBER_1>", "<DATE_TIME_1>", "<HEALTH_PLAN_ID_1>"]
        assert read_report(tmp_path / "out")["failed"] == []

    def test_the_issue_json_is_fully_redacted(self, tmp_path: Path, warm_router: Any) -> None:
        out = json.loads(_redact(tmp_path, "rec.json", '{"mrn":"4471123","ssn":"123456789","member_id":"XJ99812"}'))
        assert out == {"mrn": "<MEDICAL_RECORD_NUMBER_1>", "ssn": "<US_SSN_1>", "member_id": "<HEALTH_PLAN_ID_1>"}

    def test_held_out_headers_and_id_shapes_leave_nothing(self, tmp_path: Path, warm_router: Any) -> None:
        """Several header spellings, ids of many shapes, TSV: no identifier survives in a typed column."""
        content = ("Patient Name\tMRN#\tPT_DOB\tSubscriberNo\tacctNumber\tsocial_security_no\tEmployer EIN\tcomment\n"
                   "Anna Schmidt\t0098-22\t03/14/1968\tA-77120\tZQ41\t123456789\t77-1234567\tstable\n"
                   "Luca Bianchi\tPT00042\t1970-01-02\tXJ99812\t4471123\t987654320\t12-3456789\tfollow up\n")
        out = _redact(tmp_path, "ward.tsv", content, verify=True)
        for value in (*IDENTIFIERS, "Anna Schmidt", "Luca Bianchi", "03/14/1968", "1970-01-02"):
            assert value not in out
        assert "stable" in out and "follow up" in out  # unknown columns are scanned as text, not wiped

    def test_jsonl_numbers_nested_objects_and_record_ids(self, tmp_path: Path, warm_router: Any) -> None:
        content = ('{"id": 17, "patient": {"firstName": "Jane", "lastName": "Roe", "mrn": 4471123}, "count": 3}\n'
                   '{"id": 18, "product_name": "Widget", "price": 9.5}\n')
        lines = [json.loads(line) for line in _redact(tmp_path, "recs.jsonl", content).splitlines()]
        first, second = lines
        assert first["patient"]["mrn"] == "<MEDICAL_RECORD_NUMBER_1>"
        assert first["patient"]["firstName"].startswith("<PERSON_") and first["count"] == 3
        assert first["id"] != 17  # the id of a record about a person identifies the person
        assert second == {"id": 18, "product_name": "Widget", "price": 9.5}  # numbers stay numbers

    def test_keys_that_are_values_are_redacted(self, tmp_path: Path, warm_router: Any) -> None:
        content = json.dumps({"patients": {"Jane Roe": {"mrn": "4471123"}},
                              "by_account": {"AC-4471123": {"phone": "555 0147"}}})
        out = _redact(tmp_path, "keys.json", content)
        assert "Jane Roe" not in out and "AC-4471123" not in out and "4471123" not in out
        data = json.loads(out)
        assert set(data) == {"patients", "by_account"}  # field names are not values


class TestVerify:
    LEAKED_CSV = b"name,mrn,dob,member_id\n<PERSON_1>,4471123,<DATE_TIME_1>,XJ99812\n"
    LEAKED_JSON = b'{"mrn": "4471123", "ssn": "<ACCOUNT_NUMBER_1>", "member_id": "XJ99812"}'

    @pytest.mark.parametrize(("suffix", "data"), [(".csv", LEAKED_CSV), (".json", LEAKED_JSON)])
    def test_the_issue_leak_fails_verification(self, healthcare: Any, suffix: str, data: bytes,
                                               warm_router: Any) -> None:
        """The output the issue shows (identifiers left in typed columns) is what --verify must reject."""
        residual = dict(run_job(healthcare, Job(1, data, suffix, verify=True)).residual)
        assert residual.get("MEDICAL_RECORD_NUMBER") == 1 and residual.get("HEALTH_PLAN_ID") == 1

    def test_a_redacted_export_passes(self, healthcare: Any, warm_router: Any) -> None:
        data = b"name,mrn,dob,member_id\n<PERSON_1>,<MEDICAL_RECORD_NUMBER_1>,<DATE_TIME_1>,<HEALTH_PLAN_ID_1>\n"
        assert run_job(healthcare, Job(1, data, ".csv", verify=True)).residual == ()

    def test_fields_can_be_switched_off(self, tmp_path: Path, warm_router: Any) -> None:
        policy = tmp_path / "p.yaml"
        policy.write_text("name: p\nextends: healthcare\ndetect:\n  fields: {enabled: false}\n"
                          "loosen:\n  - {key: detect.fields.enabled, reason: test}\n", encoding="utf-8")
        data = b"code,member_id\nx,XJ99812\n"
        assert run_job(load_policy(str(policy)), Job(1, data, ".csv", verify=True)).residual == ()
