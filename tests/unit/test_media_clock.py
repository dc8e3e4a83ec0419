"""The media clock of an event loop (emulator.engines.mipt.clock) on its own: slots, the send turns it gives
a SlotSender, the readers it calls and where their failures go, its release when nothing is left."""

from __future__ import annotations

import asyncio
import socket

from emulator.engines.mipt.clock import PERIOD_SLOTS, SLOT_FILL, MediaClock


class Sender:
    """A SlotSender that counts its turns."""

    def __init__(self) -> None:
        self.skipped_slots = 0
        self.turns: list[int] = []

    def send_slot(self, slot: int, now: float, due: float) -> None:
        self.turns.append(slot)


async def test_slots_fill_a_few_at_a_time_then_spread() -> None:
    clock = MediaClock(asyncio.get_running_loop())
    taken = [clock.take_slot() for _ in range(SLOT_FILL * PERIOD_SLOTS + 1)]
    assert taken[:SLOT_FILL] == [0] * SLOT_FILL and taken[SLOT_FILL] == 1
    assert clock.occupancy == [SLOT_FILL + 1] + [SLOT_FILL] * (PERIOD_SLOTS - 1)
    clock.free_slot(0)
    assert clock.occupancy[0] == SLOT_FILL


async def test_one_clock_per_loop_turns_slots_and_calls_readers() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock.of(loop)
    assert MediaClock.of(loop) is clock
    sender = Sender()
    slot = clock.take_slot()  # one busy slot: the ticker sleeps through the others
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setblocking(False)
    heard: list[bytes] = []
    failures: list[Exception] = []

    def reader(now: float) -> None:
        data = a.recv(64)
        heard.append(data)
        if data == b"boom":
            raise RuntimeError("a bug in a stream")

    try:
        clock.watch(a.fileno(), reader, failures.append)
        clock.start(sender)
        b.send(b"one")
        b.send(b"boom")
        b.send(b"two")
        await asyncio.sleep(0.1)
        assert heard == [b"one", b"boom", b"two"]  # the failing reader does not stop the others
        assert [str(e) for e in failures] == ["a bug in a stream"]
        assert sender.turns.count(slot) >= 3  # ~5 periods of 20 ms (a late tick also turns the slots it passed)
    finally:
        clock.unwatch(a.fileno())
        clock.free_slot(slot)
        clock.stop(sender)
        a.close()
        b.close()
    assert clock.closed and clock.epoll is None and clock.timer is None
    assert MediaClock.of(loop) is not clock  # released: the next engine gets a fresh clock
    MediaClock.of(loop).stop(sender)
