"""scripts/test-tier.sh, which every make test target runs: a tier never passes by running nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIER = REPO / "scripts" / "test-tier.sh"


def tier(*directories: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTEST_ARGS"}
    return subprocess.run([str(TIER), "probe", *map(str, directories)], capture_output=True, text=True, timeout=120,
                          check=False, env=environment)


def test_a_directory_that_collects_no_test_fails_the_tier(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    result = tier(empty)

    assert result.returncode == 1
    assert f"==> probe tests FAILED in: {empty} (no test collected)" in result.stdout


def test_a_missing_directory_fails_the_tier_and_the_others_still_run(tmp_path: Path) -> None:
    present = tmp_path / "present"
    present.mkdir()
    (present / "test_truth.py").write_text("def test_truth() -> None:\n    assert True\n")

    result = tier(tmp_path / "absent", present)

    assert result.returncode == 1
    assert "1 passed" in result.stdout
    assert f"==> probe tests FAILED in: {tmp_path / 'absent'} (missing)" in result.stdout


def test_skipped_tests_are_listed_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "test_skipping.py").write_text(
        "import pytest\n\n\ndef test_later() -> None:\n    pytest.skip('not on this machine')\n")

    result = tier(tmp_path)

    assert result.returncode == 0
    assert "SKIPPED [1]" in result.stdout
    assert "not on this machine" in result.stdout
