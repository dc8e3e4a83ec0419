"""The SipEp mirrors (engines/sipep/mirrors.py) with a started SipEp service and real sockets: the signaling log's
datagram (header line, then the message as it went on the wire), its numbering (from 1 again when the service
restarts), its enable and host acting at once, an unreachable destination reported once per destination (SipEp
9011), and the HEP mirror's chunks decoded here by hand (the interop tests use Kamailio's decoder)."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

HOST = "127.0.0.1"


@dataclass
class Lab:
    unit: Unit
    engine: SipEpEngine
    peer: socket.socket  # a SIP peer (plain UDP socket) the test speaks for

    @property
    def sip_port(self) -> int:
        assert self.engine.ua.transport is not None
        port = self.engine.ua.transport.udp_port()
        assert port is not None
        return port

    def options(self, n: int) -> bytes:
        """An OPTIONS the unit answers; ``n`` makes each one distinct."""
        port = self.peer.getsockname()[1]
        return (f"OPTIONS sip:{HOST}:{self.sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-mirror-{n}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:probe@{HOST}>;tag=t{n}\r\nTo: <sip:{HOST}>\r\n"
                f"Call-ID: mirror-{n}@{HOST}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()

    async def exchange(self, n: int) -> tuple[bytes, bytes]:
        """Send OPTIONS ``n`` to the unit; the request and the unit's answer, as they were on the wire."""
        request = self.options(n)
        self.peer.sendto(request, (HOST, self.sip_port))
        return request, await receive(self.peer)


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.setblocking(False)
    return s


async def receive(sock: socket.socket, timeout: float = 5.0) -> bytes:
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 70000), timeout)


async def nothing_arrives(sock: socket.socket, wait: float = 0.3) -> bool:
    with pytest.raises(TimeoutError):
        await receive(sock, wait)
    return True


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    unit = Unit(name="mirror", profile=get_profile("4102"), state_dir=tmp_path, host=HOST,
                ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    engine = SipEpEngine(unit, poll_s=0.05)
    unit.attach(engine)
    unit.config.set("SipEp.TransportConfig[default].TlsEnable", "Disable")
    await unit.start()
    peer = udp_socket()
    try:
        yield Lab(unit, engine, peer)
    finally:
        peer.close()
        await unit.stop()


HEAD = re.compile(rb"^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) SipEp: \[(\d+)\] (sent|received) (\S+) "
                  rb"(\S+) (->|<-) (\S+)\n")


def parse_log(datagram: bytes) -> tuple[dict[str, str], bytes]:
    m = HEAD.match(datagram)
    assert m, datagram[:200]
    keys = ("pri", "time", "host", "n", "direction", "transport", "local", "arrow", "remote")
    return dict(zip(keys, (g.decode() for g in m.groups()), strict=True)), datagram[m.end():]


async def test_signaling_log_datagrams_numbering_and_restart(lab: Lab) -> None:
    log = udp_socket()
    c = lab.unit.config
    c.set("SipEp.DebugSignalingLogHost", f"{HOST}:{log.getsockname()[1]}")
    c.set("SipEp.DebugSignalingLogEnable", "Enable")
    unit_addr, peer_addr = f"{HOST}:{lab.sip_port}", f"{HOST}:{lab.peer.getsockname()[1]}"
    for n in (1, 2):
        request, answer = await lab.exchange(n)
        got_request, got_answer = parse_log(await receive(log)), parse_log(await receive(log))
        # the request as it came (no received/rport stamped), then the answer byte for byte
        assert got_request[1] == request and got_answer[1] == answer
        assert answer.startswith(b"SIP/2.0 200 ")
        head_in, head_out = got_request[0], got_answer[0]
        assert (head_in["n"], head_out["n"]) == (str(2 * n - 1), str(2 * n))
        assert (head_in["direction"], head_in["arrow"], head_in["local"], head_in["remote"]) == (
            "received", "<-", unit_addr, peer_addr)
        assert (head_out["direction"], head_out["arrow"], head_out["local"], head_out["remote"]) == (
            "sent", "->", unit_addr, peer_addr)
        assert head_in["transport"] == head_out["transport"] == "UDP"
        assert head_in["pri"] == str(16 * 8 + 7)  # local0.debug
    await lab.unit.restart_service("SipEp")  # numbering starts again from 1
    await lab.exchange(3)
    assert parse_log(await receive(log))[0]["n"] == "1"
    assert parse_log(await receive(log))[0]["n"] == "2"
    log.close()


async def test_signaling_log_enable_and_host_act_at_once(lab: Lab) -> None:
    first, second = udp_socket(), udp_socket()
    c = lab.unit.config
    c.set("SipEp.DebugSignalingLogHost", f"{HOST}:{first.getsockname()[1]}")
    await lab.exchange(1)
    assert await nothing_arrives(first)  # Disable (the factory value): nothing sent
    c.set("SipEp.DebugSignalingLogEnable", "Enable")
    await lab.exchange(2)
    assert parse_log(await receive(first))[1] == lab.options(2)
    await receive(first)
    c.set("SipEp.DebugSignalingLogHost", f"{HOST}:{second.getsockname()[1]}")  # a new host, no restart
    request, _ = await lab.exchange(3)
    assert parse_log(await receive(second))[1] == request
    assert await nothing_arrives(first)
    await receive(second)
    c.set("SipEp.DebugSignalingLogEnable", "Disable")
    await lab.exchange(4)
    assert await nothing_arrives(second)
    first.close()
    second.close()


async def test_unreachable_signaling_log_host_is_reported_once(lab: Lab) -> None:
    c = lab.unit.config
    c.set("SipEp.DebugSignalingLogHost", "[::1]:6000")  # IPv6 while the unit is on IPv4: cannot be reached
    c.set("SipEp.DebugSignalingLogEnable", "Enable")
    for n in range(3):
        await lab.exchange(n)  # 6 messages, all dropped
    notes = [e for e in lab.unit.notifications if (e.service, e.msg_id) == ("SipEp", 9011)]
    assert len(notes) == 1, [e.message for e in notes]
    assert "Signaling log" in notes[0].message and "[::1]:6000" in notes[0].message
    c.set("SipEp.DebugSignalingLogHost", "[::1]:6001")  # another destination: reported again, once
    await lab.exchange(9)
    notes = [e for e in lab.unit.notifications if (e.service, e.msg_id) == ("SipEp", 9011)]
    assert len(notes) == 2 and "[::1]:6001" in notes[1].message
    assert lab.engine.ua.running  # the SIP stack went on answering
    _, answer = await lab.exchange(10)
    assert answer.startswith(b"SIP/2.0 200 ")


def hep_chunks(packet: bytes) -> dict[int, bytes]:
    """HEP v3 by hand (the generic chunks): "HEP3", total length, then vendor, type, length, value."""
    assert packet[:4] == b"HEP3"
    assert struct.unpack("!H", packet[4:6])[0] == len(packet)
    chunks, pos = {}, 6
    while pos < len(packet):
        vendor, kind, length = struct.unpack("!HHH", packet[pos:pos + 6])
        assert vendor == 0 and length >= 6
        chunks[kind] = packet[pos + 6:pos + length]
        pos += length
    assert pos == len(packet)
    return chunks


async def test_hep_mirror_packets(lab: Lab) -> None:
    collector = udp_socket()
    c = lab.unit.config
    c.set("SipEp.HepCollectorHost", f"{HOST}:{collector.getsockname()[1]}")
    c.set("SipEp.HepCaptureId", 2001)
    c.set("SipEp.HepEnable", "Enable")
    peer_port = lab.peer.getsockname()[1]
    request, answer = await lab.exchange(1)
    for payload, src, dst in ((request, peer_port, lab.sip_port), (answer, lab.sip_port, peer_port)):
        ch = hep_chunks(await receive(collector))
        assert ch[0x01] == b"\x02" and ch[0x02] == b"\x11"  # IPv4, UDP
        assert ch[0x03] == ch[0x04] == socket.inet_aton(HOST)
        assert struct.unpack("!H", ch[0x07])[0] == src and struct.unpack("!H", ch[0x08])[0] == dst
        assert abs(struct.unpack("!I", ch[0x09])[0] - lab.unit.clock.now()) < 30
        assert ch[0x0B] == b"\x01" and struct.unpack("!I", ch[0x0C])[0] == 2001
        assert ch[0x0F] == payload and ch[0x11] == f"mirror-1@{HOST}".encode()
    c.set("SipEp.HepEnable", "Disable")  # at once
    await lab.exchange(2)
    assert await nothing_arrives(collector)
    collector.close()
