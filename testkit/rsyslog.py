"""A real rsyslogd receiving UDP syslog on 127.0.0.1, for interop tests.

Our own configuration only (``-f``), foreground (``-n``), its own pid file (``-i``), no
imuxsock/imklog, so nothing from the host's /dev/log is read and no system file is touched.
Two UDP inputs on two free ports (``a`` and ``b``) each write one file, so a test can see where
a datagram went. Each line written holds the fields rsyslog parsed and the raw datagram::

    pri=<PRI>|host=<HOSTNAME>|tag=<TAG>|msg=<MSG>|raw=<the datagram as received>

(``msg`` keeps the space that follows the tag in an RFC 3164 message.)
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from testkit.peers import free_port, require_peer
from testkit.process import Peer, spawn

__all__ = ["Received", "Rsyslog", "start_rsyslog"]

_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
template(name="fields" type="string"
         string="pri=%pri%|host=%hostname%|tag=%syslogtag%|msg=%msg%|raw=%rawmsg%\\n")
input(type="imudp" address="127.0.0.1" port="{port_a}" ruleset="a")
input(type="imudp" address="127.0.0.1" port="{port_b}" ruleset="b")
ruleset(name="a") {{
    action(type="omfile" file="{out_a}" template="fields" flushOnTXEnd="on" asyncWriting="off")
}}
ruleset(name="b") {{
    action(type="omfile" file="{out_b}" template="fields" flushOnTXEnd="on" asyncWriting="off")
}}
"""

_LINE = re.compile(r"^pri=(\d+)\|host=(.*?)\|tag=(.*?)\|msg=(.*?)\|raw=(.*)$")


@dataclass(frozen=True, slots=True)
class Received:
    pri: int
    host: str
    tag: str
    msg: str
    raw: str


@dataclass
class Rsyslog(Peer):
    directory: Path
    ports: dict[str, int]
    _seen: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})

    def address(self, which: str = "a") -> str:
        return f"127.0.0.1:{self.ports[which]}"

    def lines(self, which: str = "a") -> list[Received]:
        path = self.directory / f"{which}.log"
        if not path.exists():
            return []
        out = []
        for text in path.read_text(errors="replace").splitlines():
            m = _LINE.match(text)
            assert m, f"unexpected rsyslog output line {text!r}"
            out.append(Received(int(m.group(1)), *m.group(2, 3, 4, 5)))
        return out

    def new_lines(self, which: str = "a") -> list[Received]:
        """Lines written since the last call (per input)."""
        lines = self.lines(which)
        fresh = lines[self._seen[which]:]
        self._seen[which] = len(lines)
        return fresh

    def mark(self) -> None:
        """Forget what was written so far (for new_lines)."""
        for which in self.ports:
            self._seen[which] = len(self.lines(which))


def _udp_listening(port: int) -> bool:
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            return any(line.split()[1] == want for line in f.readlines()[1:])
    except OSError:
        return False


def start_rsyslog(directory: Path) -> Rsyslog:
    binary = require_peer("rsyslogd")["rsyslogd"]
    work = directory / "work"
    work.mkdir(parents=True, exist_ok=True)
    ports = {"a": free_port(kind=socket.SOCK_DGRAM), "b": free_port(kind=socket.SOCK_DGRAM)}
    while ports["b"] == ports["a"]:
        ports["b"] = free_port(kind=socket.SOCK_DGRAM)
    conf = directory / "rsyslog.conf"
    conf.write_text(_CONF.format(work=work, port_a=ports["a"], port_b=ports["b"],
                                 out_a=directory / "a.log", out_b=directory / "b.log"))
    out = directory / "rsyslogd.out"
    proc = spawn([binary, "-n", "-f", str(conf), "-i", str(directory / "rsyslogd.pid")], out)
    peer = Rsyslog(proc, out, directory, ports)
    return peer.wait_until(lambda: all(_udp_listening(p) for p in ports.values()),
                           f"rsyslogd did not start listening on {ports}")
