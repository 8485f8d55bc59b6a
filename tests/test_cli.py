"""The command line: every command follows the Config contract, and --help documents every option."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import subprocess
import sys
import textwrap
import typing

import pytest

from difficult_customer.experiments import cli


def field_docstrings(cls: type) -> dict[str, str]:
    """The attribute docstring under each field of a dataclass (and the dataclasses it extends), read from source."""
    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:], strict=False):
            named = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            if named and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                docs[node.target.id] = str(after.value.value)
    return docs


def words(text: str) -> str:
    """Text with the help's frame characters dropped and whitespace collapsed, for matching across line wraps."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_top_level_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert re.search(rf"^  {re.escape(name)}\s", out, re.MULTILINE), name
    assert cli.main([]) == 2  # no command at all is a usage error


def test_an_unknown_command_is_named_with_the_allowed_ones(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err and "benchmark" in err and "train" in err


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_follows_the_config_contract(name):
    module = importlib.import_module(cli.COMMANDS[name][0])
    assert dataclasses.is_dataclass(module.Config), f"{name}: Config is not a dataclass"
    parameters = list(inspect.signature(module.main).parameters)
    assert len(parameters) == 1, f"{name}: main takes {parameters}, expected (config)"
    docs = field_docstrings(module.Config)
    missing = [f.name for f in dataclasses.fields(module.Config) if not docs.get(f.name, "").strip()]
    assert not missing, f"{name}: fields without a docstring: {missing}"


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_help_lists_every_config_field_with_its_docstring(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert cli.main([name, "--help"]) == 0
    out = words(capsys.readouterr().out)
    module = importlib.import_module(cli.COMMANDS[name][0])
    assert f"difficult-customer {name}" in out
    docs = field_docstrings(module.Config)
    hints = typing.get_type_hints(module.Config, include_extras=True)
    for f in dataclasses.fields(module.Config):
        renamed = [m.name for m in getattr(hints[f.name], "__metadata__", ()) if getattr(m, "name", None)]
        flag = "--" + (renamed[0] if renamed else f.name).replace("_", "-")
        assert flag in out or f.name.upper() in out, f"{name}: --help does not list {f.name} (as {flag})"
        first = " ".join(docs[f.name].split()[:4])
        assert first in out, f"{name}: --help does not show the docstring of {f.name} ({first!r})"


def test_a_bad_option_value_is_an_error_naming_it(capsys):
    assert cli.main(["benchmark", "--episodes", "many"]) == 2
    captured = capsys.readouterr()
    assert "--episodes" in captured.err and "'many'" in captured.err


def test_options_reach_the_config():
    config = cli.parse("benchmark", ["--episodes", "7", "--personas", "reasonable", "belligerent", "--no-resume",
                                     "--ablate", "C4", "--mc-episodes", "50"])
    assert (config.episodes, config.personas, config.resume, config.ablate, config.mc_episodes) == (
        7, ["reasonable", "belligerent"], False, ["C4"], 50)
    report = cli.parse("report", ["--budget", "tiny", "--personas", "mixture", "--n-envs", "4"])
    assert (report.budget, report.personas, report.n_envs) == ("tiny", ["mixture"], 4)


def test_python_dash_m_runs_the_same_dispatcher():
    done = subprocess.run([sys.executable, "-m", "difficult_customer.experiments", "--help"],
                          capture_output=True, text=True, check=True)
    assert all(name in done.stdout for name in cli.COMMANDS)
