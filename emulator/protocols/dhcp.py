"""DHCPv4 client core (RFC 2131; options RFC 2132): pure — bytes and the current time in, bytes and events out.

What a Mediatrix unit needs from DHCP on its WAN interface: an address lease, the TR-069 ACS URL (vendor-specific
option 43) and the SNTP servers of ``Hoc.SntpConfigSource`` = ``Automatic`` (option 42). Only the glue
(``emulator.engines.bni``) touches a socket; this module builds and parses messages and runs the client
state machine of RFC 2131 §4.4 (figure 5) with the time passed in:

    INIT -> SELECTING (DHCPDISCOVER, broadcast) -> REQUESTING (DHCPREQUEST, broadcast) -> BOUND
    BOUND -- T1 --> RENEWING (DHCPREQUEST unicast to the server) -- T2 --> REBINDING (broadcast) -- expiry --> INIT
    DHCPNAK in REQUESTING / RENEWING / REBINDING -> INIT (the discovery starts again)

Retransmission (RFC 2131 §4.1): 4 s before the first retransmission, doubled each time up to 64 s, each delay
randomised by ±1 s (the scale follows ``initial_timeout`` so tests can run fast). In RENEWING and REBINDING the
client waits half the remaining time to T2 (resp. lease expiry), at least ``min_renew_wait`` (60 s, §4.4.5).

Option 43 (emulator decision): Media5 does not publish its sub-option numbers, so the emulator follows
TR-069 §3.1 / Table 2 (and the RFC 2132 §8.4 encapsulation): sub-option 1 = ACS URL, 2 = ProvisioningCode,
3 = CWMPRetryMinimumWaitInterval, 4 = CWMPRetryIntervalMultiplier. A whole option 43 that is itself an
``http://`` / ``https://`` URL (what many DHCP servers are configured with) is accepted too. The client sends
option 60 containing ``dslforum.org`` as TR-069 §3.1 requires of a CPE that discovers its ACS through DHCP, and
asks for options 43 and 42 in its parameter request list (servers such as dnsmasq only send what is asked).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "BROADCAST",
    "CLIENT_PORT",
    "DEFAULT_PARAMETERS",
    "SERVER_PORT",
    "DhcpClient",
    "DhcpError",
    "DhcpEvent",
    "DhcpMessage",
    "DhcpState",
    "Lease",
    "LeaseAcquired",
    "LeaseLost",
    "LeaseRenewed",
    "MessageType",
    "Opt",
    "Transmit",
    "acs_url_from_vendor_option",
    "client_identifier",
    "ip_list",
    "parse_suboptions",
]

SERVER_PORT = 67
CLIENT_PORT = 68
BROADCAST = "255.255.255.255"
BOOTREQUEST, BOOTREPLY = 1, 2
MAGIC_COOKIE = b"\x63\x82\x53\x63"
FLAG_BROADCAST = 0x8000
INFINITE = 0xFFFFFFFF
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")  # RFC 2131 §2, figure 1 (236 bytes)
MIN_MESSAGE = 300  # BOOTP minimum (RFC 1542 §2.1); some relays drop shorter ones


class MessageType(int, Enum):
    """Option 53 values (RFC 2132 §9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Opt:
    """Option codes used here (RFC 2132; 77 RFC 3004)."""

    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS = 6
    DOMAIN_NAME = 15
    NTP_SERVERS = 42
    VENDOR_SPECIFIC = 43
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55
    MESSAGE = 56
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS_ID = 60
    CLIENT_ID = 61
    TFTP_SERVER = 66
    BOOTFILE = 67
    USER_CLASS = 77
    END = 255


DEFAULT_PARAMETERS = (
    Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.DOMAIN_NAME, Opt.NTP_SERVERS, Opt.VENDOR_SPECIFIC,
    Opt.RENEWAL_TIME, Opt.REBINDING_TIME, Opt.TFTP_SERVER, Opt.BOOTFILE,
)


class DhcpError(ValueError):
    """A malformed DHCP message or option."""


# ---------------------------------------------------------------------------------------------- messages
def _ip(b: bytes) -> str:
    return str(ipaddress.IPv4Address(b))


def _ip_bytes(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def _parse_options(data: bytes, into: dict[int, bytes]) -> None:
    """RFC 2132 §2 TLV options; a code seen again is concatenated (RFC 3396 long options)."""
    i = 0
    while i < len(data):
        code = data[i]
        if code == Opt.PAD:
            i += 1
            continue
        if code == Opt.END:
            return
        if i + 1 >= len(data):
            raise DhcpError(f"option {code} truncated")
        length = data[i + 1]
        value = data[i + 2:i + 2 + length]
        if len(value) != length:
            raise DhcpError(f"option {code} says {length} bytes, {len(value)} left")
        into[code] = into.get(code, b"") + value
        i += 2 + length


@dataclass(slots=True)
class DhcpMessage:
    """One BOOTP/DHCP message (RFC 2131 §2). ``options`` maps code -> value bytes, in sending order."""

    op: int
    xid: int
    chaddr: bytes
    options: dict[int, bytes] = field(default_factory=dict)
    secs: int = 0
    flags: int = 0
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    giaddr: str = "0.0.0.0"
    sname: bytes = b""
    file: bytes = b""

    @property
    def message_type(self) -> MessageType | None:
        raw = self.options.get(Opt.MESSAGE_TYPE)
        if raw is None or len(raw) != 1:
            return None
        try:
            return MessageType(raw[0])
        except ValueError:
            return None

    def option_ip(self, code: int) -> str | None:
        raw = self.options.get(code)
        return _ip(raw) if raw is not None and len(raw) == 4 else None

    def option_u32(self, code: int) -> int | None:
        raw = self.options.get(code)
        return int.from_bytes(raw, "big") if raw is not None and len(raw) == 4 else None

    def encode(self) -> bytes:
        header = _HEADER.pack(
            self.op, 1, len(self.chaddr), 0, self.xid, self.secs, self.flags, _ip_bytes(self.ciaddr),
            _ip_bytes(self.yiaddr), _ip_bytes(self.siaddr), _ip_bytes(self.giaddr), self.chaddr.ljust(16, b"\0"),
            self.sname.ljust(64, b"\0"), self.file.ljust(128, b"\0"),
        )
        out = bytearray(header + MAGIC_COOKIE)
        for code, value in self.options.items():
            chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [b""]  # RFC 3396 split
            for chunk in chunks:
                out += bytes((code, len(chunk))) + chunk
        out.append(Opt.END)
        if len(out) < MIN_MESSAGE:
            out += b"\0" * (MIN_MESSAGE - len(out))
        return bytes(out)

    @classmethod
    def parse(cls, data: bytes) -> DhcpMessage:
        if len(data) < _HEADER.size + 4:
            raise DhcpError(f"{len(data)} bytes: shorter than a DHCP message")
        (op, htype, hlen, _hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, file) = _HEADER.unpack_from(data)
        if data[_HEADER.size:_HEADER.size + 4] != MAGIC_COOKIE:
            raise DhcpError("no DHCP magic cookie (a BOOTP message)")
        if htype != 1 or hlen != 6:
            raise DhcpError(f"hardware type {htype}/{hlen} is not Ethernet")
        options: dict[int, bytes] = {}
        _parse_options(data[_HEADER.size + 4:], options)
        overload = options.get(Opt.OVERLOAD, b"\0")[0]  # RFC 2132 §9.3: file then sname carry options
        if overload in (1, 3):
            _parse_options(file, options)
            file = b""
        if overload in (2, 3):
            _parse_options(sname, options)
            sname = b""
        return cls(op=op, xid=xid, chaddr=chaddr[:hlen], options=options, secs=secs, flags=flags, ciaddr=_ip(ci),
                   yiaddr=_ip(yi), siaddr=_ip(si), giaddr=_ip(gi), sname=sname.rstrip(b"\0"),
                   file=file.rstrip(b"\0"))


# ---------------------------------------------------------------------------------------------- options
def ip_list(data: bytes) -> list[str]:
    """An option holding IPv4 addresses (3, 6, 42...)."""
    if len(data) % 4:
        raise DhcpError(f"address list of {len(data)} bytes")
    return [_ip(data[i:i + 4]) for i in range(0, len(data), 4)]


def parse_suboptions(data: bytes) -> dict[int, bytes]:
    """Encapsulated vendor-specific sub-options (RFC 2132 §8.4: code, length, value; PAD and END allowed)."""
    out: dict[int, bytes] = {}
    _parse_options(data, out)
    return out


def _text(b: bytes) -> str:
    return b.rstrip(b"\0").decode("utf-8", "replace").strip()


def _is_url(b: bytes) -> bool:
    low = b.rstrip(b"\0").lower()
    return (low.startswith((b"http://", b"https://")) and all(0x21 <= c < 0x7F for c in low))


def acs_url_from_vendor_option(data: bytes) -> str | None:
    """The ACS URL in option 43: sub-option 1 (TR-069 §3.1 Table 2), or the whole option when it is a URL."""
    if _is_url(data):
        return _text(data)
    try:
        sub = parse_suboptions(data)
    except DhcpError:
        return None
    url = sub.get(1)
    return _text(url) if url and _is_url(url) else None


def client_identifier(presentation: str, mac: bytes) -> bytes | None:
    """Option 61 per ``Bni.DhcpClientIdentifierPresentation``: ``MacBinary`` = type 1 + the MAC (RFC 2132 §9.14),
    ``MacAscii`` = type 0 + the MAC as lower-case hex text (emulator reading of the DGW choice), ``Disabled`` = none."""
    if presentation == "MacBinary":
        return b"\x01" + mac
    if presentation == "MacAscii":
        return b"\x00" + mac.hex().encode()
    return None


# ---------------------------------------------------------------------------------------------- the lease
@dataclass(slots=True, frozen=True)
class Lease:
    """What a DHCPACK gave. Times are on the caller's clock; ``None`` durations mean an infinite lease."""

    address: str
    server_id: str
    obtained: float  # when the DHCPREQUEST that got it was first sent (RFC 2131 §4.4.1)
    lease_time: float | None
    t1: float | None
    t2: float | None
    subnet_mask: str | None = None
    routers: tuple[str, ...] = ()
    dns_servers: tuple[str, ...] = ()
    ntp_servers: tuple[str, ...] = ()
    vendor_specific: bytes = b""
    acs_url: str | None = None
    provisioning_code: str | None = None
    tftp_server: str | None = None
    bootfile: str | None = None
    # Option 43 sub-options 66 and 67: the Conf scripts' server and file inside the vendor option (MX-CONF-MIB
    # ScriptsDhcpDownloadEnable), encoded as any other sub-option (RFC 2132 §8.4; the vendor's encoding is not
    # documented).
    vendor_tftp_server: str | None = None
    vendor_bootfile: str | None = None

    @property
    def expires(self) -> float | None:
        return None if self.lease_time is None else self.obtained + self.lease_time

    @classmethod
    def from_ack(cls, msg: DhcpMessage, server_id: str, obtained: float) -> Lease:
        o = msg.options
        lease = msg.option_u32(Opt.LEASE_TIME)
        if lease is None or lease == INFINITE:
            duration = t1 = t2 = None
        else:
            duration = float(lease)
            raw_t1, raw_t2 = msg.option_u32(Opt.RENEWAL_TIME), msg.option_u32(Opt.REBINDING_TIME)
            t2 = float(raw_t2) if raw_t2 is not None and raw_t2 < lease else duration * 0.875  # §4.4.5 defaults
            t1 = float(raw_t1) if raw_t1 is not None and raw_t1 < t2 else min(duration * 0.5, t2)

        def ips(code: int) -> tuple[str, ...]:
            try:
                return tuple(ip_list(o.get(code, b"")))
            except DhcpError:
                return ()

        vendor = o.get(Opt.VENDOR_SPECIFIC, b"")
        try:
            sub = parse_suboptions(vendor) if vendor and not _is_url(vendor) else {}
        except DhcpError:
            sub = {}
        return cls(
            address=msg.yiaddr, server_id=server_id, obtained=obtained, lease_time=duration, t1=t1, t2=t2,
            subnet_mask=msg.option_ip(Opt.SUBNET_MASK), routers=ips(Opt.ROUTER), dns_servers=ips(Opt.DNS),
            ntp_servers=ips(Opt.NTP_SERVERS), vendor_specific=vendor,
            acs_url=acs_url_from_vendor_option(vendor) if vendor else None,
            provisioning_code=_text(sub[2]) if 2 in sub else None,
            tftp_server=_text(o[Opt.TFTP_SERVER]) if Opt.TFTP_SERVER in o else None,
            bootfile=_text(o[Opt.BOOTFILE]) if Opt.BOOTFILE in o else None,
            vendor_tftp_server=_text(sub[Opt.TFTP_SERVER]) if Opt.TFTP_SERVER in sub else None,
            vendor_bootfile=_text(sub[Opt.BOOTFILE]) if Opt.BOOTFILE in sub else None,
        )


# ---------------------------------------------------------------------------------------------- the client
class DhcpState(Enum):
    INIT = "INIT"
    SELECTING = "SELECTING"
    REQUESTING = "REQUESTING"
    BOUND = "BOUND"
    RENEWING = "RENEWING"
    REBINDING = "REBINDING"


@dataclass(slots=True, frozen=True)
class Transmit:
    """A datagram to send from port 68: to ``destination``:67 (``BROADCAST`` or the server)."""

    payload: bytes
    destination: str


@dataclass(slots=True, frozen=True)
class LeaseAcquired:
    lease: Lease


@dataclass(slots=True, frozen=True)
class LeaseRenewed:
    lease: Lease


@dataclass(slots=True, frozen=True)
class LeaseLost:
    reason: str  # "expired" | "nak: <server message>"


DhcpEvent = LeaseAcquired | LeaseRenewed | LeaseLost


class DhcpClient:
    """RFC 2131 client state machine. Feed it with :meth:`start`, :meth:`receive` and :meth:`handle_timer`
    (at :meth:`next_deadline`); send what they return; read :meth:`next_event`."""

    def __init__(
        self,
        mac: bytes,
        *,
        vendor_class: str = "dslforum.org",
        client_id: bytes | None = None,
        user_class: bytes | None = None,
        parameters: tuple[int, ...] = DEFAULT_PARAMETERS,
        rnd: random.Random | None = None,
        initial_timeout: float = 4.0,
        max_timeout: float = 64.0,
        request_attempts: int = 4,
        min_renew_wait: float = 60.0,
    ) -> None:
        if len(mac) != 6:
            raise ValueError("an Ethernet address has 6 bytes")
        self.mac = mac
        self.vendor_class = vendor_class
        self.client_id = client_id
        self.user_class = user_class
        self.parameters = parameters
        self.rnd = rnd or random.Random()
        self.initial_timeout = initial_timeout
        self.max_timeout = max_timeout
        self.request_attempts = request_attempts
        self.min_renew_wait = min_renew_wait
        self.state = DhcpState.INIT
        self.lease: Lease | None = None
        self.ignored = 0  # replies dropped (malformed, not ours, unexpected)
        self._events: deque[DhcpEvent] = deque()
        self._xid = 0
        self._began = 0.0  # start of the current exchange (the secs field)
        self._sent_at = 0.0  # first transmission of the current DHCPREQUEST
        self._attempt = 0
        self._deadline: float | None = None
        self._offer: DhcpMessage | None = None
        self._server_id = ""

    # ------------------------------------------------------------------ public
    def next_deadline(self) -> float | None:
        return self._deadline

    def next_event(self) -> DhcpEvent | None:
        return self._events.popleft() if self._events else None

    def start(self, now: float) -> list[Transmit]:
        """INIT -> SELECTING: broadcast a DHCPDISCOVER."""
        self._offer = None
        self._server_id = ""
        self._xid = self.rnd.getrandbits(32)
        self._began = now
        self._attempt = 0
        self.state = DhcpState.SELECTING
        return self._send_discover(now)

    def receive(self, data: bytes, now: float) -> list[Transmit]:
        try:
            msg = DhcpMessage.parse(data)
        except DhcpError:
            self.ignored += 1
            return []
        if msg.op != BOOTREPLY or msg.xid != self._xid or msg.chaddr != self.mac:
            self.ignored += 1
            return []
        kind = msg.message_type
        server = msg.option_ip(Opt.SERVER_ID) or ""
        if self.state is DhcpState.SELECTING and kind is MessageType.OFFER and server and msg.yiaddr != "0.0.0.0":
            return self._select(msg, server, now)
        if self.state in (DhcpState.REQUESTING, DhcpState.RENEWING, DhcpState.REBINDING):
            if self.state is DhcpState.REQUESTING and server and server != self._server_id:
                self.ignored += 1  # an answer from a server we did not select
                return []
            if kind is MessageType.ACK:
                return self._bound(msg, server or self._server_id)
            if kind is MessageType.NAK:
                text = _text(msg.options.get(Opt.MESSAGE, b""))
                if self.lease is not None:
                    self.lease = None
                    self._events.append(LeaseLost(f"nak: {text}".rstrip(": ")))
                return self.start(now)
        self.ignored += 1
        return []

    def handle_timer(self, now: float) -> list[Transmit]:
        if self._deadline is None or now < self._deadline:
            return []
        s = self.state
        if s is DhcpState.INIT:
            return self.start(now)
        if s is DhcpState.SELECTING:
            self._attempt += 1
            return self._send_discover(now)
        if s is DhcpState.REQUESTING:
            if self._attempt + 1 >= self.request_attempts:
                return self.start(now)  # no answer to our REQUEST: discover again
            self._attempt += 1
            return self._send_request(now)
        lease = self.lease
        assert lease is not None and lease.t1 is not None and lease.t2 is not None and lease.expires is not None
        if now >= lease.expires:
            self.lease = None
            self._events.append(LeaseLost("expired"))
            return self.start(now)
        if s is DhcpState.BOUND or (s is DhcpState.RENEWING and now < lease.obtained + lease.t2):
            if s is DhcpState.BOUND:
                self.state = DhcpState.RENEWING
                self._new_exchange(now)
            return self._send_request(now, until=lease.obtained + lease.t2)
        if s is DhcpState.RENEWING:
            self.state = DhcpState.REBINDING
            self._new_exchange(now)
        return self._send_request(now, until=lease.expires)

    # ------------------------------------------------------------------ internals
    def _new_exchange(self, now: float) -> None:
        self._xid = self.rnd.getrandbits(32)
        self._began = now
        self._sent_at = now
        self._attempt = 0

    def _backoff(self) -> float:
        base = min(self.initial_timeout * 2 ** self._attempt, self.max_timeout)
        return max(0.0, base + self.rnd.uniform(-1.0, 1.0) * self.initial_timeout / 4)

    def _message(self, kind: MessageType, now: float, ciaddr: str = "0.0.0.0") -> DhcpMessage:
        opts: dict[int, bytes] = {Opt.MESSAGE_TYPE: bytes((kind,))}
        if self.client_id:
            opts[Opt.CLIENT_ID] = self.client_id
        if self.vendor_class:
            opts[Opt.VENDOR_CLASS_ID] = self.vendor_class.encode()
        if self.user_class:
            opts[Opt.USER_CLASS] = bytes((len(self.user_class),)) + self.user_class
        opts[Opt.PARAMETER_REQUEST_LIST] = bytes(self.parameters)
        # Broadcast flag: the interface may not hold the offered address yet, so replies must be broadcast
        # (RFC 2131 §4.1); not set once the client has its address (RENEWING/REBINDING).
        flags = FLAG_BROADCAST if ciaddr == "0.0.0.0" else 0
        secs = min(int(now - self._began), 0xFFFF)
        return DhcpMessage(op=BOOTREQUEST, xid=self._xid, chaddr=self.mac, options=opts, secs=max(secs, 0),
                           flags=flags, ciaddr=ciaddr)

    def _send_discover(self, now: float) -> list[Transmit]:
        msg = self._message(MessageType.DISCOVER, now)
        self._deadline = now + self._backoff()
        return [Transmit(msg.encode(), BROADCAST)]

    def _select(self, offer: DhcpMessage, server: str, now: float) -> list[Transmit]:
        self._offer = offer
        self._server_id = server
        self.state = DhcpState.REQUESTING
        self._attempt = 0
        self._sent_at = now
        return self._send_request(now)

    def _send_request(self, now: float, until: float | None = None) -> list[Transmit]:
        if self.state is DhcpState.REQUESTING:
            assert self._offer is not None
            msg = self._message(MessageType.REQUEST, now)
            msg.options[Opt.REQUESTED_IP] = _ip_bytes(self._offer.yiaddr)
            msg.options[Opt.SERVER_ID] = _ip_bytes(self._server_id)
            self._deadline = now + self._backoff()
            return [Transmit(msg.encode(), BROADCAST)]
        lease = self.lease
        assert lease is not None and until is not None
        msg = self._message(MessageType.REQUEST, now, ciaddr=lease.address)  # §4.3.2: ciaddr, no 50/54
        remaining = until - now
        self._deadline = now + min(remaining, max(remaining / 2, self.min_renew_wait))
        dest = lease.server_id if self.state is DhcpState.RENEWING else BROADCAST
        return [Transmit(msg.encode(), dest)]

    def _bound(self, ack: DhcpMessage, server: str) -> list[Transmit]:
        renewed = self.lease is not None
        if ack.yiaddr == "0.0.0.0":
            if self.lease is None:
                self.ignored += 1
                return []
            ack.yiaddr = self.lease.address
        lease = Lease.from_ack(ack, server, self._sent_at)
        self.lease = lease
        self._server_id = server
        self.state = DhcpState.BOUND
        self._offer = None
        self._deadline = None if lease.t1 is None else lease.obtained + lease.t1
        self._events.append(LeaseRenewed(lease) if renewed else LeaseAcquired(lease))
        return []
