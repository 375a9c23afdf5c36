"""scripts/infra.sh's bookkeeping of what it changes on the machine, and `clean-machine`, which undoes exactly that.

The functions run in bash with the script sourced, on temporary copies and records: nothing here touches the
machine's clusters, servers or packages (other test runs share them)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "scripts" / "infra.sh"
MARKER = "# Added by SmartSlot scripts/infra.sh for local development"
LOOPBACK = "host all all 127.0.0.1/32 trust", "host all all ::1/128 trust"
REPLICATION = "local replication all trust", "host replication all 127.0.0.1/32 trust"
# The head of Debian 12's packaged pg_hba.conf: comments first, then first-match rules.
DEBIAN_HBA = """# PostgreSQL Client Authentication Configuration File
# ===================================================
#
# Refer to the "Client Authentication" section in the PostgreSQL
# documentation for a complete description of this file.

# DO NOT DISABLE!
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
"""


def infra(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run bash lines with scripts/infra.sh's functions defined and its records and log under tmp_path."""
    records = {"STARTED_FILE": "started", "ADDED_FILE": "added", "INFRA_LOG": "infra.log",
               "HONCHO_PIDFILE": "honcho.pid"}
    prelude = f"source {shlex.quote(str(INFRA))}\n" + "".join(
        f"{name}={shlex.quote(str(tmp_path / file))}\n" for name, file in records.items())
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SMARTSLOT_")}
    return subprocess.run(["bash", "-c", prelude + script], capture_output=True, text=True, timeout=60, check=False,
                          env=environment)


def quoted(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


@pytest.fixture
def hba(tmp_path: Path) -> Path:
    path = tmp_path / "pg_hba.conf"
    path.write_text(DEBIAN_HBA)
    return path


def test_rules_go_above_the_packaged_ones_under_a_marker_that_counts_them(tmp_path: Path, hba: Path) -> None:
    added = infra(tmp_path, f"add_hba_rules {quoted(str(hba), *LOOPBACK)}")

    assert added.returncode == 0, added.stderr
    lines = hba.read_text().splitlines()
    assert lines[:3] == [f"{MARKER}: the next 2 lines (make clean-machine removes them).", *LOOPBACK]
    assert "\n".join(lines[3:]) + "\n" == DEBIAN_HBA


def test_rules_already_there_are_not_added_again(tmp_path: Path, hba: Path) -> None:
    hba.write_text("host  all  all  127.0.0.1/32  trust\n" + DEBIAN_HBA)

    infra(tmp_path, f"add_hba_rules {quoted(str(hba), *LOOPBACK)}")
    again = infra(tmp_path, f"add_hba_rules {quoted(str(hba), *LOOPBACK)}")

    assert again.returncode == 1, "nothing left to add"
    assert hba.read_text() == f"{MARKER}: the next 1 lines (make clean-machine removes them).\n{LOOPBACK[1]}\n" \
        "host  all  all  127.0.0.1/32  trust\n" + DEBIAN_HBA


def test_removing_the_rules_leaves_the_file_as_it_was(tmp_path: Path, hba: Path) -> None:
    infra(tmp_path, f"add_hba_rules {quoted(str(hba), *LOOPBACK)}; add_hba_rules {quoted(str(hba), *REPLICATION)}")
    assert hba.read_text().count(MARKER) == 2

    removed = infra(tmp_path, f"remove_hba_rules {quoted(str(hba))}")
    again = infra(tmp_path, f"remove_hba_rules {quoted(str(hba))}")

    assert removed.returncode == 0, removed.stderr
    assert hba.read_text() == DEBIAN_HBA
    assert again.returncode == 1, "no SmartSlot rules are left to remove"
    assert hba.read_text() == DEBIAN_HBA


def test_a_rule_the_file_had_before_stays_when_ours_go(tmp_path: Path, hba: Path) -> None:
    original = f"local all all trust\n{LOOPBACK[0]}\n"
    hba.write_text(original)
    infra(tmp_path, f"add_hba_rules {quoted(str(hba), *LOOPBACK)}; add_hba_rules {quoted(str(hba), *REPLICATION)}")

    infra(tmp_path, f"remove_hba_rules {quoted(str(hba))}")

    assert hba.read_text() == original


@pytest.mark.parametrize("original", [
    f"local all all trust\n{LOOPBACK[0]}\n",  # what this block sits on in the test machines' pg_hba.conf
    f"{LOOPBACK[0]}\n{LOOPBACK[1]}\n",  # rules of the other group right below: not the block's
    f"{REPLICATION[0]}\nlocal all all peer\n",  # a replication rule the block did not add (it never adds one twice)
], ids=["other-rule", "loopback-rules", "repeated-rule"])
def test_a_block_from_before_markers_counted_lines_goes_with_its_own_rules_only(
    tmp_path: Path, hba: Path, original: str
) -> None:
    hba.write_text(f"{MARKER}.\n{REPLICATION[0]}\n{REPLICATION[1]}\n{original}")

    removed = infra(tmp_path, f"remove_hba_rules {quoted(str(hba))}")

    assert removed.returncode == 0, removed.stderr
    assert hba.read_text() == original


def test_additions_are_recorded_once_and_read_back_by_kind(tmp_path: Path) -> None:
    result = infra(tmp_path, """
        record_added package prometheus; record_added package prometheus; record_added package libjs-d3
        record_added database smartslot; record_added cluster 15 smartslot_replica
        echo "packages: $(recorded package | xargs)"; echo "clusters: $(recorded cluster)"
        forget_added package prometheus; echo "after: $(recorded package | xargs)"
        forget_added package libjs-d3; forget_added database smartslot; forget_added cluster 15 smartslot_replica
        [[ -e $ADDED_FILE ]] && echo "record kept" || echo "record gone"
    """)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "packages: prometheus libjs-d3", "clusters: 15 smartslot_replica", "after: libjs-d3", "record gone"]


def test_only_packages_the_install_added_are_recorded_as_ours(tmp_path: Path) -> None:
    result = infra(tmp_path, "new_packages $'adduser\\nlibc6' $'adduser\\nlibc6\\nlibjs-d3\\nprometheus'")

    assert result.stdout.split() == ["libjs-d3", "prometheus"]


def test_a_removal_that_would_take_a_package_installed_since_is_named(tmp_path: Path) -> None:
    simulation = "\n".join([
        "Reading package lists...", "The following packages will be REMOVED:", "  grafana-tools prometheus",
        "Remv grafana-tools [1.0-1]", "Remv prometheus [2.42.0+ds-5+deb12u1]", "Remv libjs-d3 [3.5.17-4]"])

    result = infra(tmp_path, f"removal_extras {quoted(simulation, 'prometheus', 'libjs-d3')}")

    assert result.stdout.split() == ["grafana-tools"]


def test_clean_machine_dry_run_says_each_change_and_makes_none(tmp_path: Path) -> None:
    (tmp_path / "started").write_text("not-this-boot redis daemon 6379\n")
    added = "package smartslot-no-such-package\ndatabase smartslot_dry_run_probe\n"
    (tmp_path / "added").write_text(added)

    result = infra(tmp_path, "cmd_clean_machine --dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "--dry-run, not done: stopped redis daemon 6379 (scripts/infra.sh started it)" in lines
    assert "PostgreSQL: database smartslot_dry_run_probe is already gone" in lines
    assert "Packages: none left that scripts/infra.sh installed" in lines
    assert all(line.startswith(("--dry-run, not done: ", "PostgreSQL: ", "Packages: ")) for line in lines), lines
    assert (tmp_path / "added").read_text() == added, "a dry run forgets nothing"
    assert (tmp_path / "started").read_text() == "not-this-boot redis daemon 6379\n"


def test_clean_machine_refuses_while_the_stack_runs(tmp_path: Path) -> None:
    (tmp_path / "honcho.pid").write_text(str(os.getpid()))

    result = infra(tmp_path, "cmd_clean_machine --dry-run")

    assert result.returncode == 1
    assert f"the stack of make run is running (honcho pid {os.getpid()})" in result.stderr
