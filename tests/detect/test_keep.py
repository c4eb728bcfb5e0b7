"""Keep rules and document-level detection (detect/keep.py, sector.py, document.py).

Each rule is checked on the real detector (real spaCy model) through
``privroute.redact``: what it keeps stays readable, and the personal data next
to it is still removed. The texts are written for these tests, not taken from
the development files.
"""

from __future__ import annotations

import re

import pytest

import privroute
from privroute.detect.document import refine
from privroute.detect.names import given_names
from privroute.detect.base import Entity
from privroute.detect.keep import KEEP_RULES, KeepContext, apply_keep_rules
from privroute.errors import PolicyError
from privroute.policy import DetectConfig, load_policy


def _redact(text: str, policy: str | object = "general") -> str:
    return privroute.redact(text, policy=policy).text


def _with_keep(base: str, keep: tuple[str, ...], propagate: bool = True) -> object:
    policy = load_policy(base)
    return policy.model_copy(update={"detect": policy.detect.model_copy(update={"keep": keep,
                                                                               "propagate": propagate})})


class TestPolicySetting:
    def test_rule_names_match_the_policy_schema(self) -> None:
        """Every name the policy accepts is a rule, and every rule can be named."""
        from typing import get_args

        from privroute.policy import KeepRule

        assert set(get_args(KeepRule)) == set(KEEP_RULES)

    def test_unknown_rule_is_a_policy_error(self, tmp_path) -> None:
        path = tmp_path / "p.yaml"
        path.write_text("name: x\nextends: general\ndetect:\n  keep: [honorifics, courtz]\n", encoding="utf-8")
        with pytest.raises(PolicyError):
            load_policy(path)

    def test_defaults_and_sector_choices(self) -> None:
        assert "public_roles" not in DetectConfig().keep
        assert {"public_roles", "dates"} <= set(load_policy("legal").detect.keep)
        assert "dates" in load_policy("finance").detect.keep
        assert "dates" not in load_policy("general").detect.keep


class TestGeneralPlaces:
    def test_country_in_a_general_question_stays(self) -> None:
        assert _redact("What is the capital of France?") == "What is the capital of France?"

    def test_place_of_a_person_is_redacted(self) -> None:
        out = _redact("I live in Paris and my name is Jean Dupont.")
        assert "Paris" not in out and "Dupont" not in out

    def test_rule_off_redacts_the_country(self) -> None:
        policy = _with_keep("general", tuple(k for k in DetectConfig().keep if k != "general_places"))
        assert "France" not in _redact("What is the capital of France?", policy)


class TestDefinedTerms:
    TEXT = ('This Loan Agreement is made between Northwind Capital LLC ("Lender") and Hollowmere Tools, Inc. '
            '("Borrower"). "Loan Documents" means this Agreement and each note. Borrower shall repay the loan '
            'to Lender, and the Loan Documents bind the Borrower. Notices go to Margarethe Vollenweider.')

    def test_defined_terms_stay_and_the_person_goes(self) -> None:
        out = _redact(self.TEXT, "finance")
        for term in ("Lender", "Borrower", "Loan Documents"):
            assert term in out
        assert "Vollenweider" not in out

    def test_short_name_defined_for_a_person_is_not_kept(self) -> None:
        text = ('This Guaranty is given by Theodora Quarrington ("Quarrington") to the bank. '
                'Quarrington shall pay on demand.')
        out = _redact(text, "finance")
        assert "Quarrington" not in out

    def test_term_after_a_determiner_stays_though_never_defined(self) -> None:
        """An excerpt uses terms defined elsewhere: "the Loan", "each Lender", "any Lien" stay."""
        text = ("Borrower shall repay the Loan to Bank hereunder. Each Lender may assign any Lien. "
                "Notices shall go to Margarethe Vollenweider.")
        out = _redact(text, "finance")
        for term in ("the Loan", "Each Lender", "any Lien"):
            assert term in out
        assert "Vollenweider" not in out

    def test_the_before_a_place_does_not_keep_it(self) -> None:
        """"the United States" is still a place under finance, which keeps none."""
        out = _redact("Borrower shall maintain its accounts in the United States hereunder.", "finance")
        assert "United States" not in out


class TestLegalReferences:
    def test_courts_citations_and_statutes_stay(self) -> None:
        text = ("The High Court of Delhi relied on (2013) 2 SCC 77 and AIR 2011 SC 2566 under the "
                "Companies Act, 1956, in the appeal of Rakeshwar Prasadji Venkatachalam.")
        out = _redact(text, "legal")
        for kept in ("High Court of Delhi", "(2013) 2 SCC 77", "AIR 2011 SC 2566", "Companies Act, 1956"):
            assert kept in out
        assert "Venkatachalam" not in out

    def test_a_list_of_citations_stays_whole(self) -> None:
        """Numbered citations in a title-cased list are not an address, whatever NER says."""
        text = "Citations: 6. Air 1979 Sc 551 7. (2000) 3 Scc 350 8. (2014) 12 Scc 696 9. (2005) 11 Scc 189"
        assert _redact(text, "legal") == text

    def test_court_then_a_case_name_keeps_only_the_court(self) -> None:
        out = _redact("This Court in Dhanalakshmi Ramaswamy's case took a narrower view.", "legal")
        assert "Court" in out and "Dhanalakshmi" not in out


class TestHonorificsAndRoles:
    def test_role_words_alone_are_not_redacted(self) -> None:
        out = _redact("Heard Sri Venkataraghavan Iyengarappa, Adv. for the petitioner.", "general")
        assert "Adv." in out and "Iyengarappa" not in out

    def test_bench_and_counsel_in_the_header_stay_under_legal(self) -> None:
        text = ("Coram:\nHon'ble Mr. Justice Prabhakar Venkataramanan\n\n"
                "Through: Mr. Sudarshan Mehrotra, Advocate.\n\n"
                "Kishanlal Bhojwani Ramchandani           ..... Petitioner\n")
        out = _redact(text, "legal")
        assert "Venkataramanan" in out and "Mehrotra" in out
        assert "Bhojwani" not in out

    def test_judge_signing_with_j_stays_under_legal(self) -> None:
        text = ("Coram:\nHon'ble Mr. Justice Prabhakar Venkataramanan\n\nPrabhakar Venkataramanan, J. (Oral)\n\n"
                "Kishanlal Bhojwani Ramchandani           ..... Petitioner\n")
        out = _redact(text, "legal")
        assert out.count("Venkataramanan") == 2 and "Bhojwani" not in out

    def test_counsel_arguing_in_the_prose_is_redacted(self) -> None:
        text = "It was then contended by Mr. Sudarshan Mehrotra, learned counsel, that the order was void."
        assert "Mehrotra" not in _redact(text, "legal")

    def test_general_policy_does_not_keep_judges(self) -> None:
        assert "Venkataramanan" not in _redact("Coram: Hon'ble Mr. Justice Prabhakar Venkataramanan")


class TestGoverningLawAndDates:
    GOVERNED = ("This Agreement shall be governed by the laws of the State of New York. "
                "Notices: Attention: Bartholomew Fennimore-Quist.")

    def test_governing_law_jurisdiction_stays(self) -> None:
        """A policy keeping governing_law (legal) leaves the jurisdiction readable, not the person."""
        out = _redact(self.GOVERNED, "legal")
        assert "New York" in out and "Fennimore" not in out

    def test_finance_redacts_the_jurisdiction_too(self) -> None:
        """finance keeps no place: a jurisdiction clause often names a party's home state."""
        out = _redact(self.GOVERNED, "finance")
        assert "New York" not in out and "Fennimore" not in out

    def test_x_of_y_in_drafted_text_is_not_an_ordinary_phrase(self) -> None:
        """WordNet knows "Commonwealth" and "Massachusetts"; "X of Y" still names a place."""
        text = ("Borrower shall comply with the Code as in effect in the Commonwealth of Massachusetts hereunder, "
                "and shall repay all Credit Extensions.")
        out = _redact(text, "finance")
        assert "Massachusetts" not in out and "Credit Extensions" in out

    def test_shouted_jurisdiction_clause_loses_its_places(self) -> None:
        """A long all-capital clause is not a heading: "STATE OF X" there is a place."""
        text = ("EACH PARTY SUBMITS TO THE EXCLUSIVE JURISDICTION OF THE STATE AND FEDERAL COURTS LOCATED IN "
                "THE COMMONWEALTH OF MASSACHUSETTS , BUT IF FOR ANY REASON THE BANK IS DENIED ACCESS .")
        assert "MASSACHUSETTS" not in _redact(text, "finance")

    def test_contract_date_stays_but_a_birth_date_goes(self) -> None:
        text = "This Agreement is dated March 3, 2019. The guarantor, born on 14 July 1961, signs it."
        out = _redact(text, "finance")
        assert "March 3, 2019" in out and "14 July 1961" not in out


class TestHeadingsAndPublicBodies:
    def test_heading_of_ordinary_words_stays(self) -> None:
        text = ("ARTICLE VI OTHER COMPANY AGREEMENTS\nThe company shall keep other agreements in force "
                "hereunder and the agreements shall bind it.")
        assert "OTHER COMPANY AGREEMENTS" in _redact(text, "finance")

    def test_public_body_stays(self) -> None:
        out = _redact("The Ministry of Finance issued a circular to Ottoline Spratt-Varga.", "general")
        assert "Ministry of Finance" in out and "Varga" not in out


class TestStructure:
    def test_party_blocks_are_redacted_whole(self) -> None:
        text = ("Hollowbrook Pulp And Paper Mills Ltd.              ..... Appellant\n\n"
                "                 Versus\n\n"
                "1. Ramprasad Kuthiravattam\n\n2. Sundarapandian Elumalai\n\n"
                "                                              ..... Respondents\n")
        out = _redact(text, "legal")
        for name in ("Hollowbrook", "Kuthiravattam", "Sundarapandian", "Elumalai"):
            assert name not in out
        assert "Appellant" in out and "Respondents" in out

    def test_cause_title_line(self) -> None:
        out = _redact("Cr.A. No. 317 of 2011\nBhimsen Kotwalani Vs. State of Nagaland\n", "legal")
        assert "Kotwalani" not in out and "317" not in out

    def test_cause_title_set_out_on_lines(self) -> None:
        """The lines above and below a lone Versus are the parties; role markers and counsel stay."""
        text = ("     Tirunelveli Ganeshamurthy & Anr.                 Appellant(s)\n\n"
                "                         Versus\n\n"
                "     State Of Karnataka & Anr.                        Respondent(s)\n")
        out = _redact(text, "legal")
        assert "Ganeshamurthy" not in out and "Karnataka" not in out
        for kept in ("Versus", "Appellant(s)", "Respondent(s)"):
            assert kept in out

    def test_counsel_line_above_versus_is_not_a_party(self) -> None:
        """"Through: ..., Advocates" above Versus names counsel (public_roles keeps them)."""
        text = ("Through: Mr. Bharat Gupta and Mr. Gunjan Arora, Advocates.\n"
                "Versus\n"
                "Ifci Limited\n")
        out = _redact(text, "legal")
        assert "Gunjan Arora" in out and "Ifci" not in out

    def test_precedent_in_prose_is_kept(self) -> None:
        out = _redact("The principle was settled in Hardwicke v. Penrose Mills (2013) 2 SCC 77.", "legal")
        assert "Hardwicke" in out

    def test_notice_block_set_out_on_lines(self) -> None:
        """Under "If to X:", the lines after the addressee's up to Attn/Fax are its address."""
        text = ("Notices. If to Lender :\nHarrowgate Capital , L . P .\nSILO Center , Nahal Zimra\n"
                "Two Quillfeather Executive Park\nAttn : Mr . Oswin Trelawney\nFax : ( 617 ) 243 - 2601\n")
        out = _redact(text, "finance")
        for leaked in ("SILO", "Zimra", "Quillfeather", "Trelawney"):
            assert leaked not in out
        assert "If to Lender" in out

    def test_notice_and_signature_blocks(self) -> None:
        text = ("If to Borrower: Attention: Quillon Abernethy-Strand\nAddress: Rm. 701, Lane 100, Tianlin Road, "
                "Shanghai\nBy: /s/ Ignatius Q. Marchbanks\nName: Ignatius Q. Marchbanks\nTitle: President")
        out = _redact(text, "finance")
        for leaked in ("Abernethy", "Lane 100", "Tianlin", "Marchbanks"):
            assert leaked not in out


class TestPropagation:
    TEXT = ("The complainant Harivansh Kulasekharan lodged the report. Later, Kulasekharan denied it, and "
            "K. Kulasekharan signed the statement.")

    def test_surname_and_initial_mentions_are_redacted(self) -> None:
        out = _redact(self.TEXT, "legal")
        assert "Kulasekharan" not in out and "K." not in out

    def test_same_form_gets_the_same_placeholder(self) -> None:
        redaction = privroute.redact(self.TEXT + " Kulasekharan left.", policy="legal")
        later = re.search(r"Later, (<[A-Z_]+_\d+>) denied", redaction.text)
        assert later is not None
        assert redaction.text.endswith(f"{later.group(1)} left.")

    def test_name_words_that_are_ordinary_words_are_not_chased(self) -> None:
        text = "Mark Kulasekharan paid. Later Mark said Kulasekharan was away."
        person = Entity(0, len("Mark Kulasekharan"), "PERSON", 0.8, "test")
        found = refine(text, [person], (), True, _context(), given_names())
        spans = {text[e.start:e.end] for e in found}
        assert spans == {"Mark Kulasekharan", "Kulasekharan"}
        assert sum(1 for e in found if text[e.start:e.end] == "Kulasekharan") == 1

    def test_initials_go_with_the_name(self) -> None:
        text = "Harivansh Kulasekharan came. K. Kulasekharan left."
        found = refine(text, [Entity(0, 22, "PERSON", 0.8, "test")], (), True, _context(), given_names())
        assert "K. Kulasekharan" in {text[e.start:e.end] for e in found}

    def test_propagation_off(self) -> None:
        text = "Harivansh Kulasekharan came. Kulasekharan left."
        person = Entity(0, 22, "PERSON", 0.8, "test")
        assert refine(text, [person], (), False, _context(), given_names()) == [person]

    def test_party_organisation_is_propagated_by_its_name(self) -> None:
        text = ("Quillfeather Cargo Movers Pvt. Ltd., through its director    ..... Petitioner\n\n"
                "The notice to Quillfeather Cargo Movers Pvt. Ltd. was served.")
        found = refine(text, [], (), True, _context(), given_names())
        assert sum(1 for e in found if text[e.start:e.end].startswith("Quillfeather")) == 2


def _context() -> KeepContext:
    from privroute.detect.presidio import presidio_detector

    detector = presidio_detector(load_policy("legal").detect)
    return KeepContext(detector._english, given_names())


class TestRulesDirectly:
    def test_rules_only_touch_soft_types(self) -> None:
        """A checksum or pattern type (an e-mail, a card) is never dropped by a keep rule."""
        text = "Court: jane@example.org"
        entity = Entity(7, len(text), "EMAIL_ADDRESS", 0.9, "x")
        context = KeepContext(frozenset({"court"}))
        assert apply_keep_rules(text, [entity], tuple(KEEP_RULES), context) == [entity]

    def test_dates_rule(self) -> None:
        text = "dated 1 May 2020; born 2 June 1950"
        entities = [Entity(6, 16, "DATE_TIME"), Entity(23, 34, "DATE_TIME")]
        kept = KEEP_RULES["dates"](text, entities, KeepContext(frozenset()))
        assert kept == [entities[1]]


def test_rules_reading_english_cues_stay_off_other_languages() -> None:
    """A French judgment: places are not kept by an English-cue rule it cannot read."""
    text = ("Le requérant est né en 1961 et réside à Lyon. " * 3 + "Il a saisi la juridiction compétente de "
            "Marseille, puis la cour d'appel a rejeté sa demande le même jour, et le requérant a formé un pourvoi.")
    place = text.index("Marseille")
    entities = [Entity(place, place + len("Marseille"), "LOCATION")]
    context = KeepContext(frozenset({"marseille"}))
    assert apply_keep_rules(text, entities, ("general_places",), context) == entities
    english = ("The court of appeal of the city heard the claim and the court of appeal "
               "dismissed the claim that was made on the same day. " * 2 + "It sits in Marseille.")
    place = english.index("Marseille")
    entities = [Entity(place, place + len("Marseille"), "LOCATION")]
    assert apply_keep_rules(english, entities, ("general_places",), context) == []


class TestLoosening:
    """Adding a keep rule, or turning propagation off, protects less than the parent: it must be declared."""

    @pytest.mark.parametrize("detect", ["  keep: [honorifics, dates]\n", "  propagate: false\n"])
    def test_undeclared_loosening_is_refused(self, tmp_path, detect: str) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(f"name: x\nextends: legal\ndetect:\n{detect}", encoding="utf-8")
        if "keep" in detect:
            # Dropping legal's rules is stricter; adding none of its own is fine.
            load_policy(path)
            path.write_text("name: x\nextends: general\ndetect:\n  keep: [honorifics, dates]\n", encoding="utf-8")
        with pytest.raises(PolicyError, match="loosen"):
            load_policy(path)

    def test_shipped_sector_policies_declare_their_keep_rules(self) -> None:
        for name in ("legal", "finance"):
            assert [item.key for item in load_policy(name).loosened] == ["detect.keep"]
