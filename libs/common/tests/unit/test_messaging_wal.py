"""The WAL position a relayed message carries: read back from its header, and the furthest of a batch."""

from __future__ import annotations

from typing import Any

from smartslot_common.messaging.wal import WAL_POSITION_HEADER, WalPosition, latest


class Delivered:
    """The headers of a delivered message, as aio-pika hands them over."""

    def __init__(self, headers: dict[str, Any] | None) -> None:
        self.headers = headers


def test_a_position_reads_back_from_its_header() -> None:
    position = WalPosition(7715562344616933501, 123456)

    assert WalPosition.of(Delivered({WAL_POSITION_HEADER: position.header()})) == position  # type: ignore[arg-type]
    assert WalPosition.of(Delivered({WAL_POSITION_HEADER: b"1/2"})) == WalPosition(1, 2)  # type: ignore[arg-type]
    assert WalPosition.of(Delivered({WAL_POSITION_HEADER: "garbage"})) is None  # type: ignore[arg-type]
    assert WalPosition.of(Delivered(None)) is None  # type: ignore[arg-type]


def test_a_batch_is_past_the_furthest_position_only_when_every_event_has_one_of_the_same_cluster() -> None:
    assert latest([WalPosition(1, 5), WalPosition(1, 9), WalPosition(1, 7)]) == WalPosition(1, 9)
    assert latest([WalPosition(1, 5), None]) is None
    assert latest([WalPosition(1, 5), WalPosition(2, 9)]) is None
    assert latest([]) is None
