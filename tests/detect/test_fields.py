"""Field names -> types: the classifier generalises over spellings, not a list of headers."""

from __future__ import annotations

import pytest

from privroute.detect.fields import RECORD_ID, FieldClassifier, field_words, resolve_record_ids, type_values
from privroute.errors import PolicyError
from privroute.policy import load_policy

pytestmark = pytest.mark.fast

classify = FieldClassifier().type_of


@pytest.mark.parametrize(("name", "expected"), [
    # the spellings
    ("MRN", "MEDICAL_RECORD_NUMBER"), ("mrn_no", "MEDICAL_RECORD_NUMBER"), ("Member ID", "HEALTH_PLAN_ID"),
    ("patientName", "PERSON"), ("dob", "DATE_TIME"), ("DateOfBirth", "DATE_TIME"), ("acct_no", "ACCOUNT_NUMBER"),
    # other conventions: kebab, dots, glued words, plurals, '#', abbreviations
    ("patient-id", "MEDICAL_RECORD_NUMBER"), ("Pt.MRN", "MEDICAL_RECORD_NUMBER"), ("MR#", "MEDICAL_RECORD_NUMBER"),
    ("memberid", "HEALTH_PLAN_ID"), ("SubscriberNumber", "HEALTH_PLAN_ID"), ("policy_number", "HEALTH_PLAN_ID"),
    ("Medicaid ID", "HEALTH_PLAN_ID"), ("customerId", "ACCOUNT_NUMBER"), ("ACCOUNT_NUMBER", "ACCOUNT_NUMBER"),
    ("emp_no", "ACCOUNT_NUMBER"), ("SSN#", "US_SSN"), ("social_security_number", "US_SSN"),
    ("national_insurance_number", "NATIONAL_ID"), ("tax_id", "TAX_ID"), ("passport_no", "US_PASSPORT"),
    ("driversLicense", "US_DRIVER_LICENSE"), ("cc_number", "CREDIT_CARD"), ("IBAN", "IBAN_CODE"),
    ("sort_code", "ROUTING_NUMBER"), ("first_name", "PERSON"), ("LastName", "PERSON"), ("surname", "PERSON"),
    ("guarantor", "PERSON"), ("next_of_kin", "PERSON"), ("PT_DOB", "DATE_TIME"), ("birth_date", "DATE_TIME"),
    ("place_of_birth", "LOCATION"), ("visit_date", "DATE_TIME"), ("e-mail", "EMAIL_ADDRESS"),
    ("EmailAddress", "EMAIL_ADDRESS"), ("mobile_phone", "PHONE_NUMBER"), ("phones", "PHONE_NUMBER"),
    ("fax", "FAX_NUMBER"), ("home_address", "STREET_ADDRESS"), ("address_line_1", "STREET_ADDRESS"),
    ("city", "LOCATION"), ("zip+4", "ZIP_CODE"), ("Postcode", "ZIP_CODE"), ("client_ip", "IP_ADDRESS"),
    ("mac_address", "DEVICE_ID"), ("vin", "VEHICLE_ID"), ("case_no", "CASE_NUMBER"),
    ("employer_name", "ORGANIZATION"), ("Nachname", "PERSON"),
])
def test_personal_fields_are_typed(name: str, expected: str) -> None:
    assert classify(name) == expected


@pytest.mark.parametrize("name", [
    "product_name", "file_name", "hostname", "drug_name", "phone_type", "email_verified", "address_count",
    "created_at", "last_login", "country_code", "diagnosis_code", "api_key", "status", "notes", "tax_rate",
    "account_balance", "card_type", "policy", "plan", "amount", "description", "user_agent", "sort",
])
def test_other_fields_are_not(name: str) -> None:
    assert classify(name) is None


def test_names_are_cut_into_concepts() -> None:
    assert field_words("patientDateOfBirth") == ("patient", "date", "of", "birth")
    assert field_words("acctNo") == ("account", "#")
    assert field_words("MRN_no") == ("mrn", "#")


def test_a_bare_id_counts_only_in_a_personal_record() -> None:
    assert classify("id") == RECORD_ID and classify("uuid") == RECORD_ID
    assert resolve_record_ids([RECORD_ID, "PERSON"]) == ["ACCOUNT_NUMBER", "PERSON"]
    assert resolve_record_ids([RECORD_ID, None]) == [None, None]
    # Values of two records: only the one with a name gets its id typed; placeholders and nulls are not values.
    types = type_values(["17", "Jane Roe", "18", "Widget", "<PERSON_1>", "null"],
                        ["id", "name", "id", "product_name", "name", "mrn"], [1, 1, 2, 2, 3, 3])
    assert types == ["ACCOUNT_NUMBER", "PERSON", None, None, None, None]


def test_policy_adds_and_silences_field_names(tmp_path) -> None:
    path = tmp_path / "clinic.yaml"
    path.write_text("name: clinic\nextends: healthcare\ndetect:\n  fields:\n"
                    "    names: {Kundennummer: ACCOUNT_NUMBER, PID_LOCAL: MEDICAL_RECORD_NUMBER}\n"
                    "    ignore: [patient name]\n"
                    "loosen:\n  - {key: detect.fields.ignore, reason: names are pseudonyms here}\n", encoding="utf-8")
    fields = load_policy(str(path)).detect.fields
    classifier = FieldClassifier.from_config(fields.names, fields.ignore)
    assert classifier.type_of("Kundennummer") == "ACCOUNT_NUMBER"
    assert classifier.type_of("pidLocal") == "MEDICAL_RECORD_NUMBER"  # same name, other spelling
    assert classifier.type_of("PatientName") is None
    assert classifier.type_of("mrn") == "MEDICAL_RECORD_NUMBER"


@pytest.mark.parametrize("body", ["    nmes: {a: PERSON}\n", "    names: {a: not-a-type}\n", "    ignore: 3\n"])
def test_bad_field_settings_are_policy_errors(tmp_path, body: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nextends: general\ndetect:\n  fields:\n{body}", encoding="utf-8")
    with pytest.raises(PolicyError):
        load_policy(str(path))
