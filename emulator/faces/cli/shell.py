"""The DGW command-line interpreter, without any I/O: a line of text in, a reply out.

Implements the CLI face of the parameter model (``Cli`` service, DGW facts §3.2 and addendum):
names are case-insensitive, typing a name reads it (scalar, table cell, whole table, a table
column across rows, or a whole service), ``Name = value`` assigns through :meth:`Config.set`
(enum values by label, spaces around ``=`` tolerated, values parsed like configuration-script
lines), row commands run with or without ``= <Command>``, ``unit.commands`` (e.g.
``Scm.RestartRequiredServices``) run by name, ``sysinfo`` prints ``Key: value`` lines, ``help``
describes names from the catalog and ``<prefix>?`` lists matching names.

Rights (``Aaa.Users.AccessRights``): Observer reads only; secrets (passwords, keys) are shown as
``****`` and may not be changed without the "secrets" right (Admin); changing ``Aaa.Users``
needs the "admin" right. Validation is never done here: :class:`Config` owns it and its
:class:`ConfigError` message is printed as is.

Emulator choices (the hardware's are not public): the prompt is ``<Hoc.HostName or unit name>>``;
tables print as aligned columns (index columns first) under a dashed header; a service prints
``Name = value`` lines in script syntax (values quoted where a script needs it, so they can be
pasted back); errors start with ``Error:``. Script comments (``# ...``) are accepted.

Certificate commands (emulator choices, the hardware's CLI syntax is not public), for a unit that has
a Cert engine (``unit.cert``)::

    Cert.Import Other <url>              fetch a CA / peer certificate (PEM, chain or DER): User or Admin
    Cert.Import Host <url> [<password>]  fetch a host certificate with its key (PEM bundle or PKCS#12): Admin
    Cert.ActivateUnsecureTransfer        allow ONE host import from an http:// URL within 5 minutes: Admin

``https://`` transfers honour ``Cert.TransferHttpsTlsVersion`` / ``Cert.TransferHttpsCipherSuite`` and
validate the server like every TLS client of the unit (trusted issuer, name, dates on the unit's
clock, which must be synchronised). A password holding spaces or ``#`` is written in double quotes.
The certificate tables print like any table (``Cert.HostCertificatesInfo``) and their ``Delete`` row
command deletes a file (Admin only, as in the HTTP API).

The shell does no I/O and runs no event loop: a transfer is returned as :attr:`Reply.pending`, a
coroutine function the session awaits for the final reply. The SSH glue
(``emulator/faces/cli/server.py``) feeds lines to :meth:`CliShell.execute`, awaits ``pending`` when
there is one, and asks :meth:`CliShell.complete` for TAB completion.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from firmware_model.certs import CertError
from firmware_model.config import Address, Config, ConfigError
from firmware_model.profiles import Identity, Profile
from firmware_model.schema import Param, Service, Table, Value
from firmware_model.script import quote, split_assignment, strip_comment, unquote

if TYPE_CHECKING:
    from emulator.engines.aaa import AuthResult

__all__ = [
    "CERT_COMMANDS",
    "KEYWORDS",
    "MASK",
    "CliShell",
    "Completion",
    "Reply",
    "ShellUnit",
    "columns",
    "decode_welcome",
    "format_table",
]

MASK = "****"
KEYWORDS = ("exit", "help", "logout", "quit", "sysinfo")
_EXIT = {"exit", "quit", "logout"}
CALL_KEYWORDS = ("calls", "offhook", "dial", "answer", "hangup", "hold", "resume", "transfer")
AUDIO_KEYWORDS = ("play", "record", "listen", "dtmf")
_AUDIO_USAGE = {
    "play": "play <EpId> tone <Hz> [<Hz>...] [level <dBm0>] | play <EpId> wav <name.wav> | play <EpId> silence",
    "record": "record <EpId> <name.wav> | record <EpId> off",
    "listen": "listen <EpId>",
    "dtmf": "dtmf <EpId> <digits>",
}
CERT_IMPORT = "Cert.Import"
CERT_ACTIVATE = "Cert.ActivateUnsecureTransfer"
CERT_COMMANDS = (CERT_ACTIVATE, CERT_IMPORT)
_CERT_HELP = {
    CERT_IMPORT: (
        "Cert.Import Other <url> | Cert.Import Host <url> [<password>]",
        "fetch a certificate file from an http:// or https:// URL and install it: Other = a CA or peer "
        "certificate (PEM, a chain or DER; User or Admin), Host = a certificate with its private key (PEM bundle "
        "or PKCS#12; Admin only; the password of an encrypted key or PKCS#12 file, quoted if it holds spaces). "
        "HTTPS honours Cert.TransferHttpsTlsVersion and Cert.TransferHttpsCipherSuite and validates the server; "
        "a Host import from an http:// URL needs Cert.ActivateUnsecureTransfer first.",
    ),
    CERT_ACTIVATE: (
        "Cert.ActivateUnsecureTransfer",
        "allow ONE host certificate import over plain HTTP (an http:// URL, a web or API upload over HTTP) "
        "within 5 minutes; Admin only.",
    ),
}
# Tables whose changes (row commands included) need the "admin" right, and the reason shown.
_ADMIN_TABLES = {
    "Aaa.Users": "only an Admin user may change user accounts",
    "Cert.HostCertificatesInfo": "only an Admin user may delete certificates",
    "Cert.OthersCertificatesInfo": "only an Admin user may delete certificates",
}
# Services whose TLS contexts use the certificate store: an import marks them as needing a restart,
# as the web page's and the API's imports do.


class ShellUnit(Protocol):
    """What the shell needs from a unit (``emulator.runtime.unit.Unit`` fits)."""

    name: str
    config: Config
    commands: dict[str, Callable[[], Any]]
    profile: Profile
    identity: Identity
    version: str


@dataclass(slots=True)
class Reply:
    """The answer to one line: text to show, success (exit status 0/1) and end of session.

    ``pending``: work that needs the network (a certificate transfer). The session shows ``output``,
    awaits ``pending()`` and shows the reply it returns (the line's outcome)."""

    output: str = ""
    ok: bool = True
    exit: bool = False
    pending: Callable[[], Awaitable[Reply]] | None = None

    @classmethod
    def error(cls, message: str) -> Reply:
        return cls(f"Error: {message}\n", ok=False)


@dataclass(slots=True)
class Completion:
    """The input line after TAB, and the names to list when the completion is ambiguous."""

    line: str
    pos: int
    candidates: list[str] = field(default_factory=list)

    def changed(self, line: str, pos: int) -> bool:
        return (self.line, self.pos) != (line, pos)


def decode_welcome(text: str) -> str:
    """``Cli.WelcomeMessage`` escapes: ``\\n`` newline, ``\\t`` tab, ``\\\\`` backslash."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns under a dashed header; trailing spaces removed."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out) + "\n"


def columns(names: Sequence[str], width: int = 80) -> str:
    """Names laid out in columns that fit ``width`` characters (for completion listings)."""
    if not names:
        return ""
    cell = max(len(n) for n in names) + 2
    per_line = max(1, width // cell)
    lines = []
    for i in range(0, len(names), per_line):
        lines.append("".join(n.ljust(cell) for n in names[i : i + per_line]).rstrip())
    return "\n".join(lines) + "\n"


def _common_prefix(names: Sequence[str]) -> str:
    """Longest case-insensitive common prefix, in the case of the first name."""
    first = names[0]
    n = len(first)
    for other in names[1:]:
        n = min(n, len(other))
        for i in range(n):
            if first[i].lower() != other[i].lower():
                n = i
                break
    return first[:n]


class CliShell:
    """One CLI session's interpreter, bound to a unit and the logged-in user's rights."""

    def __init__(self, unit: ShellUnit, user: AuthResult) -> None:
        self.unit = unit
        self.user = user
        self.config = unit.config
        self.catalog = unit.config.catalog

    # ------------------------------------------------------------------ session texts
    @property
    def prompt(self) -> str:
        host = self.config.get_text("Hoc.HostName") if self.catalog.param("Hoc.HostName") else ""
        return f"{host or self.unit.name}> "

    def welcome(self) -> str:
        """The decoded ``Cli.WelcomeMessage`` ending with a newline, or "" when empty."""
        text = decode_welcome(self.config.get_text("Cli.WelcomeMessage"))
        return text if not text or text.endswith("\n") else text + "\n"

    # ------------------------------------------------------------------ dispatch
    def execute(self, line: str) -> Reply:
        """Run one line and return what to show."""
        text = strip_comment(line).strip()
        if not text:
            return Reply()
        word, _, rest = text.partition(" ")
        keyword = word.lower()
        if keyword in _EXIT and not rest.strip():
            return Reply(exit=True)
        if keyword == "sysinfo" and not rest.strip():
            return Reply(self.sysinfo())
        if keyword == "help":
            return self.help(rest.strip())
        cert_command = self._cert_command_name(word)
        if cert_command is not None:
            return self._cert_command(cert_command, rest.strip())
        if keyword in CALL_KEYWORDS and self._call_manager() is not None:
            return self._call_command(keyword, rest.strip())
        if keyword in AUDIO_KEYWORDS and self._call_manager() is not None:
            return self._audio_command(keyword, rest.strip())
        if text.endswith("?") and "=" not in text:
            return self._list_matches(text[:-1].strip())
        try:
            assignment = split_assignment(text)
        except ValueError as e:
            return Reply.error(str(e))
        if assignment is not None:
            name, raw = assignment
            try:
                value = unquote(raw)
            except ValueError as e:
                return Reply.error(f"{name.strip()}: {e}")
            return self.assign(name.strip(), value)
        return self.read(text)

    # ------------------------------------------------------------------ reading
    def read(self, name: str) -> Reply:
        command = self._unit_command(name)
        if command is not None:
            return self._run_unit_command(command)
        if "[" not in name:
            svc = self.catalog.service(name)
            if svc is not None:
                return Reply(self._service_text(svc))
            table = self.catalog.table(name)
            if table is not None:
                return Reply(self._table_text(table))
            p = self.catalog.param(name)
            if p is not None and p.table is not None:
                table = self.catalog.tables[p.table]
                if p.is_command:
                    want = ",".join(table.index)
                    return Reply.error(f"{p.name}: a row command needs a row, e.g. {p.name}[{want}=<value>]")
                return Reply(self._table_text(table, only=p))
        try:
            addr = self.config.resolve(name)
        except ConfigError as e:
            return Reply.error(e.message)
        if addr.param.is_command:
            return self._row_command(addr, addr.param.type.values[1][0])
        try:
            value = self.config.get(addr)
        except ConfigError as e:
            return Reply.error(e.message)
        return Reply(self._show(addr.param, value) + "\n")

    def _show(self, p: Param, value: Value | None) -> str:
        if p.secret and not self.user.can("secrets"):
            return MASK
        return "" if value is None else str(value)

    def _service_text(self, svc: Service) -> str:
        scalars = list(svc.params.values())
        width = max((len(p.name) for p in scalars), default=0)
        lines = [f"{p.name.ljust(width)} = {self._quoted(p)}" for p in scalars]
        if svc.tables:
            lines.append("Tables: " + ", ".join(t.name for t in svc.tables.values()))
        return "\n".join(lines) + "\n"

    def _quoted(self, p: Param) -> str:
        """A value as a script would write it, so a service listing can be pasted back."""
        shown = self._show(p, self.config.get(p.name))
        if shown == MASK:
            return shown
        try:
            return quote(shown)
        except ValueError:
            return shown

    def _table_text(self, table: Table, only: Param | None = None) -> str:
        cols = [table.columns[c] for c in table.index]
        if only is not None:
            if only not in cols:
                cols.append(only)
        else:
            cols += [p for c, p in table.columns.items() if c not in table.index and not p.is_command]
        rows = [[self._show(p, row.get(p.column or "")) for p in cols] for row in self.config.rows(table.name)]
        return format_table([p.column or p.name for p in cols], rows)

    # ------------------------------------------------------------------ writing
    def _refusal(self, p: Param) -> str | None:
        if not self.user.can("write"):
            return f"{p.name}: user {self.user.user} has read-only access ({self.user.rights or 'no'} rights)"
        if p.secret and not self.user.can("secrets"):
            return f"{p.name}: only an Admin user may change a secret"
        if p.table in _ADMIN_TABLES and not self.user.can("admin"):
            return f"{p.name}: {_ADMIN_TABLES[p.table]}"
        return None

    def assign(self, name: str, value: str) -> Reply:
        if self._unit_command(name) is not None:
            return Reply.error(f"{name}: a command takes no value")
        if "[" not in name and (self.catalog.service(name) or self.catalog.table(name)):
            return Reply.error(f"{name}: not a parameter; assign a scalar or a table cell")
        try:
            addr = self.config.resolve(name)
        except ConfigError as e:
            return Reply.error(e.message)
        p = addr.param
        refusal = self._refusal(p)
        if refusal:
            return Reply.error(refusal)
        if p.is_command:
            return self._row_command(addr, value)
        try:
            self._set(addr, value)
        except ConfigError as e:
            return Reply.error(e.message)
        return Reply(self._restart_note(p))

    def _set(self, addr: Address, value: str) -> None:
        """``Config.set``; a cell of a missing row of a dynamic table creates the row (like scripts)."""
        try:
            self.config.set(addr, value, source="cli")
        except ConfigError as e:
            p = addr.param
            if e.kind != "no-row" or p.table is None or addr.index is None:
                raise
            if not self.catalog.tables[p.table].dynamic:
                raise
            with self.config.batch():
                self.config.add_row(p.table, index=addr.index, source="cli")
                self.config.set(addr, value, source="cli")

    def _restart_note(self, p: Param) -> str:
        if p.restart and self.config.needs_restart(p.service):
            return f"{p.service} needs a restart to apply the change (Scm.RestartRequiredServices)\n"
        return ""

    def _row_command(self, addr: Address, action: str) -> Reply:
        p = addr.param
        refusal = self._refusal(p)
        if refusal:
            return Reply.error(refusal)
        try:
            self.config.set(addr, action, source="cli")
        except ConfigError as e:
            return Reply.error(e.message)
        return Reply()

    # ------------------------------------------------------------------ unit commands
    def _unit_command(self, name: str) -> str | None:
        low = name.strip().lower()
        return next((k for k in self.unit.commands if k.lower() == low), None)

    def _run_unit_command(self, name: str) -> Reply:
        if not self.user.can("write"):
            return Reply.error(f"{name}: user {self.user.user} has read-only access ({self.user.rights} rights)")
        pending = self.config.restart_required() if name == "Scm.RestartRequiredServices" else None
        try:
            result = self.unit.commands[name]()
        except ConfigError as e:
            return Reply.error(e.message)
        if pending is not None:
            if not pending:
                return Reply("No service needs a restart\n")
            return Reply("Restarting: " + ", ".join(pending) + "\n")
        return Reply(result if isinstance(result, str) else "")

    # ------------------------------------------------------------------ certificate commands
    def _cert_engine(self) -> Any:
        return getattr(self.unit, "cert", None)

    # ------------------------------------------------------------------ phone actions (emulator additions)
    def _call_manager(self) -> Any:
        services = getattr(self.unit, "services", {})
        st = services.get("SipEp")
        return getattr(getattr(st, "engine", None), "calls", None)

    def _call_command(self, keyword: str, args: str) -> Reply:
        """``calls`` lists the calls; ``offhook|dial|answer|hangup|hold|resume <EpId> [number]`` acts on an
        endpoint like its user on the phone (the same actions as /api/v1/endpoints/...)."""
        from emulator.engines.sipep.calls import CallError, endpoint_action  # sans cycle: sipcalls imports no face

        manager = self._call_manager()
        if keyword == "calls":
            rows = [[str(r["id"]), r["endpoint"], r["direction"], r["state"], r["remote"], str(r["status"] or "")]
                    for r in manager.rows()]
            if not rows:
                return Reply("(no calls)\n")
            return Reply(format_table(["Id", "Endpoint", "Direction", "State", "Peer", "Status"], rows))
        if not self.user.can("write"):
            return Reply.error(f"{keyword}: user {self.user.user} has read-only access")
        parts = args.split()
        numbered = keyword in ("dial", "transfer")
        if not parts or numbered != (len(parts) == 2) or len(parts) > 2:
            usage = f"{keyword} <EpId> <number>" if numbered else f"{keyword} <EpId>"
            return Reply.error(f"{keyword}: usage: {usage}")
        body = {"number": parts[1]} if numbered else {}

        async def act() -> Reply:
            try:
                out = await endpoint_action(manager, parts[0], keyword, body)
            except CallError as e:
                return Reply.error(f"{keyword}: {e}")
            call = out.get("call")
            if call is None:
                return Reply(f"{out['endpoint']}: {keyword} done\n")
            return Reply(f"{out['endpoint']}: call {call['id']} {call['state']} ({call['remote']})\n")

        return Reply(pending=act)

    def _audio_command(self, keyword: str, args: str) -> Reply:
        """``play``/``record`` set what the endpoint's phone sends and records (the API's endpoint media);
        ``listen`` shows what its current call receives: level and dominant frequency."""
        from emulator.engines.mipt.call_media import CallMedia
        from emulator.engines.mipt.endpoint_audio import AudioError, parse_media_request

        manager = self._call_manager()
        hook = manager.media
        parts = args.split()
        usage = Reply.error(f"{keyword}: usage: {_AUDIO_USAGE[keyword]}")
        if not parts:
            return usage
        ep = next((str(r["EpId"]) for r in self.unit.config.rows("EpAdm.Endpoint")
                   if str(r["EpId"]).lower() == parts[0].lower()), None)
        if ep is None:
            return Reply.error(f"{keyword}: unknown endpoint {parts[0]!r}")
        if not isinstance(hook, CallMedia) or hook.audio_dir is None:
            return Reply.error(f"{keyword}: this unit's calls carry no media engine")
        if keyword == "listen":
            call = manager.current(ep)
            stream = getattr(getattr(call, "media", None), "stream", None)
            if stream is None or len(parts) != 1:
                return Reply.error(f"{ep}: no call with media") if len(parts) == 1 else usage
            st = stream.stats()
            freq = st.get("frequency")
            heard = f"{freq:.0f} Hz at {st.get('level_dbm0'):.1f} dBm0" if freq else "no tone"
            return Reply(f"{ep}: call {call.id} receives {heard}; {st.get('packets_received')} packets, "
                         f"{st.get('undecryptable')} undecryptable, srtp {'on' if st.get('srtp') else 'off'}, "
                         f"DTMF {st.get('dtmf_received') or 'none'}\n")
        if not self.user.can("write"):
            return Reply.error(f"{keyword}: user {self.user.user} has read-only access")
        if keyword == "dtmf":
            if len(parts) != 2:
                return usage
            from emulator.engines.sipep.calls import CallError

            async def send() -> Reply:
                try:
                    method = await manager.dtmf(ep, parts[1])
                except (CallError, ValueError) as e:
                    return Reply.error(f"dtmf: {e}")
                how = {"rfc4733": "RFC 4733 events", "info": "SIP INFO"}.get(method, "in band")
                return Reply(f"{ep}: sending {parts[1].upper()} ({how})\n")

            return Reply(pending=send)
        body: dict[str, Any]
        words = parts[1:]
        if keyword == "record":
            if len(words) != 1:
                return usage
            body = {"record": None if words[0].lower() == "off" else words[0]}
        elif words == ["silence"]:
            body = {"source": None}
        elif len(words) == 2 and words[0] == "wav":
            body = {"source": {"wav": words[1]}}
        elif len(words) >= 2 and words[0] == "tone":
            freqs, level = words[1:], None
            if len(freqs) >= 2 and freqs[-2] == "level":
                freqs, level = freqs[:-2], freqs[-1]
            source: dict[str, Any] = {"tone": freqs}
            if level is not None:
                source["level_dbm0"] = level
            body = {"source": source}
        else:
            return usage
        try:
            audio = parse_media_request(body, hook.audio_of(ep), hook.audio_dir)
            hook.set_audio(ep, audio)
        except (AudioError, OSError, ValueError) as e:
            return Reply.error(f"{keyword}: {e}")
        src = audio.source_json()
        return Reply(f"{ep}: plays {src or 'silence'}; records {audio.record or 'nothing'}\n")

    def _cert_command_name(self, word: str) -> str | None:
        if self._cert_engine() is None:
            return None
        low = word.lower()
        return next((c for c in CERT_COMMANDS if c.lower() == low), None)

    def takes_arguments(self, line: str) -> bool:
        """The line is a command followed by free-text arguments (a URL may hold ``?`` or ``=``), so
        ``?`` typed there is text, not a request for a listing."""
        word, sep, _ = line.strip().partition(" ")
        return bool(sep) and self._cert_command_name(word) is not None

    def _cert_command(self, name: str, args: str) -> Reply:
        cert = self._cert_engine()
        if name == CERT_ACTIVATE:
            if args:
                return Reply.error(f"{name}: takes no argument")
            if not self.user.can("admin"):
                return Reply.error(f"{name}: only an Admin user may activate the unsecure certificate transfer")
            cert.activate_unsecure_transfer()
            return Reply(
                "Unsecure certificate transfer activated: one host certificate import over plain HTTP "
                "is accepted within 5 minutes\n"
            )
        usage = f"{name}: usage: {_CERT_HELP[name][0]}"
        parts = args.split(None, 2)
        if len(parts) < 2:
            return Reply.error(usage)
        kind = parts[0].lower()
        if kind not in ("host", "other"):
            return Reply.error(f"{name}: {parts[0]!r} is not Host or Other; {usage}")
        try:
            url = unquote(parts[1])
            password = unquote(parts[2]) if len(parts) == 3 else None
        except ValueError as e:
            return Reply.error(f"{name}: {e}")
        if kind == "other" and password is not None:
            return Reply.error(f"{name}: a password is only for a Host certificate (its key or PKCS#12 file)")
        if not self.user.can("write"):
            rights = self.user.rights or "no"
            return Reply.error(f"{name}: user {self.user.user} has read-only access ({rights} rights)")
        if kind == "host" and not self.user.can("admin"):
            return Reply.error(f"{name}: only an Admin user may import a host certificate (it carries a private key)")

        async def transfer() -> Reply:
            try:
                await cert.ready()
                got = await cert.import_from_url(url, kind, password or None)
            except CertError as e:
                return Reply.error(f"{name}: {e.message}")
            names = [got] if isinstance(got, str) else list(got)
            label = "host certificate" if kind == "host" else "certificate(s)"
            return Reply(f"Imported {label}: {', '.join(names)}\n")

        return Reply(pending=transfer)

    # ------------------------------------------------------------------ sysinfo
    def sysinfo(self) -> str:
        """``Key: value`` lines, one per fact, for screen scrapers (netmiko-style parsers)."""
        u = self.unit
        facts = [
            ("Product", u.profile.product),
            ("Serial Number", u.identity.serial),
            ("MAC Address", u.identity.mac_colon),
            ("Firmware Version", f"DGW {u.version}"),
            ("Profile", u.profile.key),
            ("Hardware Revision", u.profile.hardware_revision),
            ("Unit Name", u.name),
            ("System Time", self.config.get_text("Hoc.SystemTime")),
            ("Uptime", self.config.get_text("Hoc.SystemUptime")),
        ]
        return "".join(f"{k}: {v}\n" for k, v in facts)

    # ------------------------------------------------------------------ help and names
    def help(self, name: str) -> Reply:
        if not name:
            return Reply(self._general_help())
        cert_command = self._cert_command_name(name)
        if cert_command is not None:
            syntax, what = _CERT_HELP[cert_command]
            return Reply(f"{syntax}\n  {what}\n")
        if self._unit_command(name) is not None:
            cmd = self._unit_command(name)
            what = "restarts every service waiting for a restart" if cmd == "Scm.RestartRequiredServices" else "runs"
            return Reply(f"{cmd}: a command; typing its name {what}.\n")
        svc = self.catalog.service(name)
        if svc is not None:
            return Reply(self._service_help(svc))
        table = self.catalog.table(name)
        if table is not None:
            return Reply(self._table_help(table))
        p = self.catalog.param(name.split("[", 1)[0]) if "[" in name else self.catalog.param(name)
        if p is None and "[" in name:
            try:
                p = self.config.resolve(name).param
            except ConfigError:
                p = None
        if p is None:
            return Reply.error(f"{name}: unknown name; type help for the syntax or <prefix>? to list names")
        return Reply(self._param_help(p))

    def _general_help(self) -> str:
        rows = [
            ("<Name>", "show a parameter, a table cell, a table, a column or a whole service"),
            ("<Name> = <value>", "change a parameter or a table cell; quote values with spaces"),
            ("<Svc>.<Table>.<Column>[<Key>=<v>]", "a table cell (<Svc>.<Table>[<v>].<Column> also works)"),
            ("<Svc>.<Table>.<Command>[<Key>=<v>]", "run a row command, e.g. Scm.ServiceCommands.Restart[Name=Cli]"),
            ("Scm.RestartRequiredServices", "restart every service that waits for a restart"),
            ("Cert.Import Other|Host <url> [<pw>]", "fetch and install a certificate (help Cert.Import)"),
            ("Cert.ActivateUnsecureTransfer", "allow one host certificate import over http:// (5 min)"),
            ("sysinfo", "product, serial number, MAC address, firmware version, time and uptime"),
            ("dial <EpId> <number>", "the endpoint's phone goes off-hook and dials (emulator addition)"),
            ("offhook|answer|hangup|hold|resume <EpId>", "what the endpoint's user does on the phone"),
            ("transfer <EpId> <number>", "blind transfer of the endpoint's call (REFER)"),
            ("calls", "the unit's calls and their states"),
            ("play <EpId> tone <Hz>...|wav <f>|silence", "what the endpoint's phone sends (emulator addition)"),
            ("record <EpId> <file.wav>|off", "record what the endpoint's calls receive (audio directory)"),
            ("listen <EpId>", "level and frequency the endpoint's call receives, and DTMF digits"),
            ("dtmf <EpId> <digits>", "send DTMF digits in the endpoint's call (RFC 4733 events)"),
            ("help <Name>", "what a parameter, table or service is, its type and its default"),
            ("<prefix>?", "list the names starting with <prefix> (TAB completes a name)"),
            ("exit, quit, logout", "close the session"),
        ]
        width = max(len(a) for a, _ in rows)
        text = "Names are not case-sensitive; enumerated values are given by label.\n"
        text += "".join(f"  {a.ljust(width)}  {b}\n" for a, b in rows)
        text += "Services: " + ", ".join(self.catalog.services) + "\n"
        return text

    def _service_help(self, svc: Service) -> str:
        lines = [f"{svc.name}: {svc.display} service", "Parameters:"]
        width = max((len(p.name) for p in svc.params.values()), default=0)
        lines += [f"  {p.name.ljust(width)}  {p.title}" for p in svc.params.values()]
        if svc.tables:
            lines.append("Tables:")
            lines += [f"  {t.name}" for t in svc.tables.values()]
        return "\n".join(lines) + "\n"

    def _table_help(self, table: Table) -> str:
        kind = "status table (read-only)" if table.status else "table"
        if table.dynamic:
            kind += "; rows may be added and deleted"
        lines = [f"{table.name}: {kind}", f"Index: {', '.join(table.index)}", "Columns:"]
        width = max(len(c) for c in table.columns)
        for c, p in table.columns.items():
            what = "command" if p.is_command else p.access
            lines.append(f"  {c.ljust(width)}  {what}; {p.type.describe()}")
        return "\n".join(lines) + "\n"

    def _param_help(self, p: Param) -> str:
        access = p.access
        if p.restart:
            access += f" (a change needs a restart of {p.service})"
        default = MASK if p.secret and p.default and not self.user.can("secrets") else p.default
        lines = [
            f"{p.name}: {p.title}",
            f"  Type:    {p.type.describe()}",
            f"  Default: {'' if default is None else default}",
            f"  Access:  {access}",
        ]
        if p.table is not None:
            table = self.catalog.tables[p.table]
            lines.append(f"  Table:   {table.name}, index {', '.join(table.index)}")
        elif not p.is_command:
            lines.append(f"  Value:   {self._show(p, self.config.get(p.name))}".rstrip())
        if p.help:
            lines.append(f"  {p.help}")
        return "\n".join(lines) + "\n"

    def names(self, prefix: str) -> list[str]:
        """Names one level below what ``prefix`` names, starting with ``prefix`` (case-insensitive)."""
        parts = prefix.split(".")
        pool: list[str]
        if len(parts) == 1:
            pool = list(self.catalog.services) + [k for k in KEYWORDS] + [c for c in self.unit.commands if "." not in c]
        elif len(parts) == 2:
            svc = self.catalog.service(parts[0])
            if svc is None:
                return []
            pool = [p.name for p in svc.params.values()] + [t.name for t in svc.tables.values()]
            pool += [c for c in self.unit.commands if c.lower().startswith(svc.name.lower() + ".")]
            if svc.name == "Cert" and self._cert_engine() is not None:
                pool += list(CERT_COMMANDS)
        elif len(parts) == 3:
            table = self.catalog.table(".".join(parts[:2]))
            if table is None:
                return []
            pool = [c.name for c in table.columns.values()]
        else:
            return []
        low = prefix.lower()
        return sorted({n for n in pool if n.lower().startswith(low)}, key=str.lower)

    def _list_matches(self, prefix: str) -> Reply:
        found = self.names(prefix)
        if not found:
            return Reply.error(f"{prefix or '?'}: no name starts with this")
        width = max(len(n) for n in found)
        lines = []
        for n in found:
            lines.append(f"{n.ljust(width)}  {self._title(n)}".rstrip())
        return Reply("\n".join(lines) + "\n")

    def _title(self, name: str) -> str:
        if name in KEYWORDS:
            return "command"
        if name in self.unit.commands or name in CERT_COMMANDS:
            return "command"
        svc = self.catalog.service(name)
        if svc is not None:
            return f"service: {svc.display}"
        table = self.catalog.table(name)
        if table is not None:
            return "table"
        p = self.catalog.param(name)
        return p.title if p is not None else ""

    # ------------------------------------------------------------------ completion
    def complete(self, line: str, pos: int | None = None) -> Completion:
        """TAB at ``pos``: complete the name (or enum label after ``=``) that ends at the cursor."""
        pos = len(line) if pos is None else pos
        head, tail = line[:pos], line[pos:]
        try:
            assignment = split_assignment(head)
        except ValueError:
            return Completion(line, pos)
        if assignment is not None:
            return self._complete_value(assignment[0], assignment[1], head, tail)
        if "[" in head:
            return Completion(line, pos)
        start = len(head) - len(head.lstrip())
        token = head[start:]
        if token.lower().startswith("help "):
            start += 5 + (len(token) - 5 - len(token[5:].lstrip()))
            token = head[start:]
        if " " in token:
            return Completion(line, pos)
        found = self.names(token)
        if not found:
            return Completion(line, pos)
        if len(found) == 1:
            done = found[0]
            if done.lower() == token.lower() and self._has_children(done):
                done += "."
            new = head[:start] + done
            return Completion(new + tail, len(new))
        common = _common_prefix(found)
        new = head[:start] + (common if len(common) >= len(token) else token)
        return Completion(new + tail, len(new), found)

    def _complete_value(self, name: str, typed: str, head: str, tail: str) -> Completion:
        """Enumerated values after ``=``, by label."""
        unchanged = Completion(head + tail, len(head))
        typed = typed.strip()
        if not head.rstrip().endswith(typed) or typed.startswith('"'):
            return unchanged
        try:
            p: Param | None = self.config.resolve(name.strip()).param
        except ConfigError:
            p = self.catalog.param(name.strip())
        if p is None or not p.type.is_enum:
            return unchanged
        found = [label for label in p.type.labels() if label.lower().startswith(typed.lower())]
        if not found:
            return unchanged
        done = found[0] if len(found) == 1 else _common_prefix(found)
        base = head.rstrip()[: len(head.rstrip()) - len(typed)] if typed else head
        if base.endswith("="):
            base += " "
        new = base + (done if len(done) >= len(typed) else typed)
        return Completion(new + tail, len(new), found if len(found) > 1 else [])

    def _has_children(self, name: str) -> bool:
        return self.catalog.service(name) is not None or self.catalog.table(name) is not None
