"""DependencyUnavailable: the one line an operator reads when a server the service needs is not there."""

from __future__ import annotations

from smartslot_common.errors import DependencyUnavailable


def test_the_message_names_the_dependency_where_it_was_looked_for_why_and_how_to_start_it() -> None:
    error = DependencyUnavailable(
        "PostgreSQL", "db.internal:5432/smartslot", "start it with `make infra`", ConnectionRefusedError(111, "refused")
    )

    assert str(error) == (
        "cannot reach PostgreSQL at db.internal:5432/smartslot: [Errno 111] refused — start it with `make infra`"
    )
    assert (error.dependency, error.target, error.how_to_start) == (
        "PostgreSQL", "db.internal:5432/smartslot", "start it with `make infra`"
    )


def test_a_cause_without_a_message_is_named_by_its_type() -> None:
    error = DependencyUnavailable("Redis", "127.0.0.1:6379/0", "start it", TimeoutError())

    assert str(error) == "cannot reach Redis at 127.0.0.1:6379/0: TimeoutError — start it"


def test_without_a_cause_the_message_still_reads_as_a_sentence() -> None:
    error = DependencyUnavailable("RabbitMQ", "mq:5672", "start it")

    assert str(error) == "cannot reach RabbitMQ at mq:5672 — start it"
