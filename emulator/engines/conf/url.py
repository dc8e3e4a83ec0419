"""Where the Conf service's files are: URLs built from its parameters, DGW macros, and the DHCP options 66/67.

* **Scripts** (MX-CONF-MIB ``ScriptsTransfer*``): ``<protocol>://<ScriptsTransferSrvHostname>/<ScriptsLocation>/
  <file name>`` for ``ScriptGenericFileName`` then ``ScriptSpecificFileName`` (each optional); port 0 means the
  protocol's default; the credentials are ``ScriptsTransferUsername``/``Password``.
* **Macros** ``%mac% %version% %product% %productseries% %profile% %serial%`` (values from ``Unit.macros()``) in
  file names, the location and a DHCP-given URL; an unknown ``%word%`` stays as written (no ``%%`` escape is
  documented).
* **URLs given whole** (``Conf.ScriptExportUrl``, ``Fpu.MfpUrl``, DHCP ``Url`` form):
  ``protocol://[user[:password]@]host[:port]/[path/]file``; the credentials are taken as written (the vendor
  documents no percent-escaping, and forbids ``/ : @`` in them).
* **DHCP** (``Conf.ScriptsDhcpOptionsFormat``): option 66 (tftp-server) and 67 (bootfile), or the same numbers as
  sub-options of option 43, in four forms — ``FullyQualified`` (``Script=<url>`` in each), ``Url`` (one URL; a
  trailing ``/`` gets ``ScriptsLocation`` and ``ScriptGenericFileName`` appended), ``ServerHost`` (a host; all else
  from the Conf parameters) and ``AutoDetect`` (by prefix). When both options give a script, 66's runs first.
* **File** protocol: the unit's own storage, ``<state dir>/files/persistent/...`` (``Persistent:`` prefix or none)
  and ``<state dir>/files/volatile/...`` (``Volatile:``) — an emulator choice for the File service's disks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from firmware_model.config import Config
from firmware_model.schema import split_host_port

__all__ = [
    "DEFAULT_PORTS",
    "MACROS",
    "Target",
    "UrlError",
    "dhcp_targets",
    "expand",
    "parse_url",
    "script_targets",
    "target_from_parameters",
]

MACROS = ("mac", "version", "product", "productseries", "profile", "serial")
DEFAULT_PORTS = {"http": 80, "https": 443, "tftp": 69, "ftp": 21, "file": 0}
_MACRO = re.compile(r"%([a-z]+)%")
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.S)


class UrlError(ValueError):
    """A URL or DHCP option the unit cannot use."""


@dataclass(frozen=True, slots=True)
class Target:
    """One file on one server (or on the unit's storage when ``scheme`` is ``file``)."""

    scheme: str  # http | https | tftp | ftp | file
    host: str
    port: int  # 0: the protocol's default
    path: str  # without the leading "/" ("folder/file.cfg"); for file: "Persistent:folder/file"
    username: str = ""
    password: str = ""

    @property
    def real_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.scheme]

    @property
    def shown(self) -> str:
        """The URL without its password (logs, notifications, status)."""
        if self.scheme == "file":
            return f"file://{self.path}"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{user}{host}{port}/{self.path}"

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def expand(text: str, macros: Mapping[str, str], allowed: tuple[str, ...] = MACROS) -> str:
    """``text`` with each allowed ``%macro%`` replaced by its value."""
    return _MACRO.sub(lambda m: macros.get(m.group(1), m.group(0)) if m.group(1) in allowed else m.group(0), text)


def _join(*parts: str) -> str:
    """Path parts joined with single slashes, without a leading one."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def _protocol(config: Config, name: str) -> str:
    return config.get_text(name).lower()


def target_from_parameters(config: Config, prefix: str, file_name: str, location: str,
                           host: str | None = None) -> Target:
    """A target from ``<prefix>TransferProtocol`` / ``SrvHostname`` / ``Username`` / ``Password`` (``Conf.Scripts``
    or ``Conf.Image``), with ``host`` overriding the configured server (DHCP ``ServerHost``)."""
    scheme = _protocol(config, f"{prefix}TransferProtocol")
    if scheme == "file":
        return Target("file", "", 0, _file_path(location, file_name))
    server = host if host is not None else config.get_text(f"{prefix}TransferSrvHostname")
    name, port = split_host_port(server)
    if not name or name in ("0.0.0.0", "::"):
        raise UrlError(f"no server: {prefix}TransferSrvHostname is {server!r}")
    return Target(scheme, name.strip("[]"), port or 0, _join(location, file_name),
                  config.get_text(f"{prefix}TransferUsername"), config.get_text(f"{prefix}TransferPassword"))


def _file_path(location: str, file_name: str) -> str:
    disk, sep, rest = location.partition(":")
    if sep and disk.lower() in ("persistent", "volatile"):
        return f"{disk.capitalize()}:{_join(rest, file_name)}"
    return f"Persistent:{_join(location, file_name)}"


def script_targets(config: Config, macros: Mapping[str, str]) -> list[tuple[str, Target]]:
    """``[("generic", target), ("specific", target)]``, each only when its file name is set."""
    location = expand(config.get_text("Conf.ScriptsLocation"), macros)
    out = []
    for kind, param in (("generic", "Conf.ScriptGenericFileName"), ("specific", "Conf.ScriptSpecificFileName")):
        name = expand(config.get_text(param), macros)
        if name:
            out.append((kind, target_from_parameters(config, "Conf.Scripts", name, location)))
    return out


def parse_url(text: str, *, allowed: tuple[str, ...] = tuple(DEFAULT_PORTS)) -> Target:
    """``protocol://[user[:password]@]host[:port]/[path/]file`` (see the module docstring)."""
    m = _URL.match(text.strip())
    if m is None:
        raise UrlError(f"{text!r} is not a URL (protocol://host/path/file)")
    scheme = m.group("scheme").lower()
    if scheme not in allowed:
        raise UrlError(f"{text!r}: protocol {scheme} is not one of {', '.join(allowed)}")
    rest = m.group("rest")
    if scheme == "file":
        if not rest or rest.startswith("/"):
            raise UrlError(f"{text!r}: a file URL names a file of the unit (file://folder/file)")
        location, _, name = rest.rpartition("/")
        return Target("file", "", 0, _file_path(location, name))
    authority, _, path = rest.partition("/")
    user = password = ""
    if "@" in authority:
        creds, _, authority = authority.rpartition("@")
        user, _, password = creds.partition(":")
    try:
        host, port = split_host_port(authority)
    except ValueError as e:
        raise UrlError(f"{text!r}: {e}") from None
    if not host:
        raise UrlError(f"{text!r} names no server")
    return Target(scheme, host.strip("[]"), port or 0, path, user, password)


# ---------------------------------------------------------------------------------------------- DHCP
def _looks_like_host(text: str) -> bool:
    host = text.strip().strip("[]")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*",
                             name)) and (not port or port.isdigit())


def _detect(value: str) -> str:
    if value.startswith("Script="):
        return "FullyQualified"
    if _URL.match(value):
        return "Url"
    if _looks_like_host(value):
        return "ServerHost"
    raise UrlError(f"DHCP script option {value!r} is neither Script=<url>, a URL nor a host")


def dhcp_targets(options: list[str], fmt: str, config: Config, macros: Mapping[str, str]) -> list[Target]:
    """The scripts DHCP names, in running order: ``options`` are the non-empty values of option 66 then 67 (or of
    option 43's sub-options 66 then 67). ``fmt`` is ``Conf.ScriptsDhcpOptionsFormat``."""
    out: list[Target] = []
    for raw in options:
        value = raw.strip()
        form = _detect(value) if fmt == "AutoDetect" else fmt
        if form == "FullyQualified":
            if not value.startswith("Script="):
                raise UrlError(f"DHCP script option {value!r} does not start with Script=")
            out.append(parse_url(expand(value[len("Script="):], macros), allowed=("http", "https", "tftp", "ftp")))
        elif form == "Url":
            t = parse_url(expand(value, macros), allowed=("http", "https", "tftp", "ftp"))
            if not t.path or t.path.endswith("/"):  # a folder: the configured location and generic file
                location = expand(config.get_text("Conf.ScriptsLocation"), macros)
                name = expand(config.get_text("Conf.ScriptGenericFileName"), macros)
                t = replace(t, path=_join(t.path, location, name))
            out.append(t)
        else:  # ServerHost
            if not _looks_like_host(value):
                raise UrlError(f"DHCP script option {value!r} is not a host name or address")
            location = expand(config.get_text("Conf.ScriptsLocation"), macros)
            name = expand(config.get_text("Conf.ScriptGenericFileName"), macros)
            if not name:
                raise UrlError("DHCP gave a server but Conf.ScriptGenericFileName is empty")
            out.append(target_from_parameters(config, "Conf.Scripts", name, location, host=value))
        if fmt != "FullyQualified" and form != "FullyQualified":
            break  # Url and ServerHost: one option (MX-CONF-MIB), the first given
    return out
