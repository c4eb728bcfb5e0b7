"""Policy language settings: validation, content hash, loosening, policy check (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from privroute.errors import PolicyError
from privroute.loosening import loosenings
from privroute.policy import load_policy
from privroute.policy_check import check_policy

pytestmark = pytest.mark.fast

# The hashes of the shipped policies before languages existed: new settings at their defaults leave them alone.
_HASHES = {
    "general": "f96bbd5dc5352ad4d6312ec58b2d9643f878d09634c1fa277fd18814e50afe4d",
    "healthcare": "2e3cefb7864179c6f11100e8aba7a223c897e348b10858a88c36e2fb6cf33010",
    "finance": "8e474e2598328f84ed1e72b03a4fcf3699356e7a79b9d9adb5172e736fea82e4",
    "legal": "4bdb7b067f5e48df33c67619e137bd2f36540e36bd6a1b0c698dfa7d85098ed8",
}


@pytest.mark.parametrize("name", sorted(_HASHES))
def test_existing_policies_keep_their_hash(name: str) -> None:
    assert load_policy(name).content_hash == _HASHES[name]


def test_public_sector_covers_english_and_french() -> None:
    detect = load_policy("public-sector").detect
    assert detect.languages == ("en", "fr") and detect.unknown_language == "local"
    assert load_policy("general").detect.languages == ("en",)


def test_languages_change_the_hash() -> None:
    base = load_policy({"name": "x"}).content_hash
    assert load_policy({"name": "x", "detect": {"languages": ["en", "fr"]}}).content_hash != base
    assert load_policy({"name": "x", "detect": {"languages": ["en"]}}).content_hash == base


@pytest.mark.parametrize("languages, message", [
    (["english"], "ISO 639-1"), ([], "at least one"), (["en", "en"], "once"), (["en", "de"], "no spaCy pipeline"),
])
def test_bad_languages_are_refused(languages: list[str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy({"name": "x", "detect": {"languages": languages}})


def test_a_language_with_a_named_pipeline_loads() -> None:
    policy = load_policy({"name": "x", "detect": {"languages": ["en", "de"], "models": {"de": "de_core_news_sm"}}})
    assert policy.detect.models == {"de": "de_core_news_sm"}


def test_reading_unknown_languages_as_english_loosens() -> None:
    with pytest.raises(PolicyError, match="unknown_language"):
        load_policy({"name": "x", "extends": "public-sector", "detect": {"unknown_language": "redact-with-en"}})
    strict = load_policy({"name": "y", "extends": "public-sector", "detect": {"unknown_language": "block"}})
    assert not loosenings(load_policy("public-sector"), strict)
    dropped = load_policy({"name": "z", "detect": {"languages": ["en"], "unknown_language": "redact-with-en"}})
    assert [c.key for c in loosenings(load_policy("public-sector"), dropped) if c.key.startswith("detect.lang")] \
        == ["detect.languages"]


def test_policy_check_refuses_a_missing_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "de.yaml"
    path.write_text("name: de\nextends: general\ndetect:\n  languages: [en, de]\n  models: {de: no_such_pipeline_xx}\n",
                    encoding="utf-8")
    report = check_policy(str(path), offline=True)
    problems = [p for p in report.problems if p.key == "detect.languages"]
    assert problems and "no_such_pipeline_xx" in problems[0].message and "not installed" in problems[0].message
