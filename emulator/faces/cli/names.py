"""What the CLI knows about names: ``help`` (general, per service, table, parameter or command),
``<prefix>?`` listings and TAB completion (names one level at a time, enum labels after ``=``).

Names are case-insensitive and come from the catalog, the unit's commands, the certificate commands
and the CLI's keywords.
"""

from __future__ import annotations

from emulator.faces.cli import phone
from emulator.faces.cli.certs import CERT_COMMANDS, CERT_HELP, CertCommands
from emulator.faces.cli.text import Completion, Reply, common_prefix
from emulator.ops import policy
from emulator.runtime.unit import Unit
from firmware_model.behaviour import MEANING, load_behaviour
from firmware_model.config import ConfigError
from firmware_model.schema import Param, Service, Table
from firmware_model.script import split_assignment

__all__ = ["COMMAND_HELP", "KEYWORDS", "MASK", "Names"]

MASK = policy.MASK
KEYWORDS = ("exit", "help", "logout", "quit", "sysinfo")
_GENERAL = [
    ("<Name>", "show a parameter, a table cell, a table, a column or a whole service"),
    ("<Name> = <value>", "change a parameter or a table cell; quote values with spaces"),
    ("<Svc>.<Table>.<Column>[<Key>=<v>]", "a table cell (<Svc>.<Table>[<v>].<Column> also works)"),
    ("<Svc>.<Table>.<Command>[<Key>=<v>]", "run a row command, e.g. Scm.ServiceCommands.Restart[Name=Cli]"),
    ("Scm.RestartRequiredServices", "restart every service that waits for a restart"),
    ("Cert.Import Other|Host <url> [<pw>]", "fetch and install a certificate (help Cert.Import)"),
    ("Cert.ActivateUnsecureTransfer", "allow one host certificate import over http:// (5 min)"),
    ("sysinfo", "product, serial number, MAC address, firmware version, time and uptime"),
]
# The unit's service commands beyond Scm's (present when the unit has their engine): the line of the general help
# and what ``help <command>`` adds.
COMMAND_HELP: dict[str, tuple[str, str]] = {
    "Conf.TransferScripts": ("fetch and run the configuration scripts now",
                             "generic then specific, from Conf.ScriptsTransfer*; see "
                             "Conf.ScriptsStatsLastTransferResult"),
    "Conf.ExportScript": ("export the configuration to Conf.ScriptExportUrl",
                          "see Conf.ScriptsStatsLastExportResult"),
    "Conf.ImageBackup": ("save the configuration image (Admin)", "Conf.Image*; see Conf.ImageBackupStatus"),
    "Conf.ImageRestore": ("load and apply the configuration image (Admin)", "see Conf.ImageRestoreStatus"),
    "Fpu.Install": ("install the firmware pack Fpu.MfpUrl (Admin)",
                    "into the bank that is not running; see Fpu.Status and Fpu.MfpLastInstallationResult"),
    "Fpu.Rollback": ("run the other firmware bank from the next start (Admin)", "see Fpu.Status"),
    "Nlm.StartPCapture": ("start a packet capture (Nlm.PCapture*)",
                          "limits Nlm.PCaptureNbFrames/NbSecs, filter Nlm.PCaptureFilter; see Nlm.PCaptureState"),
    "Nlm.StopPCapture": ("stop the packet capture and upload it to Nlm.PCaptureFileUrl", "see Nlm.PCaptureState"),
    "Nlm.UploadPCapture": ("upload the kept capture file again", "after a refused upload; see Nlm.PCaptureState"),
    "CRout.ApplyConfig": ("put the call routing configuration in use",
                          "a loop or a dangling reference refuses it with the reason, the routing in use unchanged; "
                          "see CRout.ConfigModifiedStatus and CRout.RouteStatus"),
}
_CLOSING = [
    ("help <Name>", "what a parameter, table or service is, its type and its default"),
    ("<prefix>?", "list the names starting with <prefix> (TAB completes a name)"),
    ("exit, quit, logout", "close the session"),
]


class Names:
    """Help, listings and completion for one CLI session."""

    def __init__(self, unit: Unit, user: policy.Caller, certs: CertCommands) -> None:
        self.unit = unit
        self.user = user
        self.config = unit.config
        self.catalog = unit.config.catalog
        self.certs = certs

    def unit_command(self, name: str) -> str | None:
        low = name.strip().lower()
        return next((k for k in self.unit.commands if k.lower() == low), None)

    def shown(self, p: Param, value: object) -> str:
        """A value as this user may see it (a secret is ``****`` without the secrets right)."""
        out = policy.shown_value(self.user, p, value if isinstance(value, str | int) else None, MASK)
        return "" if out is None else str(out)

    # ------------------------------------------------------------------ help
    def help(self, name: str) -> Reply:
        if not name:
            return Reply(self._general_help())
        cert_command = self.certs.name(name)
        if cert_command is not None:
            syntax, what = CERT_HELP[cert_command]
            return Reply(f"{syntax}\n  {what}\n")
        cmd = self.unit_command(name)
        if cmd is not None:
            if cmd in COMMAND_HELP:
                short, more = COMMAND_HELP[cmd]
                return Reply(f"{cmd}\n  {short}: {more}.\n  The job goes on after the command returns.\n")
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
        provisioning = [(name, what[0]) for name, what in COMMAND_HELP.items() if name in self.unit.commands]
        rows = [*_GENERAL, *provisioning, *phone.help_rows(), *_CLOSING]
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
        lines = [
            f"{p.name}: {p.title}",
            f"  Type:    {p.type.describe()}",
            f"  Default: {self.shown(p, p.default) if p.default not in (None, '') else ''}",
            f"  Access:  {access}",
        ]
        behaviour = load_behaviour().get(p.name)
        if behaviour is not None:  # emulator addition: what the emulator does with it (docs/parameters.md)
            lines.append(f"  Behaviour: {behaviour} ({MEANING[behaviour]})")
        if p.table is not None:
            table = self.catalog.tables[p.table]
            lines.append(f"  Table:   {table.name}, index {', '.join(table.index)}")
        elif not p.is_command:
            lines.append(f"  Value:   {self.shown(p, self.config.get(p.name))}".rstrip())
        if p.help:
            lines.append(f"  {p.help}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ listings
    def names(self, prefix: str) -> list[str]:
        """Names one level below what ``prefix`` names, starting with ``prefix`` (case-insensitive)."""
        parts = prefix.split(".")
        pool: list[str]
        if len(parts) == 1:
            pool = [*self.catalog.services, *KEYWORDS, *(c for c in self.unit.commands if "." not in c)]
        elif len(parts) == 2:
            svc = self.catalog.service(parts[0])
            if svc is None:
                return []
            pool = [p.name for p in svc.params.values()] + [t.name for t in svc.tables.values()]
            pool += [c for c in self.unit.commands if c.lower().startswith(svc.name.lower() + ".")]
            if svc.name == "Cert" and self.certs.cert is not None:
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

    def list_matches(self, prefix: str) -> Reply:
        found = self.names(prefix)
        if not found:
            return Reply.error(f"{prefix or '?'}: no name starts with this")
        width = max(len(n) for n in found)
        return Reply("\n".join(f"{n.ljust(width)}  {self._title(n)}".rstrip() for n in found) + "\n")

    def _title(self, name: str) -> str:
        if name in KEYWORDS or name in self.unit.commands or name in CERT_COMMANDS:
            return "command"
        svc = self.catalog.service(name)
        if svc is not None:
            return f"service: {svc.display}"
        if self.catalog.table(name) is not None:
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
        common = common_prefix(found)
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
        done = found[0] if len(found) == 1 else common_prefix(found)
        base = head.rstrip()[: len(head.rstrip()) - len(typed)] if typed else head
        if base.endswith("="):
            base += " "
        new = base + (done if len(done) >= len(typed) else typed)
        return Completion(new + tail, len(new), found if len(found) > 1 else [])

    def _has_children(self, name: str) -> bool:
        return self.catalog.service(name) is not None or self.catalog.table(name) is not None
