"""The install lives under one namespace, ``difficult_customer``, and a checkout cannot import a module twice."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("customer_models", "envs", "agents", "experiments")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_installed_under_the_namespace():
    config = _pyproject()["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        "difficult_customer." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found == listed, (f"pyproject packages differ from the folders: missing {found - listed}, "
                             f"extra {listed - found}")
    assert config["package-dir"] == {f"difficult_customer.{f}": f for f in FOLDERS}


def test_installed_project_claims_no_generic_top_level_name(tmp_path):
    code = (
        "import importlib.util, sys\n"
        "print([n for n in ('envs', 'agents', 'experiments', 'customer_models') if importlib.util.find_spec(n)])\n"
        "import difficult_customer.envs, difficult_customer.agents, difficult_customer.experiments\n"
        "generic = ('envs', 'agents', 'experiments', 'customer_models')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in generic))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_a_checkout_folder_imported_under_its_bare_name_is_refused():
    for folder in FOLDERS:
        result = subprocess.run(
            [sys.executable, "-c", f"import {folder}"], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert f"import difficult_customer.{folder}" in result.stderr, result.stderr


def test_gym_make_finds_the_env_through_its_module():
    code = "import gymnasium as gym; env = gym.make('difficult_customer.envs:DifficultCustomer-v0'); print(env.spec.id)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "DifficultCustomer-v0"
