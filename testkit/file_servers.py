"""Real file servers from Debian for the provisioning tests and benchmarks: nginx (HTTP, HTTPS, basic auth),
lighttpd (digest auth: Debian's nginx has no digest module), tftpd-hpa and vsftpd, each on 127.0.0.x with our own
configuration in a temporary folder, serving (and receiving) the files of one root folder.

Each is started into a log file, ready once its port answers, and stopped by PID (:mod:`testkit.process`). As root
the servers keep root's rights so that they read the test's private temporary folders (nginx ``user root``,
lighttpd without ``server.username``, in.tftpd ``-u root``); vsftpd serves anonymous users from its own chroot.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testkit.peers import free_port, require_peer
from testkit.process import spawn, stop_process

__all__ = ["FileServer", "lighttpd_digest", "nginx", "tftpd", "vsftpd"]


@dataclass
class FileServer:
    host: str
    port: int
    root: Path  # the files it serves; writes land here too
    log: Path
    tls_port: int | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _wait_tcp(host: str, port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text(errors='replace')}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} not listening: {log.read_text(errors='replace')}")


@contextmanager
def _running(argv: list[str], server: FileServer, ready: str | None = None) -> Iterator[FileServer]:
    proc = spawn(argv, server.log)
    server.procs.append(proc)
    try:
        if ready == "udp":
            _wait_tftp(server, proc)
        else:
            _wait_tcp(server.host, server.port, proc, server.log)
        yield server
    finally:
        stop_process(proc)


# ---------------------------------------------------------------------------------------------- nginx
_NGINX = """daemon off;
user root;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    keepalive_requests 10000;
    server {{
        listen {host}:{port};
        listen {host}:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {root};
        location /auth/ {{ auth_basic "provisioning"; auth_basic_user_file {dir}/htpasswd; }}
        location /slow/ {{ limit_rate 4m; }}
        location /upload/ {{ dav_methods PUT; create_full_put_path on; client_max_body_size 100m; }}
    }}
}}
"""


@contextmanager
def nginx(work: Path, root: Path, cert: Path, key: Path, *, host: str = "127.0.0.1",
          users: dict[str, str] | None = None, workers: int = 1) -> Iterator[FileServer]:
    """nginx serving ``root`` over HTTP and HTTPS (``cert``/``key``); ``/auth/`` asks basic credentials of
    ``users``; ``/slow/`` sends at most 4 MB/s per connection (a download that lasts); ``/upload/`` takes files
    by PUT (WebDAV), written under ``root/upload/``."""
    binary = require_peer("nginx")["nginx"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "htpasswd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in (users or {}).items()))
    server = FileServer(host, free_port(host), root, work / "nginx.log", tls_port=free_port(host))
    (work / "nginx.conf").write_text(_NGINX.format(dir=work, host=host, port=server.port, tls_port=server.tls_port,
                                                   cert=cert, key=key, root=root, workers=workers))
    with _running([binary, "-p", str(work), "-c", str(work / "nginx.conf")], server) as s:
        yield s


# ---------------------------------------------------------------------------------------------- lighttpd
_LIGHTTPD = """server.document-root = "{root}"
server.bind = "{host}"
server.port = {port}
server.errorlog = "{dir}/lighttpd-error.log"
server.modules = ("mod_auth", "mod_authn_file")
mimetype.assign = ("" => "application/octet-stream")
auth.backend = "htdigest"
auth.backend.htdigest.userfile = "{dir}/htdigest"
auth.require = ("/auth/" => ("method" => "digest", "realm" => "{realm}", "require" => "valid-user"))
"""


@contextmanager
def lighttpd_digest(work: Path, root: Path, users: dict[str, str], *, host: str = "127.0.0.1",
                    realm: str = "provisioning") -> Iterator[FileServer]:
    """lighttpd serving ``root`` over HTTP; ``/auth/`` asks digest credentials (RFC 7616, MD5) of ``users``."""
    binary = require_peer("lighttpd")["lighttpd"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "htdigest").write_text("".join(
        f"{u}:{realm}:{hashlib.md5(f'{u}:{realm}:{p}'.encode()).hexdigest()}\n" for u, p in users.items()))
    server = FileServer(host, free_port(host), root, work / "lighttpd.log")
    (work / "lighttpd.conf").write_text(_LIGHTTPD.format(dir=work, host=host, port=server.port, root=root,
                                                         realm=realm))
    with _running([binary, "-D", "-f", str(work / "lighttpd.conf")], server) as s:
        yield s


# ---------------------------------------------------------------------------------------------- tftpd-hpa
def _wait_tftp(server: FileServer, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ready when an RRQ for a missing file gets its ERROR packet."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((server.host, 0))
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"in.tftpd exited ({proc.returncode}): {server.log.read_text(errors='replace')}")
            s.sendto(b"\x00\x01.ready-probe\x00octet\x00", (server.host, server.port))
            try:
                data, _ = s.recvfrom(1024)
            except OSError:
                continue
            if data[:2] == b"\x00\x05":
                return
    raise TimeoutError("in.tftpd does not answer")


@contextmanager
def tftpd(root: Path, log: Path, *, host: str = "127.0.0.1") -> Iterator[FileServer]:
    """tftpd-hpa in the foreground, chrooted to ``root``, which may receive new files (``-c``)."""
    binary = require_peer("in.tftpd")["in.tftpd"]
    server = FileServer(host, free_port(host, socket.SOCK_DGRAM), root, log)
    argv = [binary, "-L", "-a", f"{host}:{server.port}", "-s", "-c", "-p", "-u", "root", "-v", str(root)]
    with _running(argv, server, ready="udp") as s:
        yield s


# ---------------------------------------------------------------------------------------------- vsftpd
_VSFTPD = """listen=YES
listen_address={host}
listen_port={port}
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root={root}
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_min_port={pasv}
pasv_max_port={pasv_max}
secure_chroot_dir={dir}/empty
xferlog_enable=YES
vsftpd_log_file={dir}/vsftpd-xfer.log
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
"""


@contextmanager
def vsftpd(work: Path, root: Path, *, host: str = "127.0.0.1") -> Iterator[FileServer]:
    """vsftpd serving ``root`` to anonymous users (the folder ``upload/`` in it takes uploads)."""
    binary = require_peer("vsftpd")["vsftpd"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "empty").mkdir(exist_ok=True)
    root.chmod(0o755)  # vsftpd refuses an anonymous root its user may write
    (root / "upload").mkdir(exist_ok=True)
    (root / "upload").chmod(0o777)
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    server = FileServer(host, free_port(host), root, work / "vsftpd.log")
    pasv = free_port(host)
    (work / "vsftpd.conf").write_text(_VSFTPD.format(host=host, port=server.port, root=root, dir=work, pasv=pasv,
                                                     pasv_max=pasv + 20))
    with _running([binary, str(work / "vsftpd.conf")], server) as s:
        yield s
