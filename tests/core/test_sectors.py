"""Each shipped sector policy sends its demo prompts to the intended destinations."""

from __future__ import annotations

import subprocess
import sys

import pytest

import privroute
from privroute.cli.demo import DEMO_PROMPTS

EXPECTED = ("frontier", "redact", "local", "block")


@pytest.mark.parametrize("sector", sorted(DEMO_PROMPTS))
def test_demo_prompts_cover_every_action(sector: str) -> None:
    """The four demo prompts of a sector classify to frontier, redact, local and block."""
    actions = tuple(privroute.classify(prompt, policy=sector).action for prompt in DEMO_PROMPTS[sector])
    assert actions == EXPECTED


@pytest.mark.parametrize(("policy", "prompt", "action"), [
    ("healthcare", "Patient is a 45 year old with type 2 diabetes on metformin 500 mg. Adjust therapy?", "frontier"),
    ("healthcare", "Mr. James T., DOB 03/14/1961, seen at St. Mary's Clinic for a COPD flare.", "local"),
    ("finance", "Routing number 021000021, account 123456789 for the payroll transfer.", "redact"),
    ("finance", "This is material non-public information about the merger.", "local"),
    ("legal", "Attorney work product: draft cross-examination outline.", "local"),
    ("legal", "Please summarise docket no. 1:22-cr-00456 for the team.", "redact"),
    ("public-sector", "Jan Novak was convicted of fraud in 2019; can he work for the council?", "local"),
    ("general", "-----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA", "local"),
])
def test_sector_rules_on_realistic_prompts(policy: str, prompt: str, action: str) -> None:
    """Realistic prompts per sector take the route the regulation calls for."""
    assert privroute.classify(prompt, policy=policy).action == action


def test_demo_runs_every_action_end_to_end() -> None:
    """`privroute demo` runs on the embedded defaults and shows all four decisions."""
    proc = subprocess.run([sys.executable, "-m", "privroute.cli", "demo"], capture_output=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PRIVROUTE_AUDIT_DB": "/tmp/privroute-demo-test.db"})
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "STAND-IN" in out
    for action in EXPECTED:
        assert f"decision : {action}" in out
    assert "Jane Roe" not in out.split("sent     : ")[2].splitlines()[0]
