"""Lab files: what a lab says about its units, checked before anything runs.

A lab file is TOML (or JSON with the same shape)::

    state_dir = "state/lab"          # optional; each unit gets <state_dir>/<name>
    [defaults]                       # optional: any unit key below (but name), for every unit
    assume_time_synchronized = true
    other_certificates = ["proxy-ca.pem"]        # added to each unit's own list
    host_certificate = "certs/{name}.pem"        # {name} is the unit's name
    [defaults.settings]                          # merged under each unit's settings
    "SipEp.DefaultRegistrarHost" = "127.0.0.1:5061"
    [[unit]]
    name = "fxs"
    profile = "4102"
    host = "127.0.0.2"               # optional: units get 127.0.0.2, .3, ... in order
    clock_offset = 0                 # optional, seconds added to the host clock (kept across SNTP syncs)
    assume_time_synchronized = false # optional: count the host clock as synchronised from boot
    dhcp_sntp_servers = []           # optional: what "Automatic" SNTP would get from DHCP
    dhcp_acs_url = "http://127.0.0.1:7547/acs"  # optional: what DHCP option 43 would give TR-069
    dhcp_interface = "eth1"          # optional: run a real DHCP client on this interface (container or
                                     # network namespace only); its lease overrides the two keys above
    dns_port = 53                    # optional: the port of the DNS servers the unit asks (emulator addition)
    api_port = 8000                  # optional
    other_certificates = ["peer.pem"]            # optional: CA or peer certificates (PEM, chain or DER) for
                                                 # the "Other" store, installed at every start when missing
    host_certificate = "fxs.pem"     # optional: the host certificate the unit presents (PEM bundle with its
    host_key = "fxs.key"             # key, or the key here; or PKCS#12 with host_certificate_password)
    [unit.phones.Phone-Fax1]         # optional: the endpoint's phone, as PUT /api/v1/endpoints/{EpId}/media
    source = { tone = [1000] }       # or { wav = "name.wav" } (in <state dir>/audio)
    initial_sequence = 65436         # its RTP streams start 100 packets before the rollover
    fax = { receive = "in.tif" }     # its fax machine: { send = "page.tif" } or { receive = ... } (in
                                     # <state dir>/fax), armed at every start for the first call
    [unit.settings]                  # optional, applied at first boot only, as one configuration script
    "Hoc.StaticTimeZone" = "EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00"
    "SipEp.Authentication.Username[Index=1]" = "fxs"      # a new row of a dynamic table
    "Nlm.Events.Delete[Index=2]" = "Delete"              # a row command
    "Scm.RestartRequiredServices" = true                 # a command: true runs it, false leaves the line out
    settings_file = "secrets/{name}.cfg"                 # optional: script lines run after the settings (e.g.
                                                         # passwords kept out of the lab file)

``settings`` may also be a string holding script lines (``settings = \"\"\"...\"\"\"``). The settings of
``[defaults]`` come first, then the unit's (a unit's value for the same name wins), then the lines of
``settings_file``. Relative file names are relative to the lab file's folder.

A slice (``part = (k, n)``, ``dgw-emulator run --slice k/n``) keeps the k-th of n contiguous shares of the
units (0-based; share sizes differ by one at most, as the workers' shares do): a fleet of pods runs one lab
file, each pod its own slice. Names and default addresses stay those of the whole lab. ``host`` (the
command's ``--host`` with a lab) puts every unit on that one address (a pod's): the units then need
different ports (``api_port`` and the faces' port parameters, or ``--port-mode auto``).
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emulator.runtime.spec import DEFAULT_API_PORT, UnitSpec
from firmware_model.profiles import get_profile
from firmware_model.script import quote

__all__ = ["LabError", "load_lab", "parse_slice", "settings_script", "slice_range", "specs_from_lab"]

CERTIFICATE_KEYS = ("other_certificates", "host_certificate", "host_key")


class LabError(ValueError):
    pass


def load_lab(path: Path) -> dict[str, Any]:
    text = Path(path).read_text()
    try:
        doc: dict[str, Any] = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise LabError(f"{path}: {e}") from None
    return doc


def specs_from_lab(
    doc: dict[str, Any], state_root: Path, port_mode: str = "hardware", fsync: bool = True,
    base_dir: Path | None = None, part: tuple[int, int] | None = None, host: str | None = None,
) -> list[UnitSpec]:
    """One spec per ``[[unit]]`` (of the slice ``part``, if given) with ``[defaults]`` merged in; a LabError
    names the unit and the key."""
    units = doc.get("unit") or doc.get("units") or []
    if not isinstance(units, list) or not units:
        raise LabError("a lab needs at least one [[unit]]")
    share = slice_range(len(units), part) if part is not None else range(len(units))
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise LabError("[defaults] must be a table of unit keys")
    if "name" in defaults:
        raise LabError("[defaults] cannot give a name: every unit has its own")
    base = Path(base_dir) if base_dir is not None else Path(".")
    root = Path(doc.get("state_dir") or state_root)
    specs: list[UnitSpec] = []
    names: set[str] = set()
    hosts: set[tuple[str, int, str]] = set()
    dhcp_interfaces: dict[str, str] = {}
    next_host = ipaddress.ip_address("127.0.0.2")
    for i, raw in enumerate(units):
        if not isinstance(raw, dict):
            raise LabError(f"[[unit]] number {i + 1} is not a table")
        name = str(raw.get("name") or f"unit{i + 1}")
        if name in names or "/" in name or name.startswith("."):
            raise LabError(f"unit name {name!r} is duplicated or not a valid folder name")
        names.add(name)
        u = _merged(name, defaults, raw)
        unit_host = str(u.get("host") or next_host)
        try:
            addr = ipaddress.ip_address(unit_host)
        except ValueError:
            raise LabError(f"unit {name}: host {unit_host!r} is not an IP address") from None
        if not addr.is_loopback and not u.get("allow_non_loopback") and host is None:
            raise LabError(f"unit {name}: {unit_host} is not a loopback address (set allow_non_loopback = true)")
        next_host = max(next_host, addr) + 1 if addr.version == 4 else next_host
        if i not in share:
            continue
        unit_host = host or unit_host
        api_port = int(u.get("api_port", DEFAULT_API_PORT))
        key = (unit_host, api_port, port_mode)
        if port_mode != "auto" and key in hosts:
            raise LabError(f"unit {name}: {unit_host}:{api_port} is already used by another unit")
        hosts.add(key)
        dhcp_interface = str(u.get("dhcp_interface") or "") or None
        if dhcp_interface is not None:
            if dhcp_interface in dhcp_interfaces:  # same MAC, same lease: two units cannot share it
                raise LabError(f"unit {name}: dhcp_interface {dhcp_interface} is already used by unit "
                               f"{dhcp_interfaces[dhcp_interface]}")
            dhcp_interfaces[dhcp_interface] = name
        profile = str(u.get("profile", "4102"))
        state_dir = Path(u.get("state_dir") or root / name)
        table, script = _settings(name, u.get("settings"))
        settings_file = _file(name, "settings_file", u.get("settings_file"), base)
        if settings_file is not None:
            script = "\n".join(s for s in (script, settings_file.read_text()) if s)
        settings_script(table, script, unit=name)  # every value can be written as a script line
        password = u.get("host_certificate_password")
        specs.append(
            UnitSpec(
                name=name,
                profile=profile,
                host=unit_host,
                state_dir=state_dir,
                clock_offset=float(u.get("clock_offset", 0)),
                api_port=api_port,
                port_mode=port_mode,
                fsync=fsync,
                settings=table,
                script=script,
                assume_time_synchronized=bool(u.get("assume_time_synchronized", False)),
                dhcp_sntp_servers=[str(x) for x in (u.get("dhcp_sntp_servers") or [])],
                dhcp_acs_url=str(u["dhcp_acs_url"]) if u.get("dhcp_acs_url") else None,
                dhcp_interface=dhcp_interface,
                dns_port=int(u.get("dns_port", 53)),
                phones=_phones(name, profile, u.get("phones"), state_dir / "audio"),
                other_certificates=_files(name, "other_certificates", u.get("other_certificates"), base),
                host_certificate=_file(name, "host_certificate", u.get("host_certificate"), base),
                host_key=_file(name, "host_key", u.get("host_key"), base),
                host_certificate_password=str(password) if password is not None else None,
            )
        )
        if specs[-1].host_key is not None and specs[-1].host_certificate is None:
            raise LabError(f"unit {name}: host_key without host_certificate")
    return specs


def slice_range(count: int, part: tuple[int, int]) -> range:
    """The units (by position) of the ``k``-th of ``n`` contiguous shares of ``count`` units."""
    k, n = part
    if n < 1:
        raise LabError(f"slice {k}/{n}: N (the number of slices) must be 1 or more")
    if not 0 <= k < n:
        raise LabError(f"slice {k}/{n}: K (the slice, counted from 0) must be 0 to {n - 1}")
    if n > count:
        raise LabError(f"slice {k}/{n}: the lab has {count} unit(s), fewer than {n} slices (one would be empty)")
    return range(count * k // n, count * (k + 1) // n)


def parse_slice(text: str) -> tuple[int, int]:
    """``"K/N"`` (as ``--slice`` takes it) as ``(K, N)``; a LabError says what is wrong."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise LabError(f"--slice {text!r}: expected K/N, e.g. 0/3 (slice K of N, K from 0)")
    part = int(k), int(n)
    slice_range(max(part[1], 1), part)  # K and N in range
    return part


def _merged(name: str, defaults: Mapping[str, Any], unit: Mapping[str, Any]) -> dict[str, Any]:
    """A unit's keys over the lab's defaults; settings and phones merge, certificate lists add up."""
    out = {**defaults, **unit}
    if "settings" in defaults and "settings" in unit:
        d_table, d_script = _settings(name, defaults["settings"])
        u_table, u_script = _settings(name, unit["settings"])
        table = {**d_table, **u_table}
        script = "\n".join(s for s in (d_script, u_script) if s)
        out["settings"] = (table, script)
    if isinstance(defaults.get("phones"), dict) and isinstance(unit.get("phones"), dict):
        out["phones"] = {**defaults["phones"], **unit["phones"]}
    if "other_certificates" in defaults and "other_certificates" in unit:
        both = [*_as_list(defaults["other_certificates"]), *_as_list(unit["other_certificates"])]
        out["other_certificates"] = list(dict.fromkeys(both))
    return out


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _settings(unit: str, raw: Any) -> tuple[dict[str, Any], str]:
    """(table of ``name -> value``, script text) from a settings table or a settings string."""
    if raw is None:
        return {}, ""
    if isinstance(raw, tuple):  # already merged
        return raw
    if isinstance(raw, str):
        return {}, raw
    if not isinstance(raw, dict):
        raise LabError(f"unit {unit}: settings must be a table of parameters or a string of script lines")
    return dict(raw), ""


def settings_script(settings: Mapping[str, Any], script: str = "", unit: str = "") -> str:
    """A lab's settings as one configuration script: ``Name = value`` lines in the table's order (``true``
    runs a command, ``false`` leaves its line out), then the script lines."""
    lines: list[str] = []
    for name, value in settings.items():
        where = f"unit {unit}: settings {name!r}"
        if value is True:
            lines.append(str(name))
            continue
        if value is False:
            continue
        if isinstance(value, list | dict) or value is None:
            raise LabError(f"{where}: a value must be a string or a number (true runs a command)")
        try:
            lines.append(f"{name} = {quote(str(value))}")
        except ValueError as e:
            raise LabError(f"{where}: {e}") from None
    if script:
        lines.append(script)
    return "\n".join(lines)


def _file(unit: str, key: str, raw: Any, base: Path) -> Path | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise LabError(f"unit {unit}: {key} must be a file name")
    path = base / raw.replace("{name}", unit)
    if not path.is_file():
        raise LabError(f"unit {unit}: {key} {path}: no such file")
    return path


def _files(unit: str, key: str, raw: Any, base: Path) -> list[Path]:
    if raw is None:
        return []
    out = [_file(unit, key, item, base) for item in _as_list(raw)]
    return [p for p in out if p is not None]


def _phones(unit: str, profile: str, raw: Any, audio_dir: Path) -> dict[str, dict[str, Any]]:
    """Check a unit's ``[unit.phones.<EpId>]`` tables now, so a bad lab file is refused before anything runs."""
    if raw is None:
        return {}
    # The media stack loads for a lab that names phones only: a supervisor of workers, or a lab without phones,
    # starts without it (issue 14: a fleet's start; cold, every module loaded is compiled first).
    from emulator.engines.mipt.endpoint_audio import AudioError, EndpointAudio, parse_media_request
    from emulator.engines.mipt.fax_calls import FaxError, parse_fax_request

    if not isinstance(raw, dict):
        raise LabError(f"unit {unit}: phones must be a table of endpoints")
    try:
        endpoints = get_profile(profile).endpoints
    except KeyError:
        endpoints = ()
    out: dict[str, dict[str, Any]] = {}
    for ep, body in raw.items():
        if ep not in endpoints:
            raise LabError(f"unit {unit}: phones.{ep}: no such endpoint on a {profile} ({', '.join(endpoints)})")
        if not isinstance(body, dict):
            raise LabError(f"unit {unit}: phones.{ep} must be a table")
        audio = {k: v for k, v in body.items() if k != "fax"}
        try:
            parse_media_request(audio, EndpointAudio(), audio_dir)
            if "fax" in body:
                parse_fax_request(body["fax"])
        except (AudioError, FaxError) as e:
            raise LabError(f"unit {unit}: phones.{ep}: {e}") from None
        out[ep] = dict(body)
    return out
