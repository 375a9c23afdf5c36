"""A slot lock in memory for the service layer's unit tests: every claim wins (or none does), and what is released
or forgotten is recorded by slot."""

from __future__ import annotations

import uuid

from booking.adapters.slot_lock import SlotLock, SlotLockLease


class RecordingLock(SlotLock):
    """Acquires win with tokens `lease-1`, `lease-2`, ... (unless `taken`); releases and forgets are recorded."""

    def __init__(self, taken: bool = False) -> None:
        super().__init__([], "fake:")
        self.taken = taken
        self.acquired: list[uuid.UUID] = []
        self.released: list[tuple[uuid.UUID, str]] = []
        self.extended: list[tuple[uuid.UUID, str]] = []
        self.forgotten: list[uuid.UUID] = []

    async def acquire(self, slot_id: object, ttl_ms: int) -> SlotLockLease | None:
        if self.taken:
            return None
        assert isinstance(slot_id, uuid.UUID)
        self.acquired.append(slot_id)
        return SlotLockLease(self.key(slot_id), f"lease-{len(self.acquired)}")

    async def extend(self, lease: SlotLockLease, ttl_ms: int) -> bool:
        self.extended.append((_slot_of(lease), lease.token))
        return True

    async def release(self, lease: SlotLockLease) -> None:
        self.released.append((_slot_of(lease), lease.token))

    def forget(self, slot_id: object) -> None:
        assert isinstance(slot_id, uuid.UUID)
        self.forgotten.append(slot_id)
        super().forget(slot_id)


def _slot_of(lease: SlotLockLease) -> uuid.UUID:
    return uuid.UUID(lease.key.split(":")[-2])  # {prefix}slot:{slot_id}:lock
