"""A real Kamailio (Debian's, with its TLS module) as SIP registrar/proxy on 127.0.0.1, for interop tests.

Our own configuration, written per test into a temporary directory: no database (usrloc in memory),
digest authentication of REGISTER from static credentials held in an htable (``pv_auth_check``,
qop=auth, realm = From domain), UDP/TCP and TLS listeners on free ports (``tls_only`` leaves only
TLS), ``set_contact_alias`` / ``fix_nated_register`` / ``handle_ruri_alias`` so that TCP/TLS clients
are reached over the connection they opened (a proxy would otherwise try to open a new connection
to the Contact port), record-routing of INVITEs, loose routing in dialog.

``WITH_INVITE_AUTH`` challenges every initial INVITE (407, qop=auth). ``WITH_REGISTER_503`` answers every
REGISTER "503 Service Unavailable" (a registrar out of service: SipEp failover). ``WITH_TRANSPORT_CHECK``
reproduces the vendor's troubleshooting case: a REGISTER over TLS whose Request-URI or Contact lacks
``transport=tls`` gets "500 Server Internal Error".

Kamailio runs in the foreground (``-DD -E``), its runtime directory and control socket in the temp
directory (``-Y``; ``runtime_dir`` is not a 5.6 cfg keyword), and is stopped by SIGTERM to its PID.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testkit.peers import free_port, require_peer, udp_bound
from testkit.pki import Pki
from testkit.process import Peer, ServerPeer, accepts, spawn

__all__ = ["HepCollector", "Kamailio", "lab_kamailio", "start_hep_collector", "start_kamailio"]

_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

_CFG = """#!KAMAILIO
debug={debug}
log_stderror=yes
memdbg=5
memlog=5
fork=yes
children=4
tcp_children=4
auto_aliases=no
{listen}
enable_tls=yes
tcp_connection_lifetime=3605
tcp_accept_no_cl=yes
dns=no
rev_dns=no
use_dns_cache=no

mpath="{mpath}"
loadmodule "tls.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "nathelper.so"
loadmodule "htable.so"
loadmodule "auth.so"
loadmodule "ctl.so"

modparam("tls", "config", "{tls_cfg}")
modparam("ctl", "binrpc", "unix:{ctl}")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)
modparam("htable", "htable", "users=>size=8;autoexpire=0;")

event_route[htable:mod-init] {{
{users}
}}

request_route {{
    xlog("L_INFO", "REQ $rm $ru from $si:$sp proto=$pr\\n");
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ exit; }}
    force_rport();
    if (is_method("INVITE|SUBSCRIBE|UPDATE|REFER|NOTIFY") || (is_method("REGISTER") && proto!=UDP)) {{
        if (proto!=UDP) {{ set_contact_alias(); }}
    }}
    if (has_totag()) {{ route(WITHINDLG); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) route(RELAY); exit; }}
    if (!is_method("ACK")) {{ if (t_precheck_trans()) {{ t_check_trans(); exit; }} t_check_trans(); }}
    if (is_method("OPTIONS") && uri==myself && $rU==$null) {{ sl_send_reply("200", "Keepalive"); exit; }}
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE")) {{ record_route(); }}
    if (is_method("REGISTER")) {{
#!ifdef WITH_REGISTER_503
        sl_send_reply("503", "Service Unavailable");
        exit;
#!endif
#!ifdef WITH_TRANSPORT_CHECK
        if (proto==TLS && !($ru =~ "transport=tls" && $ct =~ "transport=tls")) {{
            sl_send_reply("500", "Server Internal Error");
            exit;
        }}
#!endif
        if (!pv_auth_check("$fd", "$sht(users=>$fU)", "0", "1")) {{
            auth_challenge("$fd", "1");
            exit;
        }}
        consume_credentials();
        if (proto!=UDP) {{ fix_nated_register(); }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
#!ifdef WITH_INVITE_AUTH
    if (is_method("INVITE")) {{
        if (!pv_proxy_authenticate("$fd", "$sht(users=>$fU)", "0")) {{
            proxy_challenge("$fd", "1");
            exit;
        }}
        consume_credentials();
    }}
#!endif
    if ($rU==$null) {{ sl_send_reply("484", "Address Incomplete"); exit; }}
    if (!lookup("location")) {{
        switch ($rc) {{
            case -1: case -3: send_reply("404", "Not Found"); exit;
            case -2: send_reply("405", "Method Not Allowed"); exit;
        }}
    }}
    route(RELAY);
}}

route[WITHINDLG] {{
    if (loose_route()) {{
        handle_ruri_alias();
        route(RELAY); exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{ route(RELAY); exit; }}
        exit;
    }}
    sl_send_reply("404", "Not here");
    exit;
}}

route[RELAY] {{
    if (is_method("INVITE|BYE|SUBSCRIBE|UPDATE")) {{ t_on_reply("MANAGE_REPLY"); }}
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

onreply_route[MANAGE_REPLY] {{
    if (proto!=UDP && status=~"[12][0-9][0-9]") {{ set_contact_alias(); }}
}}
"""

_TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


@dataclass
class Kamailio(Peer):
    directory: Path
    host: str
    udp_port: int | None
    tls_port: int

    @property
    def tls_address(self) -> str:
        return f"{self.host}:{self.tls_port}"

    @property
    def udp_address(self) -> str:
        return f"{self.host}:{self.udp_port}"


def start_kamailio(directory: Path, cert: Path, key: Path, users: Mapping[str, str], *, tls_only: bool = False,
                   defines: tuple[str, ...] = (), host: str = "127.0.0.1", debug: int = 2,
                   tls_port: int | None = None) -> Kamailio:
    """Write the configuration and start Kamailio; it is listening when this returns (``tls_port``:
    that port rather than a free one, e.g. to restart a proxy where the units expect it)."""
    binary = require_peer("kamailio")["kamailio"]
    if not Path(_MODULES, "tls.so").exists():
        require_peer("kamailio-tls-module-missing")  # fails (or skips) with the reason
    directory.mkdir(parents=True, exist_ok=True)
    tls_port = tls_port or free_port(host)
    udp_port = None if tls_only else free_port(host, socket.SOCK_DGRAM)
    listen = [f"listen=tls:{host}:{tls_port}", f'alias="{host}:{tls_port}"']
    if udp_port is not None:
        listen = [f"listen=udp:{host}:{udp_port}", f"listen=tcp:{host}:{udp_port}", f'alias="{host}:{udp_port}"',
                  *listen]
    listen.append(f'alias="{host}"')
    users_cfg = "\n".join(f'    $sht(users=>{u}) = "{p}";' for u, p in users.items())
    (directory / "tls.cfg").write_text(_TLS_CFG.format(key=key, cert=cert))
    cfg = directory / "kamailio.cfg"
    cfg.write_text(_CFG.format(debug=debug, listen="\n".join(listen), mpath=_MODULES, tls_cfg=directory / "tls.cfg",
                               ctl=directory / "kamailio_ctl", users=users_cfg))
    args = [binary, "-DD", "-E", "-f", str(cfg), "-Y", str(directory)]
    for d in defines:
        args += ["-A", d]
    log = directory / "kamailio.log"
    k = Kamailio(spawn(args, log, cwd=directory, stdin=None), log, directory, host, udp_port, tls_port)
    return k.wait_until(lambda: accepts(host, tls_port), "kamailio did not start", timeout=10)


def kamailio_running(k: Kamailio) -> Iterator[Kamailio]:
    try:
        yield k
    finally:
        k.stop()


# ---------------------------------------------------------------------------------------------- HEP collector
_HEP_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
auto_aliases=no
listen=udp:{host}:{port}
mpath="{mpath}"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "db_text.so"
loadmodule "sipcapture.so"
modparam("sipcapture", "db_url", "text://{db}")
modparam("sipcapture", "hep_capture_on", 1)
modparam("sipcapture", "capture_on", 0)
modparam("sipcapture", "nonsip_hook", 1)
event_route[sipcapture:request] {{
    xlog("L_ALERT", "HEPEV {fields}\\n");
    drop;
}}
request_route {{
    exit;
}}
"""
# what Kamailio logs of each packet: chunk by chunk as it decoded them, the payload's length, MD5 and first line
_HEP_FIELDS = " ".join([
    "v=$hep(version)", "fam=$hep(0x001)", "proto=$hep(0x002)", "src=$hep(0x003):$hep(0x007)",
    "dst=$hep(0x004):$hep(0x008)", "ts=$hep(0x009).$hep(0x00a)", "type=$hep(0x00b)", "agent=$hep(0x00c)",
    "corr=$hep(0x011)", "len=$(hep(0x00f){s.len})", "md5=$(hep(0x00f){s.md5})", "first=$(hep(0x00f){line.at,0})",
])
_HEP_LINE = re.compile(r"HEPEV (.*?) first=(.*)$")


@dataclass
class HepCollector(ServerPeer):
    """Kamailio's sipcapture module receiving HEP over UDP: each packet's chunks, as Kamailio decoded them, are
    logged (``HEPEV v=3 fam=2 proto=17 src=ip:port dst=ip:port ts=s.us type=1 agent=id corr=call-id len md5
    first=<first line of the payload>``)."""

    def packets(self) -> list[dict[str, str]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = _HEP_LINE.search(line)
            if m:
                fields = dict(kv.split("=", 1) for kv in m.group(1).split(" ") if "=" in kv)
                fields["first"] = m.group(2)
                out.append(fields)
        return out


@contextmanager
def lab_kamailio(directory: Path, users: Mapping[str, str]) -> Iterator[Kamailio]:
    """A Kamailio (UDP, TCP and TLS) under ``directory`` whose certificate, for 127.0.0.1, a throwaway lab CA
    signs (written to ``directory / "pki"``); stopped on leaving."""
    pki = Pki("rsa")
    crt, key = pki.leaf(pki.ca("Lab CA"), "127.0.0.1").write(directory / "pki", "server")
    k = start_kamailio(directory / "kamailio", crt, key, users)
    try:
        yield k
    finally:
        k.stop()


def start_hep_collector(directory: Path, host: str = "127.0.0.1") -> HepCollector:
    """A HEP v3 collector (Kamailio sipcapture, an independent HEP decoder) on a free UDP port of ``host``."""
    binary = require_peer("kamailio")["kamailio"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "db").mkdir(exist_ok=True)
    port = free_port(host, socket.SOCK_DGRAM)
    cfg = directory / "hep.cfg"
    cfg.write_text(_HEP_CFG.format(host=host, port=port, mpath=_MODULES, db=directory / "db", fields=_HEP_FIELDS))
    log = directory / "kamailio.log"
    c = HepCollector(spawn([binary, "-DD", "-E", "-f", str(cfg), "-Y", str(directory)], log, cwd=directory,
                           stdin=None), log, host, port)
    return c.wait_until(lambda: udp_bound(host, port), "the HEP collector did not start", timeout=10)
