"""The pure DHCPv4 client core (emulator.protocols.dhcp): messages, options, the RFC 2131 state machine."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.command import _parser
from emulator.engines.bni import DhcpClientEngine
from emulator.lab import LabError, build_unit, specs_from_lab
from emulator.protocols.dhcp import (
    BROADCAST,
    DhcpClient,
    DhcpError,
    DhcpMessage,
    DhcpState,
    Lease,
    LeaseAcquired,
    LeaseLost,
    LeaseRenewed,
    MessageType,
    Opt,
    Transmit,
    acs_url_from_vendor_option,
    client_identifier,
    ip_list,
    parse_suboptions,
)
from emulator.runtime.spec import UnitSpec

MAC = bytes.fromhex("0090f80d5b4a")
SERVER = "10.254.7.1"
ACS = "http://10.254.7.1:7547/acs"


def tlv(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def reply(req: DhcpMessage, kind: MessageType, yiaddr: str = "10.254.7.2", server: str = SERVER,
          **extra: bytes) -> bytes:
    opts = {Opt.MESSAGE_TYPE: bytes((kind,)), Opt.SERVER_ID: bytes(int(x) for x in server.split("."))}
    opts.update({int(k.removeprefix("o")): v for k, v in extra.items()})
    return DhcpMessage(op=2, xid=req.xid, chaddr=req.chaddr, options=opts, yiaddr=yiaddr).encode()


def one(out: list[Transmit]) -> tuple[DhcpMessage, str]:
    assert len(out) == 1
    return DhcpMessage.parse(out[0].payload), out[0].destination


LEASE_OPTS = {
    "o51": (600).to_bytes(4, "big"),
    "o1": bytes((255, 255, 255, 0)),
    "o3": bytes((10, 254, 7, 1)),
    "o42": bytes((10, 254, 7, 1, 10, 254, 7, 3)),
    "o43": tlv(1, ACS.encode()) + tlv(2, b"PC-1"),
}


def bound_client(now: float = 0.0, **extra: bytes) -> tuple[DhcpClient, Lease]:
    c = DhcpClient(MAC, rnd=random.Random(1), vendor_class="Mediatrix 4102 dslforum.org")
    disc, _ = one(c.start(now))
    req, _ = one(c.receive(reply(disc, MessageType.OFFER), now + 0.1))
    assert c.receive(reply(req, MessageType.ACK, **(extra or LEASE_OPTS)), now + 0.2) == []
    ev = c.next_event()
    assert isinstance(ev, LeaseAcquired)
    return c, ev.lease


# ------------------------------------------------------------------------------------------- messages
def test_encode_parse_roundtrip_and_wire_layout() -> None:
    m = DhcpMessage(op=1, xid=0x12345678, chaddr=MAC, options={Opt.MESSAGE_TYPE: b"\x01", Opt.VENDOR_CLASS_ID:
                    b"dslforum.org"}, flags=0x8000, ciaddr="10.0.0.9")
    data = m.encode()
    assert len(data) == 300  # padded to the BOOTP minimum
    assert data[:4] == b"\x01\x01\x06\x00" and data[4:8] == bytes.fromhex("12345678")
    assert data[10:12] == b"\x80\x00" and data[12:16] == bytes((10, 0, 0, 9)) and data[28:34] == MAC
    assert data[236:240] == bytes.fromhex("63825363")
    assert data[240:243] == b"\x35\x01\x01"  # option 53 first, in the order given
    back = DhcpMessage.parse(data)
    assert back == m
    assert back.message_type is MessageType.DISCOVER


@pytest.mark.parametrize(("data", "why"), [
    (b"\x02" * 100, "shorter"),
    (b"\x02\x01\x06\x00" + b"\0" * 232 + b"BOOT", "magic"),
    (b"\x02\x01\x06\x00" + b"\0" * 232 + bytes.fromhex("63825363") + b"\x33\x04\x00", "says 4 bytes"),
    (b"\x02\x06\x06\x00" + b"\0" * 232 + bytes.fromhex("63825363") + b"\xff", "Ethernet"),
])
def test_parse_refuses_malformed(data: bytes, why: str) -> None:
    with pytest.raises(DhcpError, match=why):
        DhcpMessage.parse(data)


def test_long_option_split_and_concatenated_rfc3396() -> None:
    value = bytes(range(256)) * 2  # 512 bytes -> three instances on the wire
    data = DhcpMessage(op=2, xid=1, chaddr=MAC, options={Opt.VENDOR_SPECIFIC: value}).encode()
    assert data.count(b"\x2b\xff") >= 2
    assert DhcpMessage.parse(data).options[Opt.VENDOR_SPECIFIC] == value


def test_option_overload_reads_file_and_sname_fields() -> None:
    base = DhcpMessage(op=2, xid=1, chaddr=MAC, options={Opt.MESSAGE_TYPE: b"\x05", Opt.OVERLOAD: b"\x03"},
                       file=tlv(Opt.NTP_SERVERS, bytes((10, 0, 0, 1))) + b"\xff",
                       sname=tlv(Opt.VENDOR_SPECIFIC, tlv(1, b"http://a/")) + b"\xff")
    m = DhcpMessage.parse(base.encode())
    assert ip_list(m.options[Opt.NTP_SERVERS]) == ["10.0.0.1"]
    assert acs_url_from_vendor_option(m.options[Opt.VENDOR_SPECIFIC]) == "http://a/"
    assert m.file == b"" and m.sname == b""


@given(st.binary(max_size=600))
def test_parse_random_bytes_only_raises_dhcp_error(data: bytes) -> None:
    packet = b"\x02\x01\x06\x00" + b"\0" * 232 + bytes.fromhex("63825363") + data
    try:
        DhcpMessage.parse(packet)
    except DhcpError:
        pass


# ------------------------------------------------------------------------------------------- options
def test_option43_sub_option_1_is_the_acs_url() -> None:
    data = tlv(2, b"code") + b"\x00" + tlv(1, ACS.encode()) + b"\xff"
    assert parse_suboptions(data) == {2: b"code", 1: ACS.encode()}
    assert acs_url_from_vendor_option(data) == ACS


def test_option43_plain_url_string_is_accepted() -> None:
    assert acs_url_from_vendor_option(b"https://acs.example.net/cwmp\0") == "https://acs.example.net/cwmp"


@pytest.mark.parametrize("data", [
    b"",  # nothing
    tlv(2, b"only a provisioning code"),
    tlv(1, b"not a url"),
    b"\x01\x30abc",  # truncated sub-option
    b"ftp://acs/",
    b"http://has space/",
])
def test_option43_without_an_acs_url(data: bytes) -> None:
    assert acs_url_from_vendor_option(data) is None


def test_ip_list_and_client_identifier() -> None:
    assert ip_list(bytes((10, 0, 0, 1, 192, 168, 1, 2))) == ["10.0.0.1", "192.168.1.2"]
    with pytest.raises(DhcpError):
        ip_list(b"\x01\x02\x03")
    assert client_identifier("MacBinary", MAC) == b"\x01" + MAC
    assert client_identifier("MacAscii", MAC) == b"\x000090f80d5b4a"
    assert client_identifier("Disabled", MAC) is None


# ------------------------------------------------------------------------------------------- state machine
def test_discover_offer_request_ack() -> None:
    c = DhcpClient(MAC, rnd=random.Random(1), vendor_class="Mediatrix 4102 dslforum.org",
                   client_id=client_identifier("MacBinary", MAC), user_class=b"dgw")
    disc, dest = one(c.start(100.0))
    assert dest == BROADCAST and c.state is DhcpState.SELECTING
    assert disc.op == 1 and disc.message_type is MessageType.DISCOVER and disc.flags == 0x8000
    assert disc.chaddr == MAC and disc.ciaddr == "0.0.0.0"
    assert Opt.NTP_SERVERS in disc.options[Opt.PARAMETER_REQUEST_LIST]
    assert Opt.VENDOR_SPECIFIC in disc.options[Opt.PARAMETER_REQUEST_LIST]
    assert b"dslforum.org" in disc.options[Opt.VENDOR_CLASS_ID]
    assert disc.options[Opt.CLIENT_ID] == b"\x01" + MAC and disc.options[Opt.USER_CLASS] == b"\x03dgw"

    req, dest = one(c.receive(reply(disc, MessageType.OFFER), 101.0))
    assert dest == BROADCAST and c.state is DhcpState.REQUESTING
    assert req.message_type is MessageType.REQUEST and req.xid == disc.xid and req.secs == 1
    assert req.options[Opt.REQUESTED_IP] == bytes((10, 254, 7, 2))
    assert req.options[Opt.SERVER_ID] == bytes((10, 254, 7, 1))

    assert c.receive(reply(req, MessageType.ACK, **LEASE_OPTS), 101.5) == []
    assert c.state is DhcpState.BOUND
    ev = c.next_event()
    assert isinstance(ev, LeaseAcquired) and c.next_event() is None
    lease = ev.lease
    assert lease.address == "10.254.7.2" and lease.server_id == SERVER and lease.obtained == 101.0
    assert lease.subnet_mask == "255.255.255.0" and lease.routers == ("10.254.7.1",)
    assert lease.ntp_servers == ("10.254.7.1", "10.254.7.3")
    assert lease.acs_url == ACS and lease.provisioning_code == "PC-1"
    assert (lease.lease_time, lease.t1, lease.t2) == (600.0, 300.0, 525.0)  # RFC 2131 §4.4.5 defaults
    assert c.next_deadline() == 101.0 + 300.0


def test_discover_retransmission_backs_off_to_64_seconds() -> None:
    c = DhcpClient(MAC, rnd=random.Random(7))
    disc, _ = one(c.start(0.0))
    now, delays = 0.0, []
    for _ in range(7):
        deadline = c.next_deadline()
        assert deadline is not None
        assert c.handle_timer(deadline - 0.01) == []  # not yet
        delays.append(deadline - now)
        now = deadline
        again, _ = one(c.handle_timer(now))
        assert again.xid == disc.xid and again.message_type is MessageType.DISCOVER
    for got, want in zip(delays, [4, 8, 16, 32, 64, 64, 64], strict=True):
        assert want - 1 <= got <= want + 1


def test_replies_not_for_us_are_ignored() -> None:
    c = DhcpClient(MAC, rnd=random.Random(2))
    disc, _ = one(c.start(0.0))
    other = DhcpMessage(op=1, xid=disc.xid + 1, chaddr=MAC)
    assert c.receive(reply(other, MessageType.OFFER), 0.1) == []  # wrong xid
    stranger = DhcpMessage(op=1, xid=disc.xid, chaddr=bytes(6))
    assert c.receive(reply(stranger, MessageType.OFFER), 0.1) == []  # someone else's
    assert c.receive(b"garbage", 0.1) == []
    assert c.receive(reply(disc, MessageType.ACK), 0.1) == []  # an ACK while selecting
    assert c.state is DhcpState.SELECTING and c.ignored == 4
    req, _ = one(c.receive(reply(disc, MessageType.OFFER), 0.2))
    assert c.receive(reply(req, MessageType.ACK, server="10.254.7.9", **LEASE_OPTS), 0.3) == []  # other server
    assert c.state is DhcpState.REQUESTING


def test_nak_while_requesting_restarts_discovery() -> None:
    c = DhcpClient(MAC, rnd=random.Random(3))
    disc, _ = one(c.start(0.0))
    req, _ = one(c.receive(reply(disc, MessageType.OFFER), 0.1))
    disc2, dest = one(c.receive(reply(req, MessageType.NAK, yiaddr="0.0.0.0"), 0.2))
    assert disc2.message_type is MessageType.DISCOVER and disc2.xid != disc.xid and dest == BROADCAST
    assert c.state is DhcpState.SELECTING and c.next_event() is None  # no lease was lost


def test_unanswered_request_falls_back_to_discover() -> None:
    c = DhcpClient(MAC, rnd=random.Random(4), request_attempts=3)
    disc, _ = one(c.start(0.0))
    one(c.receive(reply(disc, MessageType.OFFER), 0.1))
    kinds = []
    for _ in range(3):
        deadline = c.next_deadline()
        assert deadline is not None
        m, _ = one(c.handle_timer(deadline))
        kinds.append(m.message_type)
    assert kinds == [MessageType.REQUEST, MessageType.REQUEST, MessageType.DISCOVER]
    assert c.state is DhcpState.SELECTING


def test_renewing_rebinding_then_expiry() -> None:
    c, lease = bound_client(0.0)
    t1, t2, end = lease.obtained + 300, lease.obtained + 525, lease.obtained + 600
    assert c.handle_timer(t1 - 1) == []
    ren, dest = one(c.handle_timer(t1))
    assert c.state is DhcpState.RENEWING and dest == SERVER  # unicast to the server (RFC 2131 §4.4.5)
    assert ren.ciaddr == "10.254.7.2" and ren.flags == 0
    assert Opt.REQUESTED_IP not in ren.options and Opt.SERVER_ID not in ren.options
    assert c.next_deadline() == pytest.approx(t1 + 112.5)  # half the time left to T2 (>= 60 s)
    ren2, _ = one(c.handle_timer(t1 + 112.5))
    assert ren2.xid == ren.xid and c.next_deadline() == pytest.approx(t1 + 112.5 + 60)  # at least 60 s
    _, _ = one(c.handle_timer(t1 + 172.5))
    reb, dest = one(c.handle_timer(t2))
    assert c.state is DhcpState.REBINDING and dest == BROADCAST and reb.ciaddr == "10.254.7.2"
    assert c.next_deadline() == pytest.approx(t2 + 60)  # 75 s left: max(37.5, 60) = 60 s, then the last 15 s
    while c.state is DhcpState.REBINDING:
        deadline = c.next_deadline()
        assert deadline is not None
        out = c.handle_timer(deadline)
        assert out
    assert c.state is DhcpState.SELECTING and c.lease is None and deadline == pytest.approx(end)
    ev = c.next_event()
    assert isinstance(ev, LeaseLost) and ev.reason == "expired"


def test_renewal_ack_gives_a_renewed_lease() -> None:
    c, lease = bound_client(0.0)
    ren, _ = one(c.handle_timer(lease.obtained + 300))
    assert c.receive(reply(ren, MessageType.ACK, yiaddr="0.0.0.0", **LEASE_OPTS), 301.0) == []
    ev = c.next_event()
    assert isinstance(ev, LeaseRenewed)
    assert ev.lease.address == "10.254.7.2" and ev.lease.obtained == lease.obtained + 300
    assert c.state is DhcpState.BOUND and c.next_deadline() == pytest.approx(lease.obtained + 600)


def test_nak_while_renewing_loses_the_lease() -> None:
    c, lease = bound_client(0.0)
    ren, _ = one(c.handle_timer(lease.obtained + 300))
    disc, _ = one(c.receive(reply(ren, MessageType.NAK, yiaddr="0.0.0.0", o56=b"wrong network"), 301.0))
    assert disc.message_type is MessageType.DISCOVER and c.lease is None
    ev = c.next_event()
    assert isinstance(ev, LeaseLost) and ev.reason == "nak: wrong network"


def test_lease_times_from_options_and_infinite_lease() -> None:
    _, lease = bound_client(0.0, o51=(1000).to_bytes(4, "big"), o58=(100).to_bytes(4, "big"),
                            o59=(200).to_bytes(4, "big"))
    assert (lease.t1, lease.t2) == (100.0, 200.0)
    c, lease = bound_client(0.0, o51=b"\xff\xff\xff\xff", o43=ACS.encode())
    assert lease.lease_time is None and lease.expires is None and c.next_deadline() is None
    assert lease.acs_url == ACS  # option 43 as a plain string


# ------------------------------------------------------------------------------------------- wiring (no sockets)
def test_dhcp_client_only_on_a_named_interface(tmp_path: Path) -> None:
    assert _parser().parse_args(["run"]).dhcp_interface is None  # never by default
    assert _parser().parse_args(["run", "--dhcp-interface", "eth1"]).dhcp_interface == "eth1"
    plain = build_unit(UnitSpec(state_dir=tmp_path / "a", port_mode="auto", fsync=False))
    assert plain.unit.services["Bni"].engine is None
    named = build_unit(UnitSpec(state_dir=tmp_path / "b", port_mode="auto", fsync=False, dhcp_interface="eth1"))
    engine = named.unit.services["Bni"].engine
    assert isinstance(engine, DhcpClientEngine) and engine.interface == "eth1"
    # The lease feeds Cwmp (option 43) and Hoc (option 42).
    lease = Lease(address="127.0.0.1", server_id=SERVER, obtained=0.0, lease_time=None, t1=None, t2=None,
                  ntp_servers=("10.254.7.3",), acs_url=ACS)
    for fn in engine.on_lease:
        fn(lease)
    assert named.unit.config.get("Cwmp.AcsUrl") == ACS
    assert named.unit.config.get("Hoc.SntpServerHostInfo") == "10.254.7.3"

    specs = specs_from_lab({"unit": [{"name": "a", "dhcp_interface": "veth0"}, {"name": "b"}]}, tmp_path)
    assert [s.dhcp_interface for s in specs] == ["veth0", None]
    with pytest.raises(LabError, match="already used"):
        specs_from_lab({"unit": [{"name": "a", "dhcp_interface": "veth0"}, {"name": "b", "dhcp_interface": "veth0"}]},
                       tmp_path)
