"""Robustness per transform class: values rewritten by the generator are still caught.

The sentences are ordinary prompts written for this test (not development data);
every transform of privroute.mutate is applied to each labeled value with
several seeds, and the detector must catch each class, not one spelling.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

import privroute
from privroute.evaluate import value_caught
from privroute.mutate import TRANSFORMS, mutate_text


def _case(text: str, label: str, value: str) -> tuple[str, list[tuple[str, int, int]]]:
    start = text.index(value)
    return text, [(label, start, start + len(value))]


CASES = [
    _case("Please update the record for Margaret Okafor before Friday.", "PERSON", "Margaret Okafor"),
    _case("Send the signed form to daniel.whitfield@example.org today.", "EMAIL_ADDRESS",
          "daniel.whitfield@example.org"),
    _case("My card number is 4111 1111 1111 1111, please refund it.", "CREDIT_CARD", "4111 1111 1111 1111"),
    _case("The employee SSN is 536-22-8147 according to HR.", "US_SSN", "536-22-8147"),
    _case("You can reach me on 212-555-0147 after six.", "PHONE_NUMBER", "212-555-0147"),
    _case("Wire it to IBAN DE89 3704 0044 0532 0130 00 by Monday.", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
    _case("Ask Tomasz Wieczorek about the lease renewal.", "PERSON", "Tomasz Wieczorek"),
]
SEEDS = range(4)
# Each transform class must be caught at least this often over CASES x SEEDS.
FLOOR = {name: 0.85 for name in TRANSFORMS}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_each_transform_class_is_caught(transform: str, general_detector: Any) -> None:
    values = caught = 0
    for index, (text, spans) in enumerate(CASES):
        for seed in SEEDS:
            mutated = mutate_text(text, spans, transform, f"{seed}:{index}")
            output = privroute.redact(mutated.text, policy="general").text
            for span in mutated.spans:
                if span.mutated:
                    values += 1
                    caught += value_caught(mutated.text[span.start:span.end], output)
    assert values, transform
    assert caught / values >= FLOOR[transform], f"{transform}: {caught}/{values}"


@pytest.fixture(scope="module")
def general_detector() -> Any:
    privroute.redact("warm up Jane Roe", policy="general")


class TestDecoding:
    @pytest.mark.parametrize("text", [
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 fixed it",  # a hash decodes to no text
        "See https://example.com/search?q=chest%20pain%20advice for details",  # a URL with a few escapes
        "The build id is Dashboard_v2_final and the tag is release-2024",
    ])
    def test_opaque_but_not_encoded_text_is_not_taken_for_a_payload(self, text: str, general_detector: Any) -> None:
        redaction = privroute.redact(text, policy="general")
        assert all(e.type != "ENCODED_TEXT" and e.source != "privroute-encoded" for e in redaction.entities)

    @pytest.mark.parametrize("payload", [
        "4a616e6520526f65", "0x4a616e6520526f65", "\\x4a\\x61\\x6e\\x65\\x20\\x52\\x6f\\x65",
        "SmFuZSBSb2U=", "%4A%61%6E%65%20%52%6F%65", "&#74;&#97;&#110;&#101;&#32;&#82;&#111;&#101;",
    ])
    def test_encoded_payloads_are_redacted_whole(self, payload: str, general_detector: Any) -> None:
        redaction = privroute.redact(f"the note field holds {payload} as sent", policy="general")
        assert payload not in redaction.text and redaction.text.startswith("the note field holds <")

    def test_encoded_text_without_pii_is_still_opaque(self, general_detector: Any) -> None:
        decision = privroute.classify("the blob is aGVsbG8gdGhlcmUgZnJpZW5k", policy="general")
        assert "opaque-encoded-text" in decision.reasons


def test_eval_mutate_prints_per_transform_json(tmp_path) -> None:
    from privroute.cli.main import main

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "spans": [{"label": lab, "start": s, "end": e} for lab, s, e in sp]})
                            + "\n" for t, sp in CASES), encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", "--mutate", "hex,case+homoglyph", "--seed", "3", "--json", str(data)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["per_transform"]) == {"hex", "case+homoglyph"}
    for row in report["per_transform"].values():
        assert row["values"] > 0 and 0 <= row["rate"] <= 1 and row["baseline"] is not None


class TestTransformClasses:
    """One written example per class the generator exposed; each must be redacted whole, and the
    look-alike ordinary text beside it must not be."""

    @pytest.mark.parametrize(("text", "value"), [
        # at/dot e-mails in any case
        ("write to pEtRa.NoVaK aT OuTlOoK DoT CoM today", "pEtRa.NoVaK aT OuTlOoK DoT CoM"),
        ("contact m.ibarra [At] fastmail [DOT] fm for the keys", "m.ibarra [At] fastmail [DOT] fm"),
        # letters that look like digits, also shouted, inside digit runs and spelled runs
        ("the member SSN is 412-7L-9083 on file", "412-7L-9083"),
        ("call me on six one seven, O four two, nine nine l eight tonight",
         "six one seven, O four two, nine nine l eight"),
        ("my PIN is f0ur tw0 nine s3ven", "f0ur tw0 nine s3ven"),
        # shouted given names alone among words that are not, lower-case name pairs
        ("I told TERESA about the delay yesterday", "TERESA"),
        ("we hired dagoberto quintanilla last spring", "dagoberto quintanilla"),
        # a lower-case street address
        ("the parcel goes to 48 kingsley road by noon", "48 kingsley road"),
        # split over table cells: a house number and its street, a postcode, a number with its separator
        ("Deliver:\nNadia ; Farouk\n22|Birch Crescent\nHull HU5 || 3QT", "Birch Crescent"),
        ("Deliver:\nNadia ; Farouk\n22|Birch Crescent\nHull HU5 || 3QT", "HU5 || 3QT"),
        ("id: Lena\tMarsh, SSN 219- | 44-7730.", "219- | 44-7730"),
        # split over lines or cells: a number beside its own separator, a unit and its number, an IBAN,
        # a given name WordNet also lists and its surname, a name and an initial, a lone split postcode
        ("reach her on 617\n-304-2291 after lunch", "617\n-304-2291"),
        ("she lives at Flat\n42, the blue door", "Flat\n42"),
        ("pay into GB33BUKB\n20201555555555 by Friday", "GB33BUKB\n20201555555555"),
        ("please invite Monica\nVasquez-Roldan too", "Monica\nVasquez-Roldan"),
        ("signed: Teodor | K. Brandvold", "Teodor | K. Brandvold"),
        ("the postcode is 937 | 21 for the depot", "937 | 21"),
        ("mail me at ines.quiroga@posteo.\nnet tonight", "ines.quiroga@posteo.\nnet"),
    ])
    def test_caught(self, text: str, value: str, general_detector: Any) -> None:
        output = privroute.redact(text, policy="general").text
        assert value_caught(value, output), output

    def test_damaged_or_cut_base64_still_decodes(self, general_detector: Any) -> None:
        import base64

        payload = base64.b64encode(b'{"patient": "Oskar Lindqvist", "dob": "1971-09-30"}').decode()
        damaged = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
        for blob in (damaged, payload[5:], payload[:-6]):
            output = privroute.redact(f"the attachment holds {blob} as sent", policy="general").text
            assert blob not in output and "Lindqvist" not in output

    @pytest.mark.parametrize("text", [
        "| 2019 | 12 | Total | 45 |",  # table columns of short numbers stay apart
        "the 3 best road trips of the year",  # a count before a road is no address
        "it is a 4 lane road and a 10 minute walk from here",
        "pages 10 | 20 of the report",  # a lone separator between two short numbers
        "Step 1.\n2. Open the lid",  # a numbered list is no number split over lines
        "URGENT: PLEASE READ THE MAY REPORT BEFORE FRIDAY",  # a shouted clause is no list of names
        "random key dGhpcyBpcyBub3QgYSBuYW1l but 9f86d081884c7d659a2feaa0c55ad015 is a hash",
    ])
    def test_ordinary_text_is_left(self, text: str, general_detector: Any) -> None:
        redaction = privroute.redact(text, policy="general")
        assert all(e.type != "STREET_ADDRESS" and e.type != "PERSON" for e in redaction.entities), redaction.text
        if "|" in text or "Step" in text:
            assert redaction.text == text


@pytest.mark.parametrize("text", [
    "b . Locomotives ;\nc . Mobile cranes ;\nd . Flat - bed trucks ;\ne . Pickup trucks ;",  # a list, not a table
    "Subsidiaries ; Investments .\nBorrower does not own any",  # English words around a semicolon
    "possession of the Books ; and the Collateral",
    "Bank $ 1 , 500 , 000 . 00 30 . 00 % Lending",  # amounts run together are no account number
    "under the Customs Act and the FERA the goods",  # a shouted acronym that is also a given name
])
def test_tokenised_documents_keep_their_words(text: str, general_detector: Any) -> None:
    """Tokenised contracts and judgments (spaces around punctuation) are not records, numbers or names."""
    assert privroute.redact(text, policy="general").entities == ()


def test_a_numbered_list_over_lines_is_no_number(general_detector: Any) -> None:
    text = "cited: 2 . Air 1973 Sc 501\n 3. 1993 Supp 2 Scc 481\n4. 2002 Ald 519\n5. 2008 (3) Ald 12"
    found = privroute.redact(text, policy="general").entities
    assert not [e for e in found if e.type in ("ACCOUNT_NUMBER", "PHONE_NUMBER", "CREDIT_CARD")]


@pytest.mark.parametrize(("text", "value"), [
    ("Yesterday at the office they finally met vilja t koskinen to discuss the new contract", "vilja t koskinen"),
    ("The courier left the parcel at 818 BRAMBLE LANE this morning", "818 BRAMBLE LANE"),
    ("Forward the letter to psc 2231, box 4410\napo ae 09012 as before", "psc 2231, box 4410\napo ae 09012"),
])
def test_case_variants_of_names_and_addresses(text: str, value: str, general_detector: Any) -> None:
    output = privroute.redact(text, policy="general").text
    assert value_caught(value, output), output
