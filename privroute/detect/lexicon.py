"""Word lists the recognizers consult: English vocabulary and clinical terms.

The English vocabulary is WordNet's lemma index, which spaCy's English
pipelines ship inside their lemmatizer tables, so nothing extra is installed
or downloaded. Clinical terms (drug brands, drug-name stems, eponyms) guard
the proper-noun rule: a capitalised word that is not English is usually a
name, a place or a company, but ``Eliquis`` or ``Crohn's`` are not identifiers
and redacting them makes a clinical question unanswerable.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CLINICAL_WORDS", "COMMON_NAME_WORDS", "english_words", "is_clinical", "is_english"]

# Brand names of widely prescribed drugs and devices (lower case).
CLINICAL_WORDS = frozenset("""
tylenol advil motrin aleve lipitor crestor zocor pravachol ozempic wegovy mounjaro zepbound trulicity victoza
saxenda eliquis xarelto pradaxa coumadin jantoven plavix brilinta effient keytruda opdivo humira enbrel remicade
stelara skyrizi dupixent januvia janumet jardiance farxiga invokana glucophage lantus levemir tresiba humalog
novolog basaglar toujeo synthroid levoxyl norvasc lasix bumex aldactone zestril prinivil cozaar diovan benicar
toprol lopressor coreg tenormin cardizem nexium prilosec protonix pepcid zantac zoloft prozac lexapro celexa
paxil wellbutrin effexor cymbalta pristiq trintellix abilify seroquel zyprexa risperdal latuda lamictal keppra
depakote tegretol topamax neurontin lyrica xanax ativan valium klonopin ambien lunesta adderall ritalin vyvanse
concerta strattera suboxone narcan vivitrol oxycontin percocet vicodin norco dilaudid ultram ventolin proair
proventil symbicort advair breo trelegy spiriva singulair flonase zyrtec claritin allegra benadryl augmentin
zithromax cipro levaquin keflex bactrim flagyl valtrex tamiflu paxlovid biktarvy truvada descovy genvoya
prednisone medrol decadron solumedrol xeljanz rinvoq otezla cosentyx taltz orencia actemra entresto farxiga
repatha praluent leqvio nurtec ubrelvy aimovig emgality botox prolia evenity forteo fosamax boniva reclast
viagra cialis flomax proscar avodart detrol myrbetriq premarin estrace yaz nuvaring mirena nexplanon depo
epipen glucagon baqsimi dexcom libre omnipod medtronic tandem humulin novolin afrezza
zofran phenergan reglan toradol dilantin haldol lovenox colace senna miralax dulcolax restoril rocephin zosyn
unasyn levophed precedex versed glucotrol amaryl actos methadone fentanyl propofol heparin aspirin
apgar brca brca1 brca2 her2 kras braf alk pd-l1 pdl1 hla hpv hiv hcv hbv ebv cmv rsv mrsa vre c.diff
guillain-barré guillain-barre epstein-barr swan-ganz roux-en-y stevens-johnson creutzfeldt-jakob
wolff-parkinson-white charcot-marie-tooth non-hodgkin
covid sars hba1c troponin creatinine bnp inr ekg ecg
post-op pre-op postop preop post-operative pre-operative copd chf cad ckd gerd uti dvt pe mi cva tia afib
ra nc sob hpi ros pmh psh fh sh wnl nad rrr ctab nkda aox3 gcs ams loc cp abd ext neuro psych
cr na cl bun hgb hct wbc rbc plt alt ast alp ldl hdl tsh ptt crcl egfr gfr a1c ldh ck
medicaid medicare medigap tricare chip nstemi stemi covid19 hfref hfpef cabg tavr ercp egd
icu nicu picu er ed or pacu mri ct pet cbc bmp cmp abg bp hr rr spo2 npo prn bid tid qid qhs po iv im sc
""".split())

# Eponymous conditions, scales and signs: "Crohn's disease", "Glasgow Coma Scale".
_EPONYM_FOLLOWERS = re.compile(
    r"(?:['’]s)?\s+(?:disease|syndrome|sign|test|scale|score|criteria|classification|maneuver|manoeuvre|"
    r"procedure|reflex|palsy|phenomenon|ulcer|sarcoma|lymphoma|tumou?r|fracture|operation|repair|node|"
    r"node|cyst|hernia|anomaly|triad|disorder|thyroiditis|encephalopathy|esophagus|oesophagus|coma|virus|"
    r"catheter|point|wort|fundoplication|bypass|line|tube|stockings?|boot|splint|index|rule|staging|grade|"
    r"position|incision|forceps|solution|block|cells?|bodies|body|protocol|method|technique|effect|law)\b",
    re.IGNORECASE)

# Drug-name stems (INN): generics are rarely capitalised, but people type them so.
_DRUG_STEMS = re.compile(
    r"(?:pril|sartan|olol|alol|statin|dipine|mab|nib|xaban|parin|grel|glutide|gliflozin|gliptin|azole|mycin|"
    r"cillin|cycline|floxacin|codone|morphone|profen|oxetine|"
    r"triptan|setron|prazole|tidine|lukast|terol|olone|asone|formin|glinide|thiazide|semide|"
    r"tropium|dronate|lutamide|rubicin|platin|taxel|trexate|limus|tinib|ximab|zumab|umab|lizumab|kinra|"
    r"azepam|azolam|barbital|caine|fentanil|oxacin)$", re.IGNORECASE)

# Given names that are also everyday English words: never a name on their own.
COMMON_NAME_WORDS = frozenset("""
will may june april august grace hope faith joy rose mark bill art frank guy dawn summer autumn ray sky chance
page hunter chase bud jack rich sunny patience honor honour miles drew gene pat sue don dean norm earl carol iris
ivy holly daisy violet ruby pearl jade amber crystal angel christian royal king prince major sterling price lane
bay glen dale clay cliff stone wood wells young long worth bell bond case cash ward cook love lucky lady baby
sandy rusty buddy misty stormy china paris georgia virginia carolina florida austin dallas houston jordan
america india asia lincoln washington tuesday monday wednesday thursday friday saturday sunday january march
christmas easter doctor nurse patient sister brother mother father son daughter aunt uncle will sunday
""".split())


# Everyday words newer than WordNet: never names.
_MODERN_WORDS = frozenset("""
email emails emailed emailing e-mail e-mails online offline website websites webpage app apps login logout signup
smartphone wifi internet inbox chatbot username password laptop blog podcast selfie hashtag tweet retweet texting
voicemail ebook ok okay hi hey thanks pls plz asap fyi btw lol covid telehealth telemedicine zoom
""".split())


def english_words(nlp: Any) -> frozenset[str]:
    """WordNet's lemma index from the spaCy pipeline's lemmatizer tables (lower case).

    Empty when the pipeline has none: the rules that need it then fall back to
    the name gazetteers alone.
    """
    try:
        table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
    except (KeyError, AttributeError, ValueError):
        return frozenset()
    words: set[str] = set(_MODERN_WORDS)
    for key in table.keys():
        words.update(word for word in table[key] if "_" not in word)
    try:
        # Irregular forms ("seen", "children") are keys of the exceptions table.
        exceptions = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_exc")
        for key in exceptions.keys():
            words.update(form for form in exceptions[key] if "_" not in form)
    except (KeyError, AttributeError, ValueError):
        pass
    return frozenset(words)


# Medical word endings (Greek and Latin roots): conditions, procedures, tests.
_MEDICAL_ENDINGS = re.compile(
    r"(?:itis|aemia|emia|osis|pathy|ectomy|otomy|ostomy|plasty|scopy|graphy|gram|algia|pnea|pnoea|penia|"
    r"cytosis|megaly|uria|plegia|paresis|rrhea|rrhoea|trophy|lysis|phagia|phasia|kinesia|tension|cardia|"
    r"sclerosis|stenosis|ptysis|ocele|iasis)$", re.IGNORECASE)
_ENDING_CHARS = 16
"""Longer than any drug stem or medical ending: only a word's tail is searched (a hostile
40,000-character "word" made the old whole-word search quadratic)."""


def is_clinical(word: str, text: str, end: int) -> bool:
    """A drug, lab or eponymous condition rather than a name (``end``: where the word ends)."""
    lowered = word.lower()
    tail = lowered[-_ENDING_CHARS:]
    if (lowered in CLINICAL_WORDS or _DRUG_STEMS.search(tail) or _MEDICAL_ENDINGS.search(tail)
            or (len(lowered) >= 7 and lowered.endswith("oma"))):
        return True
    return _EPONYM_FOLLOWERS.match(text, end) is not None


_INFLECTIONS = (("ies", "y"), ("ves", "f"), ("es", ""), ("s", ""), ("ied", "y"), ("ed", ""), ("ed", "e"), ("d", ""),
                ("ing", ""), ("ing", "e"), ("ers", ""), ("er", ""), ("ers", "e"), ("er", "e"), ("ly", ""),
                ("ness", ""), ("ians", "y"), ("ians", "ia"), ("ian", "ia"), ("ans", "a"), ("an", "a"))


def is_english(word: str, english: frozenset[str]) -> bool:
    """``word`` (any case) or its uninflected form is in the English word list."""
    lowered = word.lower()
    if lowered in english:
        return True
    for suffix, replacement in _INFLECTIONS:
        if lowered.endswith(suffix) and len(lowered) - len(suffix) >= 3:
            if lowered[: -len(suffix)] + replacement in english:
                return True
    return False
