"""The unit's DHCP client against a real DHCP server (dnsmasq) in network namespaces the test creates.

Two namespaces ``dgwt-srv-<rand>`` and ``dgwt-cpe-<rand>`` joined by a veth pair with private addresses
10.254.<n>.1/24 (server) and 10.254.<n>.2/24 (unit): no other link, no route anywhere else, so every packet stays
inside them. The server namespace runs dnsmasq and the scripted ACS (its listening socket is opened inside the
namespace by a short-lived thread that joins it with setns(2)); a packet socket on the server's end of the veth
records every DHCP message the unit sends. ``python -m emulator run`` runs in the unit's namespace
(``ip netns exec``). Processes are stopped by PID and both namespaces deleted at the end, even on failure.

Shown: with ``--dhcp-interface`` the unit gets a lease, takes the ACS URL from option 43 (TR-069 sub-option 1, as
dnsmasq's ``vendor:dslforum.org`` encapsulation sends it, or a plain URL string from a lab file) and informs the
ACS with ``0 BOOTSTRAP``; "Automatic" SNTP asks the option 42 server. Without it, no DHCP packet ever leaves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.protocols.dhcp import MessageType, Opt
from tests.interop.acs import AcsSession, TestAcs, gpv, values
from tests.interop.netns import (
    DhcpSniffer,
    NetnsPair,
    lab_file,
    log_events,
    start_acs,
    start_dnsmasq,
    start_unit,
    wait_ready,
)


@pytest.fixture
async def acs(netns: NetnsPair) -> AsyncIterator[TestAcs]:
    server, runner = await start_acs(netns)
    try:
        yield server
    finally:
        await runner.cleanup()
    assert not server.invalid, server.invalid[0]
    assert not server.protocol_errors


def gpv_values(session: AcsSession) -> dict[str, str]:
    out: dict[str, str] = {}
    for el in session.responses:
        out.update(values(el))
    return out


# ---------------------------------------------------------------------------------------------- tests
async def test_dhcp_option43_suboption1_gives_the_acs_url_and_bootstrap(netns: NetnsPair, acs: TestAcs,
                                                                        tmp_path: Path) -> None:
    sniffer = DhcpSniffer(netns)
    try:
        # What an operator writes for TR-069 CPEs: option 43 sub-option 1, sent to vendor class "dslforum.org".
        start_dnsmasq(netns, tmp_path, f"--dhcp-option=vendor:dslforum.org,1,{acs.url}",
                      f"--dhcp-option=42,{netns.srv_ip}")
        acs.queue(gpv("Device.X_0090F8_Cwmp.AcsUrl", "Device.X_0090F8_Hoc.SntpServerHostInfo"))
        unit, log = start_unit(netns, tmp_path, "--dhcp-interface", netns.cpe_if, "--host", netns.cpe_ip)
        await wait_ready(unit, tmp_path)
        session = await acs.wait_session(timeout=30)
        assert ("0 BOOTSTRAP", "") in session.events and ("1 BOOT", "") in session.events
        got = gpv_values(session)  # the unit's own view: Cwmp.AcsUrl (in use) and the SNTP server in effect
        assert got["Device.X_0090F8_Cwmp.AcsUrl"] == acs.url
        assert got["Device.X_0090F8_Hoc.SntpServerHostInfo"] == netns.srv_ip
        bound = log_events(log, "dhcp_bound")
        assert bound and bound[0]["address"] == netns.cpe_ip and bound[0]["server"] == netns.srv_ip
        assert bound[0]["acs_url"] == acs.url and bound[0]["ntp_servers"] == [netns.srv_ip]
        # "Automatic" SNTP (the factory source) asks the option 42 server (nothing answers NTP there).
        deadline = time.monotonic() + 15
        while not any(e.get("server") == netns.srv_ip for e in log_events(log, "sntp_server_failed")):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        # What went on the wire: DISCOVER then REQUEST from the interface's MAC, TR-069 vendor class, 42 and 43 asked.
        msgs = sniffer.drain()
        kinds = [m.message_type for m in msgs]
        assert kinds[:2] == [MessageType.DISCOVER, MessageType.REQUEST], kinds
        first = msgs[0]
        assert first.chaddr.hex(":") == netns.cpe_mac
        assert b"dslforum.org" in first.options[Opt.VENDOR_CLASS_ID]
        assert {Opt.VENDOR_SPECIFIC, Opt.NTP_SERVERS} <= set(first.options[Opt.PARAMETER_REQUEST_LIST])
        assert "DHCPACK" in (tmp_path / "dnsmasq.log").read_text()
    finally:
        sniffer.close()


async def test_dhcp_option43_plain_url_from_a_lab_unit(netns: NetnsPair, acs: TestAcs, tmp_path: Path) -> None:
    start_dnsmasq(netns, tmp_path, f"--dhcp-option=43,{acs.url}")  # the whole option is the URL (no sub-option)
    lab = lab_file(netns, tmp_path, "Cwmp.AcsUrlConfigSource = DhcpWithFailover\n"
                                    "Cwmp.AcsStaticUrl = http://192.0.2.1/never-used")
    unit, log = start_unit(netns, tmp_path, "--lab", str(lab))
    await wait_ready(unit, tmp_path)
    session = await acs.wait_session(timeout=30)
    assert ("0 BOOTSTRAP", "") in session.events
    assert log_events(log, "dhcp_bound")[0]["acs_url"] == acs.url


async def test_client_identifier_and_user_class_from_the_parameters(netns: NetnsPair, acs: TestAcs,
                                                                     tmp_path: Path) -> None:
    """Bni.DhcpClientIdentifierPresentation (option 61) and Bni.DhcpClientUserClass (option 77) on the wire."""
    sniffer = DhcpSniffer(netns)
    try:
        start_dnsmasq(netns, tmp_path, f"--dhcp-option=43,{acs.url}")
        lab = lab_file(netns, tmp_path, "Bni.DhcpClientIdentifierPresentation = MacBinary\n"
                                        "Bni.DhcpClientUserClass = dgw-lab")
        unit, _log = start_unit(netns, tmp_path, "--lab", str(lab))
        await wait_ready(unit, tmp_path)
        await acs.wait_session(timeout=30)
        first = sniffer.drain()[0]
        assert first.message_type == MessageType.DISCOVER
        assert first.options[Opt.CLIENT_ID] == b"\x01" + first.chaddr[:6]  # type 1 + the MAC (MacAscii: type 0, text)
        assert first.options[Opt.USER_CLASS] == b"\x07dgw-lab"  # RFC 3004: length, then the class
    finally:
        sniffer.close()


async def test_no_dhcp_packet_without_a_named_interface(netns: NetnsPair, acs: TestAcs, tmp_path: Path) -> None:
    sniffer = DhcpSniffer(netns)
    try:
        start_dnsmasq(netns, tmp_path, f"--dhcp-option=vendor:dslforum.org,1,{acs.url}")
        unit, log = start_unit(netns, tmp_path, "--host", netns.cpe_ip)  # AcsUrlConfigSource = Dhcp (factory)
        await wait_ready(unit, tmp_path)
        await asyncio.sleep(5)  # a DHCP client would have sent its DISCOVER at once
        assert unit.poll() is None
        sniffer.drain()
        assert sniffer.udp67 == 0 and sniffer.seen == []
        assert "DHCPDISCOVER" not in (tmp_path / "dnsmasq.log").read_text()
        assert acs.sessions == [] and not log_events(log, "dhcp_client_started")
    finally:
        sniffer.close()
