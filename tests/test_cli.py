"""The CLI's contract: --help everywhere, one-line errors for user mistakes, no tracebacks."""
import subprocess
import sys

import pytest

from rag_vs_ft.cli import COMMANDS

NAMES = ["doctor", "ingest", "docs", "remove", "finetune", "report", "replay", "votes", "eval", "bench", "decide"]


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rag_vs_ft", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_every_subcommand_is_registered():
    assert set(NAMES) <= set(COMMANDS)


@pytest.mark.parametrize("name", NAMES)
def test_help_and_common_flags(name):
    r = cli(name, "--help")
    assert r.returncode == 0
    assert "--data-dir" in r.stdout and "--json" in r.stdout


def test_unknown_command_is_a_usage_error():
    r = cli("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr
