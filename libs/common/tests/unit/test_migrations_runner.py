"""Migration plans, read without a database: what each service applies, in which order, and which plans are refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from smartslot_common.migrations import MigrationError, load_plan

SERVICES = {
    # service: (schema it owns, shared components applied first)
    "gateway": ("identity", ()),
    "booking": ("booking", ("outbox",)),
    "availability": ("availability", ()),
    "waitlist": ("waitlist", ("outbox", "inbox")),
    "notifier": ("notifier", ("inbox",)),
}

MakeService = Callable[..., str]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_a_plan_components_first_then_its_own_files_in_order(service: str) -> None:
    expected_schema, components = SERVICES[service]

    schema, plan = load_plan(service)

    names = [migration.name for migration in plan]
    assert schema == expected_schema
    assert len(names) == len(set(names))
    shared = [name for name in names if name.startswith("common.")]
    own = names[len(shared):]
    # in the declared order, each component's files together, before the rest
    assert list(dict.fromkeys(name.split(".")[1] for name in shared)) == list(components)
    assert not any(name.startswith("common.") for name in own)
    assert own == sorted(own)
    assert all(migration.sql.strip() for migration in plan)


def test_a_checksum_is_the_sha256_of_the_file() -> None:
    _, plan = load_plan("gateway")

    for migration in plan:
        assert migration.checksum == hashlib.sha256(migration.sql.encode()).hexdigest()


def test_files_are_ordered_by_number_and_other_files_are_ignored(make_service: MakeService) -> None:
    service = make_service(
        {"0010_tenth.sql": "SELECT 10", "0002_second.sql": "SELECT 2", "0001_first.sql": "SELECT 1", "NOTES.md": "x"}
    )

    schema, plan = load_plan(service)

    assert schema == "demo"
    assert [(migration.name, migration.sql) for migration in plan] == [
        ("0001_first.sql", "SELECT 1"),
        ("0002_second.sql", "SELECT 2"),
        ("0010_tenth.sql", "SELECT 10"),
    ]


def test_components_are_planned_before_the_services_own_files(make_service: MakeService) -> None:
    service = make_service({"0001_own.sql": "SELECT 1"}, init='SCHEMA = "demo"\nCOMPONENTS = ("inbox", "outbox")\n')

    _, plan = load_plan(service)

    assert [migration.name for migration in plan] == [
        "common.inbox.0001_inbox.sql",
        "common.inbox.0002_inbox_received.sql",
        "common.outbox.0001_outbox.sql",
        "common.outbox.0002_outbox_published.sql",
        "common.outbox.0003_outbox_notify_others_only.sql",
        "0001_own.sql",
    ]


def test_an_uninstalled_service_is_refused_with_a_hint() -> None:
    with pytest.raises(MigrationError, match=r"no migrations package 'no_such_service.migrations': is the service"):
        load_plan("no_such_service")


@pytest.mark.parametrize("init", ["", 'SCHEMA = ""\n', 'SCHEMA = "Demo"\n', 'SCHEMA = "demo; DROP SCHEMA public"\n'])
def test_a_missing_or_unsafe_schema_name_is_refused(make_service: MakeService, init: str) -> None:
    service = make_service({"0001_first.sql": "SELECT 1"}, init=init)

    with pytest.raises(MigrationError, match="must declare SCHEMA as a plain lower-case identifier"):
        load_plan(service)


def test_two_files_with_one_number_are_refused(make_service: MakeService) -> None:
    service = make_service({"0001_first.sql": "SELECT 1", "0001_also_first.sql": "SELECT 2"})

    with pytest.raises(MigrationError, match="two migrations share a number"):
        load_plan(service)


@pytest.mark.parametrize("misnamed", ["1_short.sql", "0002_Capital.sql", "0002-dash.sql", "0002_spaces here.sql"])
def test_a_sql_file_that_would_never_be_applied_is_refused_by_name(make_service: MakeService, misnamed: str) -> None:
    service = make_service({"0001_first.sql": "SELECT 1", misnamed: "SELECT 2"})

    with pytest.raises(MigrationError, match=f"{misnamed} not named NNNN_description.sql"):
        load_plan(service)
