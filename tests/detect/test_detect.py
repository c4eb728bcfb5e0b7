"""The default detector on the real spaCy model: contract, obfuscations, healthcare, policy options, the seam."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privroute
from privroute.detect import BaseDetector, Detector, Entity, detector_for
from privroute.detect.presidio import merge_overlaps, presidio_detector
from privroute.detect.recognizers import iban_ok, luhn_ok, mod97_ok, npi_ok
from privroute.policy import DetectConfig, RecognizerSpec, load_policy


@pytest.fixture(scope="module")
def general() -> Detector:
    return detector_for(load_policy("general").detect)


@pytest.fixture(scope="module")
def healthcare() -> Detector:
    return detector_for(load_policy("healthcare").detect)


def _values(detector: Detector, text: str) -> list[str]:
    return [text[e.start:e.end] for e in detector.detect(text)]


def _covered(detector: Detector, text: str, value: str) -> bool:
    """Every character of ``value`` (first occurrence) lies inside some detected span."""
    start = text.index(value)
    spans = [(e.start, e.end) for e in detector.detect(text)]
    return all(any(s <= i < e for s, e in spans) for i in range(start, start + len(value))
               if not text[i].isspace())


def _types(detector: Detector, text: str) -> set[str]:
    return {e.type for e in detector.detect(text)}


class TestContract:
    def test_entities_are_sorted_disjoint_and_in_original_offsets(self, general: Detector) -> None:
        """Spans are sorted, never overlap, and index the caller's (unnormalised) string."""
        text = "Email lena.fischer＠web.de or call (2O2) 555-O147; card 4111\u200b1111\u200b1111\u200b1111."
        entities = general.detect(text)
        assert list(entities) == sorted(entities)
        assert all(a.end <= b.start for a, b in zip(entities, entities[1:]))
        values = [text[e.start:e.end] for e in entities]
        assert "lena.fischer＠web.de" in values
        assert "(2O2) 555-O147" in values
        assert "4111\u200b1111\u200b1111\u200b1111" in values

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from([
        "jane@example.com", " at ", " dot ", "4111 1111 1111 1111", "Mr. ", "MRN: ", "\u202e", "\u200b", "&#64;",
        "%40", "name: ", "\n", ",", "12 Main Street", "５", "О", "eyJhIjoiYiJ9", "ID:", "Anna S.", "-\n"])),
        max_size=12).map("".join))
    def test_any_text_gives_valid_spans(self, general: Detector, text: str) -> None:
        """On arbitrary text: no exception, spans sorted, disjoint, non-empty and inside the text."""
        entities = general.detect(text)
        assert all(0 <= e.start < e.end <= len(text) for e in entities)
        assert all(a.end <= b.start for a, b in zip(entities, entities[1:]))

    def test_detector_is_cached_per_config(self) -> None:
        """The same config gives the same detector; a different one gives another."""
        config = load_policy("general").detect
        assert presidio_detector(config) is presidio_detector(DetectConfig.model_validate(config.model_dump()))
        assert presidio_detector(config) is not presidio_detector(config.model_copy(update={"threshold": 0.9}))

    def test_spacy_pipeline_is_shared_by_configs(self) -> None:
        """Two configs on one model share one spaCy pipeline (loaded once per process)."""
        a = presidio_detector(DetectConfig(threshold=0.41))
        b = presidio_detector(DetectConfig(threshold=0.42))
        assert a._nlp is b._nlp  # noqa: SLF001 - the sharing is the property under test

    def test_thread_safe_under_concurrent_calls(self, general: Detector) -> None:
        """32 threads detecting at once each get their own correct result."""
        texts = [f"Contact person{i}@example.org about order {i}" for i in range(32)]
        results: dict[int, list[str]] = {}

        def work(i: int) -> None:
            results[i] = _values(general, texts[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(f"person{i}@example.org" in results[i] for i in range(32))

    def test_non_string_raises(self, general: Detector) -> None:
        """A non-string is an error, never an empty result (the router fails closed)."""
        with pytest.raises(TypeError):
            general.detect(None)  # type: ignore[arg-type]

    def test_repr_holds_no_text(self, general: Detector) -> None:
        """Entities and the detector print without the values they found."""
        entity = general.detect("SSN 536-22-8147")[0]
        assert "536" not in repr(entity) and "536" not in repr(general)

    def test_long_text_is_detected_in_chunks_with_original_offsets(self, general: Detector,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """Texts longer than a chunk are cut at line breaks; offsets still index the whole text."""
        from privroute.detect import presidio

        line = "Ticket for Jane Roe, jane.roe@example.com, card 4111 1111 1111 1111.\n"
        text = line * 12
        whole = [(e.start, e.end, e.type) for e in general.detect(text)]
        monkeypatch.setattr(presidio, "CHUNK_CHARS", 200)
        chunked = [(e.start, e.end, e.type) for e in general.detect(text)]
        assert chunked == whole
        assert sum(text[s:e] == "jane.roe@example.com" for s, e, _ in chunked) == 12

    def test_merge_keeps_union_and_best_type(self) -> None:
        """Overlapping spans become their union, typed by the best-scoring member."""
        merged = merge_overlaps([Entity(0, 5, "A", 0.5), Entity(3, 9, "B", 0.9), Entity(10, 12, "C", 0.4)])
        assert [(e.start, e.end, e.type) for e in merged] == [(0, 9, "B"), (10, 12, "C")]


class TestNameForms:
    @pytest.mark.parametrize("text,value", [
        ("2 K.I.Thankachan, Aged 53 Years, Trustee of the church", "K.I.Thankachan"),
        ("Petitioner: Anandagopan.K, Aged 72 Years", "Anandagopan.K"),
        ("the sister of PW1, Sri.A.Saleem, the husband", "A.Saleem"),
    ])
    def test_initials_written_onto_a_name(self, general: Detector, text: str, value: str) -> None:
        """Initials joined to a name with dots and no space are a person's name."""
        assert _covered(general, text, value)

    def test_initials_onto_an_english_word_are_not_a_name(self, general: Detector) -> None:
        """'S.H.O.Office' or 'Sec.Treasury' is an abbreviation, not a person."""
        text = "Forwarded to the S.H.O.Office and Sec.Treasury today."
        assert not any(e.type == "PERSON" for e in general.detect(text))


class TestObfuscationFamilies:
    @pytest.mark.parametrize("text,value", [
        ("Please reply to maria.lopez at outlook dot com today", "maria.lopez at outlook dot com"),
        ("mail me: j.doe [at] proton [dot] me thanks", "j.doe [at] proton [dot] me"),
        ("Email: k e v i n . p a r k @ g m a i l . c o m", "k e v i n . p a r k @ g m a i l . c o m"),
        ("reach tom.becker(at)mailbox(dot)org for the file", "tom.becker(at)mailbox(dot)org"),
        ("customer mail is qnivq.ybcrm@cebgba.zr in ROT13", "qnivq.ybcrm@cebgba.zr"),
        ("Mi correo es carlos.ruiz arroba gmail punto com", "carlos.ruiz arroba gmail punto com"),
        ("contact john(dot)smith(at)gmail(dot)com asap", "john(dot)smith(at)gmail(dot)com"),
    ])
    def test_obfuscated_emails(self, general: Detector, text: str, value: str) -> None:
        """E-mails written with at/dot words, brackets, spaces or a made-up domain."""
        assert _covered(general, text, value)

    @pytest.mark.parametrize("text", ["look at this dot now", "we met at noon dot the end", "aim at the dot."])
    def test_at_and_dot_in_plain_sentences_are_not_emails(self, general: Detector, text: str) -> None:
        """Ordinary sentences with 'at' and 'dot' are not mistaken for e-mails."""
        assert "EMAIL_ADDRESS" not in _types(general, text)

    @pytest.mark.parametrize("text,value", [
        ("pay with 4 9 1 6 3 3 8 5 0 6 0 8 2 8 3 2 now", "4 9 1 6 3 3 8 5 0 6 0 8 2 8 3 2"),
        ("card 3782.822463.10005 on file", "3782.822463.10005"),
        ("ssn 078 05\n1120 from the scan", "078 05\n1120"),
        ("my social is 0 7 8 - 0 5 - 1 1 2 0", "0 7 8 - 0 5 - 1 1 2 0"),
    ])
    def test_spaced_dotted_and_split_digits(self, general: Detector, text: str, value: str) -> None:
        """Digits separated by spaces, dots, dashes or a line break."""
        assert _covered(general, text, value)

    def test_spelled_out_numbers_and_dates(self, general: Detector) -> None:
        """Numbers and dates written in words."""
        text = "my ssn is zero seven eight, zero five, one one two zero and I was born on the third of May nineteen eighty-one"
        assert _covered(general, text, "zero seven eight, zero five, one one two zero")
        assert _covered(general, text, "third of May nineteen eighty-one")

    @pytest.mark.parametrize("number,brand", [
        ("4222222222222222224", "19-digit Visa"), ("2221000000000009", "2-series Mastercard"),
        ("6759649826438453", "Maestro"), ("3530111333300000", "JCB"), ("36227206271667", "Diners"),
        ("6011000990139424", "Discover"), ("378282246310005", "Amex"),
    ])
    def test_every_luhn_card_brand_and_length(self, general: Detector, number: str, brand: str) -> None:
        """Any card number passing Luhn is a CREDIT_CARD, whatever the brand and length."""
        text = f"charge it to {number} please"
        assert _covered(general, text, number), brand
        assert "CREDIT_CARD" in _types(general, text)

    @pytest.mark.parametrize("iban", ["de89370400440532013000", "GB82 WEST 1234 5698 7654 32", "fr14 2004 1010 0505 0001 3m02 606"])
    def test_iban_in_any_case_and_spacing(self, general: Detector, iban: str) -> None:
        """IBANs upper or lower case, with or without spaces (checksum verified)."""
        text = f"wire to {iban} by Friday"
        assert _covered(general, text, iban)
        assert "IBAN_CODE" in _types(general, text)

    def test_invalid_iban_checksum_is_not_an_iban(self, general: Detector) -> None:
        """A look-alike failing mod 97 is not typed IBAN_CODE."""
        assert "IBAN_CODE" not in _types(general, "code DE00370400440532013000 in the manual")

    def test_encoded_values(self, general: Detector) -> None:
        """Base64 of personal data, HTML entities and percent escapes."""
        import base64

        short = base64.b64encode(b"078-05-1120").decode()
        assert _covered(general, f"value {short} end", short)
        blob = base64.b64encode(b'{"email": "ann.lee@example.com"}').decode()
        text = f"payload {blob} and contact ann&#46;lee&#64;example&#46;com or ann%2Elee%40example.com"
        for value in (blob, "ann&#46;lee&#64;example&#46;com", "ann%2Elee%40example.com"):
            assert _covered(general, text, value)

    @pytest.mark.parametrize("text,value", [
        ("hey its marcus whitfield, can you check my balance", "marcus whitfield"),
        ("PLEASE CALL JOHN MORRISON TODAY", "JOHN MORRISON"),
        ("Signed by Anna S. yesterday", "Anna S."),
        ("Then Mr. James T. arrived", "Mr. James T."),
        ("Last name: Okonkwo\nFirst name: Chidi", "Okonkwo"),
        ("Khách hàng Nguyễn Văn An đã ký", "Nguyễn Văn An"),
        ("المريض أحمد بن سعيد الغامدي يعاني من الربو", "أحمد بن سعيد الغامدي"),
        ("Пациент Иван Петров жалуется на боль", "Иван Петров"),
        ("姓名：张伟，电话 138 0013 8000", "张伟"),
        ("山田太郎さんは来ました", "山田太郎"),
        ("환자 김민수 씨는 당뇨병이 있습니다", "김민수"),
        ("patient maria lopez called about her refill", "maria lopez"),
    ])
    def test_names_in_any_case_initials_and_scripts(self, general: Detector, text: str, value: str) -> None:
        """Names lower or upper case, with initials, after form labels, in other scripts."""
        assert _covered(general, text, value)

    @pytest.mark.parametrize("text,values", [
        ('{"name": "Luca Bianchi", "ssn": "078-05-1120", "email": "lb@x.it"}', ["Luca Bianchi", "078-05-1120"]),
        ("first,last,ssn\nLuca,Bianchi,078-05-1120\nAnna,Rossi,219-09-9999", ["Luca", "Bianchi", "Anna", "Rossi"]),
        ("INSERT INTO patients VALUES ('Luca','Bianchi','078-05-1120');", ["Luca", "Bianchi", "078-05-1120"]),
    ])
    def test_structured_data(self, general: Detector, text: str, values: list[str]) -> None:
        """JSON fields, CSV columns under a header, and quoted SQL values."""
        for value in values:
            assert _covered(general, text, value)

    def test_structured_non_personal_fields_stay(self, general: Detector) -> None:
        """A table or JSON without personal-data fields is left alone."""
        assert _values(general, 'dose,unit\n500,mg\n{"timeout": "30", "retries": "3"}') == []

    @pytest.mark.parametrize("text,value", [
        ("Sra. María José García Fernández vive en Calle Mayor 15, Madrid", "Calle Mayor 15"),
        ("M. Jean-Pierre Dubois, 12 rue de la Paix, 75002 Paris", "12 rue de la Paix"),
        ("Herr Jürgen Weißmüller wohnt in der Lindenstraße 12, 80331 München", "Lindenstraße 12, 80331 München"),
        ("Ship to:\nAisha Khan\n14 Elm Grove\nLeeds LS6 2AB", "14 Elm Grove"),
        ("lives at 221 Baker Street, London NW1 6XE", "221 Baker Street, London NW1 6XE"),
    ])
    def test_addresses_in_several_layouts(self, general: Detector, text: str, value: str) -> None:
        """English, continental and number-first street layouts, with town and postcode."""
        assert _covered(general, text, value)

    def test_homoglyphs_invisibles_and_fullwidth(self, general: Detector) -> None:
        """Cyrillic look-alikes, zero-width characters and full-width digits are seen through."""
        text = "send to bоb.smith@gmail.com, SSN 078\u200b-05\u200b-1120, phone ＋４４ ２０ ７９４６ ０９５８"
        for value in ("bоb.smith@gmail.com", "078\u200b-05\u200b-1120", "＋４４ ２０ ７９４６ ０９５８"):
            assert _covered(general, text, value)

    @pytest.mark.parametrize("text,value", [
        ("मरीज़ का फ़ोन +९१ ९८७६५ ४३२१० है", "+९१ ९८७६५ ४३२१०"),
        ("رقم الضمان ٥٣٦-٢٢-٨١٤٧", "٥٣٦-٢٢-٨١٤٧"),
        ("Please email robert.ander-\nson@company.co.uk today", "robert.ander-\nson@company.co.uk"),
        ("card 4111\n1111\n1111\n1111 ok", "4111\n1111\n1111\n1111"),
    ])
    def test_non_ascii_digits_and_values_split_across_lines(self, general: Detector, text: str, value: str) -> None:
        """Devanagari and Arabic-Indic digits; e-mails and numbers broken over lines."""
        assert _covered(general, text, value)

    def test_placeholder_lookalike_does_not_hide_the_real_value(self, general: Detector) -> None:
        """A fake tag in the text does not stop the real name and SSN being redacted."""
        text = "Note: [REDACTED_PERSON_1] is the old tag; the real client is Hannah Schmidt, SSN 078-05-1120."
        redaction = privroute.Router("general", detector=general).redact(text)
        assert "Hannah" not in redaction.text and "078-05-1120" not in redaction.text
        assert "[REDACTED_PERSON_1]" in redaction.text

    def test_right_to_left_override(self, general: Detector) -> None:
        """A reversed SSN behind an RLO control is read as displayed."""
        text = "SSN shown as \u202e0211-50-870\u202c on screen"
        assert _covered(general, text, "0211-50-870")


class TestHealthcare:
    @pytest.mark.parametrize("text,value,type_", [
        ("Pt seen today, MRN: 00482913, follow up", "00482913", "MEDICAL_RECORD_NUMBER"),
        ("MR# A7731209 admitted", "A7731209", "MEDICAL_RECORD_NUMBER"),
        ("medical record number 5521-889 on the chart", "5521-889", "MEDICAL_RECORD_NUMBER"),
        ("ID: 77120934", "77120934", "MEDICAL_RECORD_NUMBER"),
        ("Member ID XKJ882910331 for the claim", "XKJ882910331", "HEALTH_PLAN_ID"),
        ("Medicare beneficiary number 1EG4TE5MK73", "1EG4TE5MK73", "HEALTH_PLAN_ID"),
        ("account no. 4471-2290-11", "4471-2290-11", "ACCOUNT_NUMBER"),
        ("license number RN-558812 expires", "RN-558812", "LICENSE_NUMBER"),
        ("pacemaker serial no. PM88231X", "PM88231X", "DEVICE_ID"),
        ("VIN 1HGCM82633A004352 on the report", "1HGCM82633A004352", "VEHICLE_ID"),
        ("fax 617-555-0142 the results", "617-555-0142", "FAX_NUMBER"),
    ])
    def test_identifiers_in_clinicians_forms(self, healthcare: Detector, text: str, value: str, type_: str) -> None:
        """Record, plan, account, licence, device, vehicle ids and fax numbers as clinicians write them."""
        assert _covered(healthcare, text, value)
        assert type_ in _types(healthcare, text)

    def test_names_with_titles_and_places_and_dates(self, healthcare: Detector) -> None:
        """A titled name, a hospital, and a full date are identifiers."""
        text = "Dr. Priya Raman saw the patient at St. Brigid's Hospital on 03/14/2023."
        for value in ("Priya Raman", "03/14/2023"):
            assert _covered(healthcare, text, value)

    def test_age_over_89_is_an_identifier(self, healthcare: Detector) -> None:
        """Ages of 90 and above are Safe Harbor identifiers."""
        assert "AGE_OVER_89" in _types(healthcare, "a 93 year old woman with syncope")

    @pytest.mark.parametrize("text", [
        "67 year old male with type 2 diabetes on metformin 500 mg and lisinopril, HbA1c 8.2",
        "Patient reports chest pain and shortness of breath for 3 days; ECG shows atrial fibrillation.",
        "Started Eliquis 5 mg twice daily after the MRI; history of Crohn's disease and COPD.",
        "Post-op day 2 after laparoscopic cholecystectomy, afebrile, tolerating diet.",
        "She was diagnosed in 2019 and is seen in the cardiology clinic every month.",
        "Consider CT angiography if troponin rises; continue atorvastatin 40 mg nightly.",
        "Echo showed EF 35% with moderate MR. Cardiology recs: start Entresto.",
        "Down syndrome child with Guillain-Barré after Epstein-Barr virus infection; rule out MIS-C.",
        "Give Tylenol 650 mg, Zofran 4 mg IV; positive Murphy's sign; St. John's wort; Foley catheter in place.",
        "Dyspnea x3 days, post-op day 2, HER2+ breast cancer, BRCA1 positive, Apgar 9 at 5 minutes.",
    ])
    def test_clinical_content_is_not_redacted(self, healthcare: Detector, text: str) -> None:
        """Ages under 90, diagnoses, drugs, symptoms, procedures and a year alone stay."""
        assert _values(healthcare, text) == []


class TestPolicyOptions:
    def test_entities_limits_the_types(self) -> None:
        """config.entities restricts what is reported."""
        detector = presidio_detector(DetectConfig(entities=("EMAIL_ADDRESS",)))
        found = detector.detect("Jane Roe, jane@example.com, 4111 1111 1111 1111")
        assert {e.type for e in found} == {"EMAIL_ADDRESS"}

    def test_threshold_per_type(self) -> None:
        """A per-type threshold above a recognizer's score suppresses that type only."""
        detector = presidio_detector(DetectConfig(thresholds={"PERSON": 1.0}))
        found = detector.detect("Jane Roe wrote from jane@example.com")
        assert "PERSON" not in {e.type for e in found} and "EMAIL_ADDRESS" in {e.type for e in found}

    def test_allow_list_is_never_redacted(self) -> None:
        """Allow-listed strings are not reported even when a recognizer flags them."""
        detector = presidio_detector(DetectConfig(allow_list=("Jane Roe",)))
        assert _values(detector, "Jane Roe wrote again") == []

    def test_policy_recognizer_with_context_and_checksum(self) -> None:
        """A policy regex recognizer honours its checksum and its context words."""
        spec = RecognizerSpec(name="loyalty", entity="LOYALTY_ID", patterns=({"regex": r"\bLY\d{8}\b", "score": 0.3},),
                              context=("loyalty",), flags=())
        detector = presidio_detector(DetectConfig(recognizers=(spec,), threshold=0.5))
        assert "LOYALTY_ID" in _types(detector, "my loyalty card LY12345678")
        assert "LOYALTY_ID" not in _types(detector, "the part LY12345678 shipped")
        luhn = RecognizerSpec(name="card", entity="STORE_CARD", patterns=({"regex": r"\bSC(\d{16})\b", "score": 0.9},),
                              checksum="luhn")
        detector = presidio_detector(DetectConfig(recognizers=(luhn,)))
        assert "STORE_CARD" in _types(detector, "SC4111111111111111")
        assert "STORE_CARD" not in _types(detector, "SC4111111111111112")

    def test_deny_list(self) -> None:
        """A deny list flags exact terms."""
        spec = RecognizerSpec(name="projects", entity="PROJECT", deny_list=("Bluebird",))
        assert "PROJECT" in _types(presidio_detector(DetectConfig(recognizers=(spec,))), "status of bluebird?")

    @pytest.mark.parametrize("policy,text,value,type_", [
        ("healthcare", "Medicare MBI 1EG4-TE5-MK73 on the card", "1EG4-TE5-MK73", "HEALTH_PLAN_ID"),
        ("healthcare", "referring NPI 1234567893", "1234567893", "LICENSE_NUMBER"),
        ("legal", "Docket 1:23-cv-04567-JMF was filed", "1:23-cv-04567-JMF", "DOCKET_NUMBER"),
        ("finance", "our EIN 12-3456789 for the W-9", "12-3456789", "TAX_ID"),
        ("finance", "wire via SWIFT DEUTDEFF500 today", "DEUTDEFF500", "SWIFT_CODE"),
        ("public-sector", "numéro de sécurité sociale 1 84 12 76 451 089 46", "1 84 12 76 451 089 46", "NATIONAL_ID"),
    ])
    def test_sector_policy_recognizers(self, policy: str, text: str, value: str, type_: str) -> None:
        """The sector policies' own recognizers find their identifiers, typed as the rules expect."""
        detector = detector_for(load_policy(policy).detect)
        assert _covered(detector, text, value) and type_ in _types(detector, text)

    def test_checksums(self) -> None:
        """Luhn, IBAN, MOD 97-10 and NPI checks accept valid and reject altered values."""
        assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
        assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
        assert mod97_ok("97") is False and mod97_ok("98")
        assert npi_ok("1234567893") and not npi_ok("1234567890")


class _KeywordDetector(BaseDetector):
    """A stand-in for a second detector (e.g. a GLiNER or local-LLM one)."""

    name = "project-codenames"

    def detect(self, text: str) -> tuple[Entity, ...]:
        start = text.find("Bluebird")
        return () if start < 0 else (Entity(start, start + 8, "PROJECT", 0.9, self.name),)


class _Composite(BaseDetector):
    """Union of several detectors' spans: any Detector plugs into the Router (BaseDetector adds detect_many)."""

    name = "composite"

    def __init__(self, detectors: Iterable[Detector]) -> None:
        self.detectors = tuple(detectors)

    def detect(self, text: str) -> tuple[Entity, ...]:
        return merge_overlaps(e for d in self.detectors for e in d.detect(text))


class TestSeam:
    def test_composite_detector_plugs_into_the_router(self, general: Detector) -> None:
        """A custom detector combined with the default redacts both kinds without touching the router."""
        composite = _Composite([general, _KeywordDetector()])
        assert isinstance(composite, Detector)
        router = privroute.Router("general", detector=composite)
        redaction = router.redact("Ask jane@example.com about Bluebird")
        assert "jane@example.com" not in redaction.text and "Bluebird" not in redaction.text
        assert {e.type for e in redaction.entities} == {"EMAIL_ADDRESS", "PROJECT"}
        assert redaction.restore(redaction.text) == "Ask jane@example.com about Bluebird"


class TestEngine:
    def test_context_step_gives_what_presidio_gives(self, general: Detector) -> None:
        """The grouped context step returns the same results, scores and order as Presidio's own."""
        from presidio_analyzer import AnalyzerEngine

        detector = presidio_detector(load_policy("general").detect)
        analyzer, engine = detector._analyzer, detector._nlp_engine
        texts = ["Call Jane Roe at 212-555-0147 or jane@example.com; SSN 536-22-8147, DOB 04/12/1951.",
                 "Patient MRN 4471229 seen by Dr. Alan Grant in Boise on March 3, 2021.", "Nothing here."]
        compared = 0
        for text in texts:
            artifacts = engine.process_text(text, "en")
            recognizers = analyzer.registry.get_recognizers(language="en", all_fields=True)

            def raw() -> list:
                found = []
                for recognizer in recognizers:
                    found.extend(recognizer.analyze(text=text, entities=[], nlp_artifacts=artifacts) or [])
                return found

            def summary(results: list) -> list:
                return [(r.entity_type, r.start, r.end, round(r.score, 6)) for r in results]

            ours = analyzer._enhance_using_context(text, raw(), artifacts, recognizers)
            theirs = AnalyzerEngine._enhance_using_context(analyzer, text, raw(), artifacts, recognizers)
            assert summary(ours) == summary(theirs)
            compared += len(ours)
        assert compared > 5
