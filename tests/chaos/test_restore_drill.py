"""The restore drill (scripts/restore_drill.py, `make restore-drill`) as a fault test: the primary is lost after a
base backup taken while clients booked, and a point-in-time restore from the backup and the WAL archive brings back
exactly what was answered before the target, with booking's invariants intact. About a minute: `make chaos` only."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

DRILL = Path(__file__).resolve().parents[2] / "scripts" / "restore_drill.py"


def load_drill() -> ModuleType:
    spec = importlib.util.spec_from_file_location("restore_drill", DRILL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def exists(path: Path) -> bool:
    return path.exists()


async def test_a_point_in_time_restore_brings_back_what_was_answered_before_the_target_and_nothing_after() -> None:
    drill = load_drill()

    report = await drill.run(drill.Options())

    assert report.booked_during_backup > 0, "some bookings were answered while pg_basebackup ran"
    assert report.booked_before, "bookings were made before the target"
    assert report.restored == report.booked_before, "every 201 before the target restored, nothing else"
    assert report.booked_after, "bookings were made after the target"
    assert not report.booked_after & report.restored, "no booking made after the target restored"
    assert report.cancelled_after <= report.restored_confirmed, "cancellations after the target undone"
    assert report.invariants, "the invariant checker ran on the restored data"
    assert not any(report.invariants.values()), report.invariants
    assert not exists(report.workdir), "the drill's directory (clusters, backup, archive, logs) removed"
