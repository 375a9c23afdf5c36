"""A test stack's services get ports of their own, and a service whose port another program took between its choice
and its bind (it exits with EADDRINUSE) gets a new one: the stack starts again instead of failing the run."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from smartslot_common.testing import processes
from smartslot_common.testing.processes import (
    PORT_TAKEN,
    SERVICE_PORTS,
    SERVICES,
    START_ATTEMPTS,
    ServiceStack,
    service_port,
)


class RehearsedStack(ServiceStack):
    """A stack whose services are stand-ins: each "starts" as a process that exits at once, failing the way a service
    fails to bind when its port is in `taken`, and is ready otherwise."""

    taken: set[int]
    starts: int

    def start(self, name: str) -> None:
        service = self.services[name]
        failing = service.port in self.taken
        message = f"OSError: [Errno 98] error while attempting to bind: {PORT_TAKEN}" if failing else "listening"
        service.log_path.write_text(message + "\n")
        service.process = subprocess.Popen(["sh", "-c", f"exit {int(failing)}"])
        service.process.wait()
        self.starts += 1

    async def ready(self, name: str, timeout: float = 30.0) -> None:
        process = self.services[name].process
        assert process is not None
        if process.returncode:
            raise AssertionError(f"{name} exited with {process.returncode}")


def rehearsed(tmp_path: Path, taken: set[int]) -> RehearsedStack:
    stack = RehearsedStack({}, tmp_path)
    stack.taken, stack.starts = taken, 0
    return stack


def test_each_service_of_a_stack_is_given_its_own_port(tmp_path: Path) -> None:
    ports = [service.port for service in ServiceStack({}, tmp_path).services.values()]
    assert len(set(ports)) == len(SERVICES)


async def test_a_service_whose_port_was_taken_meanwhile_is_started_again_on_another(tmp_path: Path) -> None:
    stack = rehearsed(tmp_path, set())
    gateway_port = stack.services["gateway"].port
    stack.taken = {gateway_port}

    await stack.start_all()

    assert stack.services["gateway"].port != gateway_port
    assert stack.starts == 2 * len(SERVICES)  # the whole stack again: its callers hold its URL


async def test_a_stack_whose_ports_keep_being_taken_fails_after_its_attempts(tmp_path: Path) -> None:
    stack = rehearsed(tmp_path, set())
    stack.taken = set(SERVICE_PORTS)  # every port it could be given
    with pytest.raises(AssertionError, match="exited with 1"):
        await stack.start_all()
    assert stack.starts == START_ATTEMPTS * len(SERVICES)


async def test_any_other_failure_fails_at_once(tmp_path: Path) -> None:
    class Broken(RehearsedStack):
        async def ready(self, name: str, timeout: float = 30.0) -> None:
            raise AssertionError(f"{name} answered 500")

    stack = Broken({}, tmp_path)
    stack.taken, stack.starts = set(), 0  # built as `rehearsed` builds its stack
    with pytest.raises(AssertionError, match="answered 500"):
        await stack.start_all()
    assert stack.starts == len(SERVICES)


def test_a_port_somebody_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    busy, free = service_port(), service_port()
    while free == busy:
        free = service_port()
    offered = iter([busy, free])
    monkeypatch.setattr(processes.random, "choice", lambda _ports: next(offered))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", busy))
        listener.listen()
        assert service_port() == free


def test_a_port_given_to_another_service_of_the_stack_is_passed_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = ServiceStack({}, tmp_path)
    given, free = stack.services["booking"].port, stack.unused_port()
    offered = iter([given, free])
    monkeypatch.setattr(processes, "service_port", lambda: next(offered))
    assert stack.unused_port() == free
