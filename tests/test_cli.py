"""CLI contract: --help everywhere, exit codes, one-line errors without tracebacks."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from studybuild.cli import cli

COMMANDS = ["simulate", "sdtm", "adam", "validate", "export", "rules", "build", "demo"]


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_lists_every_command():
    res = run("--help")
    assert res.exit_code == 0
    listed = [line.split()[0] for line in res.output.split("Commands:")[1].splitlines()
              if line.strip()]
    assert sorted(listed) == sorted(COMMANDS)
    assert "Exit codes: 0 success, 1 error-level findings" in res.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    res = run(command, "--help")
    assert res.exit_code == 0
    assert res.output.startswith(f"Usage: cli {command}") or res.output.startswith(
        f"Usage: studybuild {command}")


def test_unknown_study_is_a_usage_error_with_one_line():
    res = CliRunner().invoke(cli, ["simulate", "--study", "nope", "--out", "x"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "studybuild: error: unknown study 'nope'; known studies: surufatinib-envafolimab-sts, "
        "surufatinib-sts (each is a folder in specs/studies/)"]


def test_missing_option_is_a_usage_error():
    res = CliRunner().invoke(cli, ["sdtm", "--study", "surufatinib-sts"])
    assert res.exit_code == 2 and "Missing option '--raw'" in res.output


def test_version():
    res = run("--version")
    assert res.exit_code == 0 and res.output.startswith("studybuild, version ")


def test_console_script_runs_without_traceback():
    out = subprocess.run([sys.executable, "-m", "studybuild", "adam", "--sdtm",
                          "/definitely/not/here", "--out", "/tmp/x", "--study", "bad-study"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("studybuild: error: unknown study 'bad-study'")
