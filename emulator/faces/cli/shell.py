"""The DGW command-line interpreter, without any I/O: a line of text in, a reply out.

Implements the CLI face of the parameter model (``Cli`` service, DGW facts §3.2 and addendum):
names are case-insensitive, typing a name reads it (scalar, table cell, whole table, a table
column across rows, or a whole service), ``Name = value`` assigns through :meth:`Config.set`
(enum values by label, spaces around ``=`` tolerated, values parsed like configuration-script
lines), row commands run with or without ``= <Command>``, ``unit.commands`` (e.g.
``Scm.RestartRequiredServices``) run by name, ``sysinfo`` prints ``Key: value`` lines, ``help``
describes names from the catalog and ``<prefix>?`` lists matching names (:mod:`.names`).

Rights (``Aaa.Users.AccessRights``) are :mod:`emulator.ops.policy`'s, as on every face: Observer reads
only; secrets (passwords, keys) are shown as ``****`` and may not be changed without the "secrets"
right (Admin); ``Aaa.Users`` and the certificate stores' ``Delete`` need the "admin" right. A refusal
is printed as ``Error: <the policy's message>``. Validation is never done here: :class:`Config` owns it
and its :class:`ConfigError` message is printed as is.

Emulator choices (the hardware's are not public): the prompt is ``<Hoc.HostName or unit name>>``;
tables print as aligned columns (index columns first) under a dashed header; a service prints
``Name = value`` lines in script syntax (values quoted where a script needs it, so they can be
pasted back); errors start with ``Error:``. Script comments (``# ...``) are accepted. The certificate
commands are :mod:`.certs`'s; the endpoint commands (``dial <EpId> <number>``, ``play``, ``lock``...)
are derived from :mod:`emulator.ops.actions` (:mod:`.phone`).

The shell does no I/O and runs no event loop: work that needs the network (a certificate transfer, a
call action) is returned as :attr:`Reply.pending`, a coroutine function the session awaits for the
final reply. The SSH glue (``emulator/faces/cli/server.py``) feeds lines to :meth:`CliShell.execute`,
awaits ``pending`` when there is one, and asks :meth:`CliShell.complete` for TAB completion.
"""

from __future__ import annotations

from emulator.faces.cli.certs import CERT_COMMANDS, CertCommands
from emulator.faces.cli.names import KEYWORDS, MASK, Names
from emulator.faces.cli.phone import PhoneCommands
from emulator.faces.cli.text import Completion, Reply, columns, decode_welcome, format_table
from emulator.ops import policy
from emulator.runtime.unit import Unit
from firmware_model.config import Address, ConfigError
from firmware_model.schema import Param, Service, Table
from firmware_model.script import quote, split_assignment, strip_comment, unquote

__all__ = [
    "CERT_COMMANDS",
    "KEYWORDS",
    "MASK",
    "CliShell",
    "Completion",
    "Reply",
    "columns",
    "decode_welcome",
    "format_table",
]

_EXIT = {"exit", "quit", "logout"}


class CliShell:
    """One CLI session's interpreter, bound to a unit and the logged-in user's rights."""

    def __init__(self, unit: Unit, user: policy.Caller) -> None:
        self.unit = unit
        self.user = user
        self.config = unit.config
        self.catalog = unit.config.catalog
        self.certs = CertCommands(unit, user)
        self.phone = PhoneCommands(unit, user)
        self.help_names = Names(unit, user, self.certs)

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
        cert_command = self.certs.name(word)
        if cert_command is not None:
            return self.certs.execute(cert_command, rest.strip())
        if keyword in self.phone.words():
            return self.phone.execute(keyword, rest.strip())
        if text.endswith("?") and "=" not in text:
            return self.help_names.list_matches(text[:-1].strip())
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

    def takes_arguments(self, line: str) -> bool:
        """The line is a command followed by free-text arguments (a URL may hold ``?`` or ``=``), so
        ``?`` typed there is text, not a request for a listing."""
        word, sep, _ = line.strip().partition(" ")
        return bool(sep) and self.certs.name(word) is not None

    # ------------------------------------------------------------------ reading
    def read(self, name: str) -> Reply:
        command = self.help_names.unit_command(name)
        if command is not None:
            return self._run_unit_command(command)
        if "[" not in name:
            svc, table = self.catalog.service(name), self.catalog.table(name)
            if svc is not None:
                return Reply(self._service_text(svc))
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
        return Reply(self.help_names.shown(addr.param, value) + "\n")

    def _service_text(self, svc: Service) -> str:
        scalars = list(svc.params.values())
        width = max((len(p.name) for p in scalars), default=0)
        lines = [f"{p.name.ljust(width)} = {self._quoted(p)}" for p in scalars]
        if svc.tables:
            lines.append("Tables: " + ", ".join(t.name for t in svc.tables.values()))
        return "\n".join(lines) + "\n"

    def _quoted(self, p: Param) -> str:
        """A value as a script would write it, so a service listing can be pasted back."""
        shown = self.help_names.shown(p, self.config.get(p.name))
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
        shown = self.help_names.shown
        rows = [[shown(p, row.get(p.column or "")) for p in cols] for row in self.config.rows(table.name)]
        return format_table([p.column or p.name for p in cols], rows)

    # ------------------------------------------------------------------ writing
    def assign(self, name: str, value: str) -> Reply:
        if self.help_names.unit_command(name) is not None:
            return Reply.error(f"{name}: a command takes no value")
        if "[" not in name and (self.catalog.service(name) or self.catalog.table(name)):
            return Reply.error(f"{name}: not a parameter; assign a scalar or a table cell")
        try:
            addr = self.config.resolve(name)
        except ConfigError as e:
            return Reply.error(e.message)
        p = addr.param
        if p.is_command:
            return self._row_command(addr, value)
        try:
            policy.check_write(self.user, p)
            self._set(addr, value)
        except policy.Forbidden as e:
            return Reply.error(e.message)
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
        try:
            policy.check_write(self.user, addr.param)
            self.config.set(addr, action, source="cli")
        except policy.Forbidden as e:
            return Reply.error(e.message)
        except ConfigError as e:
            return Reply.error(e.message)
        return Reply()

    # ------------------------------------------------------------------ unit commands
    def _run_unit_command(self, name: str) -> Reply:
        try:
            policy.check_command(self.user, name)
        except policy.Forbidden as e:
            return Reply.error(f"{name}: {e.message}")
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

    # ------------------------------------------------------------------ sysinfo, help, names
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

    def help(self, name: str) -> Reply:
        return self.help_names.help(name)

    def names(self, prefix: str) -> list[str]:
        return self.help_names.names(prefix)

    def complete(self, line: str, pos: int | None = None) -> Completion:
        return self.help_names.complete(line, pos)
