"""The SipEp signaling log and the HEP mirror during a whole call between two units through Kamailio (UDP), checked
against what was really on the wire: Wireshark's dumpcap records the loopback meanwhile, and every message of the
call each unit sent or received must be in its signaling log (received by a real rsyslogd) or its HEP mirror
(decoded by Kamailio's sipcapture module), byte for byte, with its addresses, in the order it went (each direction
exactly; between a message sent and one received, the unit's order may differ from the wire's by the time a loaded
process takes to read a datagram that has arrived). Over TLS, the HEP packets and the log lines hold the messages
Wireshark decrypts from the wire with the unit's key log."""

from __future__ import annotations

import asyncio
import hashlib
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio, start_hep_collector
from testkit.peers import free_port, require_peer, udp_bound
from testkit.process import spawn, stop_process
from testkit.rsyslog import Received, Rsyslog
from tests.interop.siplab import Pkis, kamailio, make_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"


@dataclass(frozen=True)
class Datagram:
    src: str  # ip:port
    dst: str
    data: bytes
    time: float

    @property
    def call_id(self) -> str:
        m = re.search(rb"^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", self.data, re.MULTILINE | re.IGNORECASE)
        return m.group(1).decode() if m else ""

    @property
    def first_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode()


LAG = 1.0  # s: how late a loaded process may handle a datagram that has reached it (0.1-0.4 s seen at load 9)


Key = tuple[Any, ...]


def assert_wire_order(mirrored: Sequence[Key], wire: Sequence[tuple[Key, float]], sent: Callable[[Key], bool]) -> None:
    """``mirrored`` (the unit's order) holds exactly the messages of ``wire`` (key, time on the wire): those the unit
    sent in the very order they left, those it received in the order they came. Across the two directions the
    unit's order may differ from the wire's only where a message reached it while it was busy (within LAG)."""
    assert [m for m in mirrored if sent(m)] == [k for k, _ in wire if sent(k)]
    assert [m for m in mirrored if not sent(m)] == [k for k, _ in wire if not sent(k)]
    outgoing = iter([t for k, t in wire if sent(k)])
    incoming = iter([t for k, t in wire if not sent(k)])
    times = [next(outgoing) if sent(m) else next(incoming) for m in mirrored]
    for i, earlier in enumerate(times):
        assert all(later > earlier - LAG for later in times[i + 1:]), (i, times)


def sent_from(address: str) -> Callable[[Key], bool]:
    """Whether a message (its key starts with its source) left ``address``."""
    return lambda key: bool(key[0] == address)


@contextmanager
def dumpcap(directory: Path, capture_filter: str) -> Iterator[Path]:
    """Wireshark's dumpcap on the loopback for the duration of the block; the pcapng file it wrote."""
    tool = require_peer("dumpcap")["dumpcap"]
    directory.mkdir(parents=True, exist_ok=True)
    out, log = directory / "wire.pcapng", directory / "dumpcap.log"
    proc = spawn([tool, "-i", "lo", "-f", capture_filter, "-w", str(out)], log)
    try:
        deadline = time.monotonic() + 10
        while "Capturing on" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        yield out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # dumpcap ends its file on SIGINT
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                stop_process(proc)


@contextmanager
def sngrep_collector(directory: Path) -> Iterator[tuple[str, Path]]:
    """Irontec's sngrep listening for HEP (EEP) on a free UDP port, writing what it decoded as a pcap (addresses,
    ports and time from the HEP chunks, the payload as the datagram): ("host:port", the pcap file)."""
    tool = require_peer("sngrep")["sngrep"]
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    out = directory / "hep.pcap"
    proc = spawn([tool, "-N", "-q", "-F", "-L", f"udp:127.0.0.1:{port}", "-O", str(out)], directory / "sngrep.log")
    try:
        deadline = time.monotonic() + 10
        while not udp_bound("127.0.0.1", port):
            assert proc.poll() is None and time.monotonic() < deadline, (directory / "sngrep.log").read_text()
            time.sleep(0.05)
        yield f"127.0.0.1:{port}", out
    finally:
        stop_process(proc)  # sngrep writes its pcap out as it ends


def wire_datagrams(pcap: Path) -> list[Datagram]:
    tshark = require_peer("tshark")["tshark"]
    out = subprocess.run([tshark, "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-e", "ip.src",
                          "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "frame.time_epoch",
                          "-e", "udp.payload"], capture_output=True, text=True, timeout=60, check=True).stdout
    got = []
    for line in out.splitlines():
        src, sport, dst, dport, when, payload = line.split("|")
        got.append(Datagram(f"{src}:{sport}", f"{dst}:{dport}", bytes.fromhex(payload.replace(":", "")),
                            float(when)))
    return got


@dataclass
class RecordedCall:
    kamailio: Kamailio
    units: tuple[Unit, Unit]
    wire: list[Datagram]  # every datagram of the call (by its Call-ID) to or from either unit's SIP port
    call_id: str

    def of(self, unit: Unit) -> list[Datagram]:
        sip = unit.listening["sip"]
        return [d for d in self.wire if sip in (d.src, d.dst)]


async def record_call(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                      settings: Sequence[Mapping[str, str | int]]) -> RecordedCall:
    """alice calls bob through Kamailio over UDP, bob answers, alice hangs up. The mirrors' ``settings`` of each
    unit are set once both are registered and dumpcap is recording; the call's datagrams as dumpcap saw them."""
    k = kamailio(kamailios, tmp_path, pkis)
    a = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.udp_address, tls=False)
    b = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.udp_address, tls=False)
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    ports = " or ".join(f"(host {u.listening['sip'].split(':')[0]} and port {u.listening['sip'].split(':')[1]})"
                        for u in (a, b))
    with dumpcap(tmp_path / "dumpcap", f"udp and ({ports})") as pcap:
        for u, values in zip((a, b), settings, strict=True):
            for name, value in values.items():
                u.config.set(name, value)  # act at once: no restart
        call = await sipep(a).calls.dial(EP, "bob")
        await wait_for(lambda: (c := sipep(b).calls.current(EP)) is not None and c.state == "ringing",
                       what="bob rings")
        incoming = sipep(b).calls.current(EP)
        assert incoming is not None
        await sipep(b).calls.answer(EP)
        await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected, ACKed")
        await sipep(a).calls.hangup(EP)
        await wait_for(lambda: call.state == "ended" and incoming.state == "ended", what="both ended")
        await asyncio.sleep(0.5)  # the last datagrams reach the loopback and the peers
    wire = wire_datagrams(pcap)
    invite = next(d for d in wire if d.first_line.startswith("INVITE ") and d.src == a.listening["sip"])
    rec = RecordedCall(k, (a, b), [d for d in wire if d.call_id == invite.call_id], invite.call_id)
    for u in (a, b):  # the whole call on each unit's wire: INVITE, 180, 200, ACK, BYE, 200 (100 Trying on a's)
        firsts = [d.first_line.split(" ")[0 if not d.first_line.startswith("SIP/") else 1] for d in rec.of(u)]
        assert {"INVITE", "180", "200", "ACK", "BYE"} <= set(firsts) and firsts.count("200") >= 2, firsts
    return rec


# ------------------------------------------------------------------------------------------------ signaling log
LOG_HEAD = re.compile(r"^ \[(\d+)\] (sent|received) (UDP|TCP|TLS) (\S+) (->|<-) (\S+)\n")
ESCAPED = re.compile(r"#([0-3][0-7][0-7])")


def unescape(text: str) -> bytes:
    """rsyslog writes control characters as #ooo (octal) and drops one trailing LF on reception: undone here."""
    data = ESCAPED.sub(lambda m: chr(int(m.group(1), 8)) if int(m.group(1), 8) < 32 else m.group(0), text)
    if data.endswith("\r"):
        data += "\n"
    return data.encode()


async def test_signaling_log_of_a_whole_call_reaches_rsyslog_in_order(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, rsyslog: Rsyslog) -> None:
    rsyslog_start = {which: len(rsyslog.lines(which)) for which in ("a", "b")}
    settings = [{"SipEp.DebugSignalingLogHost": rsyslog.address(which), "SipEp.DebugSignalingLogEnable": "Enable"}
                for which in ("a", "b")]
    rec = await record_call(units, kamailios, tmp_path, pkis, settings)
    for unit, which in zip(rec.units, ("a", "b"), strict=True):
        wire = rec.of(unit)
        await wait_for(lambda: len(logged_call(rsyslog, which, rec.call_id)) >= len(wire),  # noqa: B023
                       timeout=5, what=f"the call in rsyslog input {which}")
        lines = rsyslog.lines(which)[rsyslog_start[which]:]
        logged = [logged_message(n, line, "UDP", unit.listening["sip"]) for n, line in enumerate(lines, start=1)]
        call = [d for d in logged if d.call_id == rec.call_id]
        # every message of the call the unit sent or received, byte for byte, in the order it went on the wire
        sip = unit.listening["sip"]
        assert_wire_order([(d.src, d.dst, d.data) for d in call], [((d.src, d.dst, d.data), d.time) for d in wire],
                          sent_from(sip))


def logged_call(rsyslog: Rsyslog, which: str, call_id: str) -> list[str]:
    return [line.msg for line in rsyslog.lines(which) if f"Call-ID: {call_id}#015" in line.msg]


def logged_message(n: int, line: Received, transport: str, local_address: str | None = None) -> Datagram:
    """One line rsyslog wrote: checked (local0.debug, tag, numbered from 1 without a gap, the transport, the unit's
    address), and the message it carries with its addresses."""
    assert line.tag == "SipEp:" and line.pri == 16 * 8 + 7, line
    text = unescape(line.msg)
    m = LOG_HEAD.match(text.decode())
    assert m, line.msg[:200]
    assert int(m.group(1)) == n, (n, line.msg[:80])
    direction, kind, local, arrow, remote = m.group(2, 3, 4, 5, 6)
    assert kind == transport and arrow == ("->" if direction == "sent" else "<-"), line.msg[:200]
    assert local_address is None or local == local_address, line.msg[:200]
    src, dst = (local, remote) if direction == "sent" else (remote, local)
    return Datagram(src, dst, text[m.end():], 0.0)


# ------------------------------------------------------------------------------------------------ HEP mirror
async def test_hep_mirror_of_a_whole_call_parses_in_kamailio_sipcapture(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    with start_hep_collector(tmp_path / "hep") as collector:
        settings = [{"SipEp.HepCollectorHost": f"{collector.host}:{collector.port}", "SipEp.HepCaptureId": cid,
                     "SipEp.HepEnable": "Enable"} for cid in (2001, 2002)]
        rec = await record_call(units, kamailios, tmp_path, pkis, settings)
        total = len(rec.of(rec.units[0])) + len(rec.of(rec.units[1]))
        await wait_for(lambda: len([p for p in collector.packets() if p["corr"] == rec.call_id]) >= total,
                       timeout=5, what="the call's HEP packets")
        packets = [p for p in collector.packets() if p["corr"] == rec.call_id]
    for unit, cid in zip(rec.units, ("2001", "2002"), strict=True):
        mine = [p for p in packets if p["agent"] == cid]
        wire = rec.of(unit)
        assert len(mine) == len(wire), (cid, len(mine), len(wire))
        sip = unit.listening["sip"]
        # in the order the unit sent or received them: addresses, ports, payload length and MD5, first line
        assert_wire_order([(p["src"], p["dst"], int(p["len"]), p["md5"], p["first"]) for p in mine],
                          [((d.src, d.dst, len(d.data), hashlib.md5(d.data).hexdigest(), d.first_line), d.time)
                           for d in wire], sent_from(sip))
        for p in mine:
            assert (p["v"], p["fam"], p["proto"], p["type"]) == ("3", "2", "17", "1"), p
            assert p["corr"] == rec.call_id
            seconds = float(p["ts"].split(".")[0])
            assert abs(seconds - unit.clock.now()) < 60  # the unit's clock (synchronized here)


async def test_hep_mirror_of_a_whole_call_decoded_by_sngrep(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    """A second independent HEP decoder: what sngrep rebuilt from each HEP packet (addresses, ports, the unit's
    time, the payload) is the datagram that went on the wire, byte for byte."""
    with sngrep_collector(tmp_path / "sngrep") as (collector, decoded):
        settings = [{"SipEp.HepCollectorHost": collector, "SipEp.HepEnable": "Enable"}] * 2
        rec = await record_call(units, kamailios, tmp_path, pkis, settings)
        await asyncio.sleep(0.5)
    # sngrep's pcap holds every SIP packet it decoded; the call's, each unit's as the unit sent or received them
    hep = [d for d in wire_datagrams(decoded) if d.call_id == rec.call_id]
    for unit in rec.units:
        sip = unit.listening["sip"]
        wire = rec.of(unit)
        mirrored = [d for d in hep if sip in (d.src, d.dst)]  # Kamailio is in the middle: these are the unit's
        assert len(mirrored) == len(wire), (sip, len(mirrored), len(wire))
        assert_wire_order([(d.src, d.dst, d.data) for d in mirrored], [((d.src, d.dst, d.data), d.time) for d in wire],
                          sent_from(sip))
        assert all(abs(m.time - w.time) < LAG for m, w in zip(sorted(mirrored, key=lambda d: d.time),
                                                           sorted(wire, key=lambda d: d.time), strict=True))


async def test_mirrors_over_tls_carry_the_messages_in_clear(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, rsyslog: Rsyslog) -> None:
    """Over TLS, each HEP packet says TCP (6) with the connection's addresses, each signaling log line says TLS, and
    both carry the messages in clear: the same messages, in the same order, as Wireshark decrypts from the wire with
    the unit's TLS key log."""
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    start = len(rsyslog.lines("a"))
    with start_hep_collector(tmp_path / "hep") as collector, \
            dumpcap(tmp_path / "dumpcap", f"tcp and port {k.tls_port}") as pcap:
        hep = {"SipEp.HepCollectorHost": f"{collector.host}:{collector.port}", "SipEp.HepEnable": "Enable"}
        a = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address,
                            settings={**hep, "SipEp.HepCaptureId": 3001, "Cert.TlsKeyLogEnable": "Enable",
                                      "SipEp.DebugSignalingLogHost": rsyslog.address("a"),
                                      "SipEp.DebugSignalingLogEnable": "Enable"})
        b = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address)
        await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="registered")
        call = await sipep(a).calls.dial(EP, "bob")
        await wait_for(lambda: (c := sipep(b).calls.current(EP)) is not None and c.state == "ringing", what="rings")
        await sipep(b).calls.answer(EP)
        await wait_for(lambda: call.state == "connected", what="connected")
        await sipep(a).calls.hangup(EP)
        await wait_for(lambda: call.state == "ended", what="ended")
        await asyncio.sleep(0.5)
        packets = [p for p in collector.packets() if p["agent"] == "3001"]
    assert a.cert is not None
    keylog = a.cert.keylog_path()
    assert keylog is not None
    tshark = require_peer("tshark")["tshark"]
    out = subprocess.run([tshark, "-r", str(pcap), "-o", f"tls.keylog_file:{keylog}", "-d",
                          f"tcp.port=={k.tls_port},tls", "-d", f"tls.port=={k.tls_port},sip", "-Y", "sip",
                          "-T", "fields", "-E", "separator=|", "-E", "aggregator=\x1f", "-e", "ip.src",
                          "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport", "-e", "sip.Request-Line",
                          "-e", "sip.Status-Line", "-e", "sip.Call-ID", "-e", "frame.time_epoch"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    wire = []  # (src, dst, first line, Call-ID) of every SIP message Wireshark decrypted, a's connection only
    for line in out.splitlines():
        src, sport, dst, dport, requests, statuses, call_ids, when = line.split("|")
        firsts = [x for x in (requests + "\x1f" + statuses).split("\x1f") if x]
        for first, call_id in zip(firsts, call_ids.split("\x1f"), strict=True):
            wire.append(((f"{src}:{sport}", f"{dst}:{dport}", first, call_id), float(when)))
    wire = [w for w in wire if a.host in (w[0][0].split(":")[0], w[0][1].split(":")[0])]
    assert len(wire) >= 8, wire  # REGISTERs and their answers, INVITE, 100, 180, 200, ACK, BYE, 200

    def sent(key: Key) -> bool:
        return str(key[0]).split(":")[0] == a.host

    assert all(p["v"] == "3" and p["proto"] == "6" and p["type"] == "1" for p in packets), packets
    assert_wire_order([(p["src"], p["dst"], p["first"], p["corr"]) for p in packets], wire, sent)
    assert any(p["first"].startswith("INVITE sip:bob@") for p in packets)
    await wait_for(lambda: len(rsyslog.lines("a")) - start >= len(wire), timeout=5, what="the signaling log")
    logged = [logged_message(n, line, "TLS") for n, line in enumerate(rsyslog.lines("a")[start:], start=1)]
    assert_wire_order([(d.src, d.dst, d.first_line, d.call_id) for d in logged], wire, sent)
