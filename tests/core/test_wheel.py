"""The wheel ships what the repository keeps at the top: policies/ (with their case files) and models/catalog.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.slow

CHECK = """
import pathlib, sys
import privroute
from privroute.models import catalog
from privroute.policy import load_policy, shipped_policies
from privroute.policy_cases import shipped_cases
here = pathlib.Path(privroute.__file__).resolve()
assert here.is_relative_to(pathlib.Path(sys.prefix).resolve()), here   # the wheel, not the checkout
policy = load_policy("public-sector")
print(policy.name, len(shipped_policies()), catalog()[0].name, ",".join(sorted(shipped_cases())))
import privroute.cli, privroute.batch, privroute.server.config, privroute.detect.chunk
from importlib import resources
static = resources.files("privroute.server").joinpath("static")   # the dashboard's bundled files
assert static.joinpath("dashboard.css").is_file() and static.joinpath("dashboard.js").is_file()
"""


def test_wheel_installed_in_a_fresh_venv_loads_policies_and_catalog_by_name(tmp_path: Path) -> None:
    """Build the wheel, install it alone in a new venv, load public-sector and the catalog by name."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("privroute-*.whl"))
    env_dir = tmp_path / "venv"
    # The venv sees this interpreter's packages for the dependencies (pydantic, PyYAML, ...),
    # but privroute itself comes only from the wheel installed into it.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # Without PYTHONPATH (a checkout on it looks like an installed privroute to pip, which would
    # then skip the wheel) and forced, so the venv holds exactly this wheel.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", "--force-reinstall", str(wheel)], check=True, capture_output=True, timeout=300,
                   env=clean)
    run = subprocess.run([str(python), "-I", "-c", CHECK], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["public-sector", "5", "smollm2-135m-instruct",
                                  "finance,general,healthcare,legal,public-sector"]
    listed = subprocess.run([str(env_dir / "bin" / "privroute"), "policy", "list"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert listed.stdout.split() == ["finance", "general", "healthcare", "legal", "public-sector"]
