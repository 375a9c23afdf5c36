"""The Makefile's first-contact promises: the Python it builds the venv with, and what make test runs."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", *arguments], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_python_other_than_3_11_stops_make_with_one_line(tmp_path: Path) -> None:
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\ncase "$2" in *exit*) exit 1 ;; esac\necho "Python 3.12.1"\n')
    python.chmod(0o755)
    venv = tmp_path / "venv"

    result = make(f"VENV={venv}", f"PYTHON={python}", f"{venv}/pyvenv.cfg")

    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == (
        f"error: SmartSlot needs Python 3.11 and '{python}' is Python 3.12.1: "
        "install python3.11 or name it with make PYTHON=...")
    assert not venv.exists()


def test_make_test_installs_the_test_tools_and_runs_every_tier_on_directories_that_exist() -> None:
    result = make("-n", "test")

    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    tools = commands.index("scripts/infra.sh test-tools")
    # `[VAR=value ...] scripts/test-tier.sh <tier> <directory>...`
    words = {index: [word for word in shlex.split(line) if "=" not in word] for index, line in enumerate(commands)}
    tiers = {index: line[1:] for index, line in words.items() if line[:1] == ["scripts/test-tier.sh"]}
    assert [words[0] for words in tiers.values()] == ["unit", "integration", "e2e", "browser", "chaos"]
    assert tools < min(tiers)
    for tier, *directories in tiers.values():
        assert directories, tier
        assert all((REPO / directory).is_dir() for directory in directories), (tier, directories)
