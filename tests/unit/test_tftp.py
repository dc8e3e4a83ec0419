"""TFTP client core (RFC 1350, options RFC 2347/2348/2349): packet vectors from the RFCs, whole transfers pumped
against an in-memory server, transfer IDs, retransmission with injected time, option refusals, block wrap."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.protocols.tftp import (
    Ack,
    Completed,
    Data,
    Datagram,
    ErrorCode,
    ErrorPacket,
    Failed,
    OAck,
    Opcode,
    PacketError,
    Request,
    TftpClient,
    TransferState,
    encode,
    parse,
)

SERVER_TID = 40000


# ---------------------------------------------------------------------------------------------- vectors
def test_rfc2347_example_packets() -> None:
    """RFC 2347 §"Example": |1|foofile|0|octet|0|blksize|0|1432|0| and the OACK |6|blksize|0|1432|0|."""
    rrq = b"\x00\x01foofile\x00octet\x00blksize\x001432\x00"
    assert encode(Request(Opcode.RRQ, "foofile", "octet", {"blksize": "1432"})) == rrq
    assert parse(rrq) == Request(Opcode.RRQ, "foofile", "octet", {"blksize": "1432"})
    oack = b"\x00\x06blksize\x001432\x00"
    assert parse(oack) == OAck({"blksize": "1432"})
    assert encode(OAck({"blksize": "1432"})) == oack


def test_rfc1350_packets() -> None:
    assert encode(Data(1, b"abc")) == b"\x00\x03\x00\x01abc"
    assert encode(Ack(65535)) == b"\x00\x04\xff\xff"
    assert encode(ErrorPacket(1, "File not found")) == b"\x00\x05\x00\x01File not found\x00"
    assert parse(b"\x00\x05\x00\x02denied") == ErrorPacket(2, "denied")  # a missing NUL is tolerated
    assert parse(b"\x00\x03\x00\x07") == Data(7, b"")
    # RFC 2347 §2: option names are case-insensitive; the mode too (RFC 1350 §5)
    assert parse(b"\x00\x02f\x00OCTET\x00TSize\x00100\x00") == Request(Opcode.WRQ, "f", "octet", {"tsize": "100"})


@pytest.mark.parametrize("raw", [
    b"", b"\x00", b"\x00\x09", b"\x00\x04\x00", b"\x00\x04\x00\x01\x00", b"\x00\x01file", b"\x00\x01\x00octet\x00",
    b"\x00\x06blksize\x00", b"\x00\x06a\x001\x00A\x002\x00", b"\x00\x01f\x00octet\x00tsize\x00",
    b"\x00\x01f\xff\x00octet\x00",
])
def test_malformed_packets(raw: bytes) -> None:
    with pytest.raises(PacketError):
        parse(raw)


@given(st.binary(max_size=64))
def test_parse_never_crashes(raw: bytes) -> None:
    try:
        packet = parse(raw)
    except PacketError:
        return
    assert isinstance(packet, Request | Data | Ack | ErrorPacket | OAck)


# ---------------------------------------------------------------------------------------------- a tiny server
@dataclass
class Server:
    """An in-memory TFTP server (one transfer): options as asked, or none (``options=False``)."""

    files: dict[str, bytes] = field(default_factory=dict)
    options: bool = True
    blksize_cap: int = 65464
    written: bytes = b""
    seen: list[object] = field(default_factory=list)
    blksize: int = 512
    _file: bytes = b""
    _writing: bool = False
    _block: int = 0

    def handle(self, payload: bytes) -> list[bytes]:
        p = parse(payload)
        self.seen.append(p)
        if isinstance(p, Request):
            return self._request(p)
        if isinstance(p, Ack) and not self._writing:
            if p.block != self._block & 0xFFFF:
                return []
            return self._send_from(self._block + 1)
        if isinstance(p, Data) and self._writing:
            self.written += p.payload
            return [encode(Ack(p.block))]
        return []

    def _request(self, p: Request) -> list[bytes]:
        self._writing = p.opcode is Opcode.WRQ
        if not self._writing and p.filename not in self.files:
            return [encode(ErrorPacket(ErrorCode.FILE_NOT_FOUND, "File not found"))]
        self._file = self.files.get(p.filename, b"")
        oack: dict[str, str] = {}
        if self.options and p.options:
            for k, v in p.options.items():
                if k == "blksize":
                    self.blksize = min(int(v), self.blksize_cap)
                    oack[k] = str(self.blksize)
                elif k == "tsize":
                    oack[k] = v if self._writing else str(len(self._file))
                elif k == "timeout":
                    oack[k] = v
        if oack:
            return [encode(OAck(oack))]
        return [encode(Ack(0))] if self._writing else self._send_from(1)

    def _send_from(self, n: int) -> list[bytes]:
        start = (n - 1) * self.blksize
        if start > len(self._file):
            return []
        self._block = n
        return [encode(Data(n & 0xFFFF, self._file[start:start + self.blksize]))]


def pump(client: TftpClient, server: Server, now: float = 0.0, drop: set[int] | None = None) -> list[object]:
    """Run the transfer to its end: the client's datagrams to the server, the answers back from SERVER_TID.
    ``drop`` lists the numbers (0-based) of client datagrams lost on the way."""
    out = client.start(now)
    sent = 0
    events: list[object] = []
    for _ in range(1_000_000):
        answers: list[bytes] = []
        for d in out:
            if drop and sent in drop:
                sent += 1
                continue
            sent += 1
            answers += server.handle(d.payload)
        out = []
        for a in answers:
            out += client.receive(a, SERVER_TID, now)
        while (ev := client.next_event()) is not None:
            events.append(ev)
        if client.done and not out:
            return events
        if not out and not answers:
            deadline = client.next_deadline()
            assert deadline is not None
            now = deadline
            out = client.handle_timer(now)
    raise AssertionError("transfer did not end")


# ---------------------------------------------------------------------------------------------- reads
def test_read_with_rfc2347_blksize() -> None:
    data = bytes(range(256)) * 12  # 3072 octets: 2 full blocks of 1432, one of 208
    server = Server({"foofile": data})
    client = TftpClient("foofile", blksize=1432, tsize=False)
    events = pump(client, server)
    assert events == [Completed(data, 1432, None)]
    assert server.seen[0] == Request(Opcode.RRQ, "foofile", "octet", {"blksize": "1432"})
    assert server.seen[1:] == [Ack(0), Ack(1), Ack(2), Ack(3)]  # the OACK acknowledged with ACK 0


def test_read_tsize_rfc2349() -> None:
    server = Server({"f": b"x" * 100})
    client = TftpClient("f")
    events = pump(client, server)
    assert server.seen[0] == Request(Opcode.RRQ, "f", "octet", {"tsize": "0"})
    assert events == [Completed(b"x" * 100, 512, 100)]


def test_read_too_large_by_tsize_is_refused_before_data() -> None:
    server = Server({"f": b"x" * 2000})
    client = TftpClient("f", max_size=1000)
    out = client.start(0)
    answer = server.handle(out[0].payload)[0]
    out = client.receive(answer, SERVER_TID, 0)
    assert parse(out[0].payload) == ErrorPacket(ErrorCode.DISK_FULL, "the file is 2000 bytes, more than 1000")
    ev = client.next_event()
    assert isinstance(ev, Failed) and ev.kind == "too-large"


def test_read_too_large_without_tsize() -> None:
    server = Server({"f": b"x" * 2000}, options=False)
    events = pump(TftpClient("f", max_size=1000), server)
    assert isinstance(events[0], Failed) and events[0].kind == "too-large"


def test_read_server_ignoring_options_uses_512() -> None:
    data = b"y" * 1024  # a multiple of 512: an empty last block ends it
    server = Server({"f": data}, options=False)
    events = pump(TftpClient("f", blksize=1432), server)
    assert events == [Completed(data, 512, None)]
    assert server.seen[-1] == Ack(3)


def test_read_file_not_found() -> None:
    events = pump(TftpClient("missing"), Server())
    assert events == [Failed("remote", "File not found", 1, answered=True)]


def test_read_empty_file() -> None:
    assert pump(TftpClient("e", tsize=False), Server({"e": b""}, options=False)) == [Completed(b"", 512, None)]


def test_block_numbers_wrap_after_65535() -> None:
    data = bytes(range(251)) * 2200  # 552,200 octets in 8-octet blocks: 69,025 blocks, past 65535
    events = pump(TftpClient("big", blksize=8, tsize=False), Server({"big": data}))
    assert events == [Completed(data, 8, None)]


# ---------------------------------------------------------------------------------------------- writes
@pytest.mark.parametrize("size", [0, 100, 512, 1300])
def test_write(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    server = Server()
    events = pump(TftpClient("out.cfg", data=data), server)
    assert events == [Completed(b"", 512, size)]
    assert server.written == data
    assert server.seen[0] == Request(Opcode.WRQ, "out.cfg", "octet", {"tsize": str(size)})
    blocks = [p for p in server.seen if isinstance(p, Data)]
    assert len(blocks) == size // 512 + 1  # a multiple of 512 ends with an empty block


def test_write_without_options_starts_at_ack0() -> None:
    server = Server(options=False)
    events = pump(TftpClient("o", data=b"abc", blksize=1024), server)
    assert events == [Completed(b"", 512, 3)] and server.written == b"abc"


def test_duplicate_ack_never_resends_data() -> None:
    """RFC 1123 §4.2.3.1 (Sorcerer's Apprentice): a writer answers only the ACK of the block in flight."""
    client = TftpClient("o", data=b"z" * 1500, tsize=False)
    client.start(0)
    assert client.receive(encode(Ack(0)), SERVER_TID, 0)[0].payload[:4] == b"\x00\x03\x00\x01"
    out = client.receive(encode(Ack(1)), SERVER_TID, 0)
    assert parse(out[0].payload) == Data(2, b"z" * 512)
    assert client.receive(encode(Ack(1)), SERVER_TID, 0) == []  # the duplicate: nothing sent


# ---------------------------------------------------------------------------------------------- time and TIDs
def test_retransmission_then_timeout_with_injected_time() -> None:
    client = TftpClient("f", timeout=2.0, retries=3)
    first = client.start(10.0)
    assert client.next_deadline() == 12.0
    assert client.handle_timer(11.9) == []  # early: nothing
    for k in range(3):
        assert client.handle_timer(12.0 + 2.0 * k) == first
    assert client.handle_timer(18.0) == []
    ev = client.next_event()
    assert ev == Failed("timeout", "no answer from the server after 4 tries", answered=False)
    assert client.state is TransferState.FAILED and client.next_deadline() is None


def test_lost_ack_is_recovered() -> None:
    data = b"q" * 2000
    server = Server({"f": data}, options=False)
    client = TftpClient("f", tsize=False)
    events = pump(client, server, drop={2})  # the ACK of block 2 is lost: the timer resends it
    assert events == [Completed(data, 512, None)]
    assert client.retransmissions == 1


def test_duplicate_data_is_acknowledged_again() -> None:
    client = TftpClient("f", tsize=False)
    client.start(0)
    client.receive(encode(Data(1, b"a" * 512)), SERVER_TID, 0)
    out = client.receive(encode(Data(1, b"a" * 512)), SERVER_TID, 0)
    assert [parse(d.payload) for d in out] == [Ack(1)]


def test_unknown_transfer_id_gets_error5_and_the_transfer_goes_on() -> None:
    client = TftpClient("f", tsize=False)
    client.start(0)
    client.receive(encode(Data(1, b"a" * 512)), SERVER_TID, 0)
    out = client.receive(encode(Data(2, b"evil")), 5555, 0)
    assert out == [Datagram(encode(ErrorPacket(ErrorCode.UNKNOWN_TID, "Unknown transfer ID")), 5555)]
    assert client.state is TransferState.TRANSFERRING
    client.receive(encode(Data(2, b"end")), SERVER_TID, 0)
    assert client.next_event() == Completed(b"a" * 512 + b"end", 512, None)


def test_acks_go_to_the_servers_tid_not_port_69() -> None:
    client = TftpClient("f", tsize=False, server_port=6969)
    assert client.start(0)[0].port == 6969
    out = client.receive(encode(Data(1, b"a" * 512)), SERVER_TID, 0)
    assert out[0].port == SERVER_TID


# ---------------------------------------------------------------------------------------------- option refusals
def test_option_refused_by_error8_asks_again_without_options() -> None:
    client = TftpClient("f", blksize=1024)
    client.start(0)
    out = client.receive(encode(ErrorPacket(ErrorCode.OPTION_REFUSED, "no options")), SERVER_TID, 0)
    assert parse(out[0].payload) == Request(Opcode.RRQ, "f", "octet", {})
    assert out[0].port == 69 and client.tid is None
    client.receive(encode(Data(1, b"ok")), SERVER_TID + 1, 0)
    assert client.next_event() == Completed(b"ok", 512, None)


@pytest.mark.parametrize(("oack", "why"), [
    ({"blksize": "2048"}, "blksize 2048 is outside 8..1024"),
    ({"blksize": "4"}, "blksize 4 is outside 8..1024"),
    ({"windowsize": "4"}, "option windowsize was not requested"),
    ({"timeout": "9"}, "timeout 9 differs from the 3 asked"),
    ({"tsize": "big"}, "option tsize: 'big' is not a number"),
])
def test_bad_oack_is_refused_with_error8(oack: dict[str, str], why: str) -> None:
    client = TftpClient("f", blksize=1024, timeout=3, negotiate_timeout=True)
    client.start(0)
    out = client.receive(encode(OAck(oack)), SERVER_TID, 0)
    assert [parse(d.payload) for d in out] == [ErrorPacket(ErrorCode.OPTION_REFUSED, why)]
    assert client.next_event() == Failed("protocol", why, 8, answered=True)


def test_repeated_oack_is_acknowledged_again_on_read() -> None:
    client = TftpClient("f", blksize=1024)
    client.start(0)
    first = client.receive(encode(OAck({"blksize": "1024"})), SERVER_TID, 0)
    again = client.receive(encode(OAck({"blksize": "1024"})), SERVER_TID, 0)
    assert [parse(d.payload) for d in first] == [parse(d.payload) for d in again] == [Ack(0)]


def test_oversized_block_is_a_protocol_error() -> None:
    client = TftpClient("f", tsize=False)
    client.start(0)
    out = client.receive(encode(Data(1, b"x" * 600)), SERVER_TID, 0)
    assert parse(out[0].payload).code == ErrorCode.ILLEGAL_OPERATION  # type: ignore[union-attr]
    ev = client.next_event()
    assert isinstance(ev, Failed) and ev.kind == "protocol"


@pytest.mark.parametrize("kw", [{"blksize": 7}, {"blksize": 65465}, {"timeout": 0.5, "negotiate_timeout": True}])
def test_bad_client_options(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TftpClient("f", **kw)  # type: ignore[arg-type]


def test_bad_file_names() -> None:
    for name in ("", "a\0b", "é"):
        with pytest.raises(ValueError):
            TftpClient(name)
