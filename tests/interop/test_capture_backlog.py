"""A capture keeps every frame the kernel queued for it, however far its reader is behind: frames sent while the
event loop could not run (as on a loaded machine) are all in the file when the capture stops, those of the ring's
block still being filled included — and without a receive ring (a kernel that refuses one), more than one read
batch of them, read when the socket closes. Counted by Wireshark's tshark."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from emulator.engines.capture import sniffer
from emulator.engines.capture.sniffer import BATCH
from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.peers import require_peer


def no_ring(sock: socket.socket) -> None:
    raise OSError(22, "no PACKET_RX_RING here")


@pytest.mark.parametrize("ring", [True, False], ids=["ring", "recvmsg"])
async def test_frames_queued_behind_a_busy_loop_are_all_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             ring: bool) -> None:
    tshark = require_peer("tshark")["tshark"]
    if not ring:
        monkeypatch.setattr(sniffer, "RxRing", no_ring)
    u = Unit(name="backlog", profile=get_profile("4102"), state_dir=tmp_path, host="127.0.0.44",
             ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    await u.start()
    try:
        u.config.set("Nlm.PCaptureFileUrl", "file://backlog.pcapng")
        u.commands["Nlm.StartPCapture"]()
        assert u.config.get("Nlm.PCaptureState") == "Requested"
        sock = nlm.capture._sock
        assert sock is not None and sock.ring is ring
        count = BATCH + BATCH // 2
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
            sink.bind(("127.0.0.1", 0))  # a receiver: no ICMP port unreachable in the capture
            sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            source.bind((u.host, 0))
            for i in range(count):  # the loop does not run meanwhile: everything queues in the kernel
                source.sendto(i.to_bytes(4, "big"), sink.getsockname())
            port = sink.getsockname()[1]
            job = nlm.capture.stop()  # at once, the loop not having run (the CLI's command is a task of Nlm)
            assert job is not None and await job == "Completed"
        path = tmp_path / "files" / "persistent" / "backlog.pcapng"
        out = subprocess.run([tshark, "-r", str(path), "-Y", f"udp.dstport == {port}", "-T", "fields",
                              "-e", "data.data"], capture_output=True, text=True, timeout=60, check=True).stdout
        # every datagram once, in the order sent
        assert [int(x, 16) for x in out.split()] == list(range(count))
    finally:
        await u.stop()
