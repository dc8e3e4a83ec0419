"""The access policy of every management face, written once (HTTP API, SSH CLI, web pages and forms,
configuration scripts sent through any of them).

The rights are ``Aaa.Users.AccessRights``: ``Admin`` may do everything, ``User`` reads and writes the
configuration but neither secrets (passwords, keys) nor the tables and commands listed below, and
``Observer`` only reads. A face asks this module and turns a :class:`Forbidden` into its own answer
(HTTP 403 ``forbidden``, a CLI ``Error:`` line, a message beside the web field); the message is the same
on every face.

Why these tables and commands are Admin only: ``Aaa.Users`` holds the accounts and their rights; the
certificate stores' ``Delete`` row commands remove trust anchors and host identities (a ``User`` deleting
the factory CA would cut every TLS link of the unit); a host certificate import carries a private key;
the unsecure transfer opens a plain-HTTP window for such a key; a factory reset erases everything; a configuration
backup or restore and a firmware install or rollback are Admin-only on the hardware (its access-rights table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from emulator.ops.errors import ErrorKind
from firmware_model.config import Config, ConfigError
from firmware_model.schema import Param, Value
from firmware_model.script import parse_script, split_assignment, strip_comment

__all__ = [
    "ADMIN_COMMANDS",
    "ADMIN_TABLES",
    "MASK",
    "Caller",
    "Forbidden",
    "check_command",
    "check_read",
    "check_right",
    "check_script",
    "check_table",
    "check_write",
    "export_without_secrets",
    "may_read",
    "may_write_table",
    "shown_value",
]

MASK = "****"  # how a secret is shown to a caller who may not read it (CLI, web)

# Table -> what only an Admin may do with it (the end of "only an Admin user may ...").
ADMIN_TABLES: dict[str, str] = {
    "Aaa.Users": "change user accounts",
    "Cert.HostCertificatesInfo": "delete certificates",
    "Cert.OthersCertificatesInfo": "delete certificates",
}

# Commands (any face) -> what only an Admin may do.
ADMIN_COMMANDS: dict[str, str] = {
    "Cert.ActivateUnsecureTransfer": "activate the unsecure certificate transfer",
    "Cert.ImportHost": "import a host certificate (it carries a private key)",
    "Cert.DeleteCertificate": "delete certificates",
    "FactoryReset": "reset the unit to its factory configuration",
    "Conf.ImageBackup": "back up the configuration (the image may carry host keys)",
    "Conf.ImageRestore": "restore a configuration image",
    "Fpu.Install": "install a firmware pack",
    "Fpu.Rollback": "roll the firmware back",
}

_RIGHT_WORDS = {
    "read": "read the configuration",
    "write": "change the configuration",
    "secrets": "read or change a secret",
    "admin": "do this",
}


class Caller(Protocol):
    """Who is asking: an authenticated user of ``Aaa.Users`` (``AuthResult`` satisfies it)."""

    user: str
    rights: str

    def can(self, what: str) -> bool: ...


@dataclass(slots=True)
class Forbidden(Exception):
    """A refusal by the access policy. ``kind`` is ``forbidden`` on every face (HTTP 403)."""

    message: str
    kind: ErrorKind = ErrorKind.FORBIDDEN

    def __str__(self) -> str:
        return self.message


def _only_admin(what: str) -> Forbidden:
    return Forbidden(f"only an Admin user may {what}")


def check_right(caller: Caller, right: str, what: str = "") -> None:
    """The plain rights check of a face's operation (``read``, ``write``, ``secrets``, ``admin``)."""
    if caller.can(right):
        return
    if right == "admin":
        raise _only_admin(what or _RIGHT_WORDS["admin"])
    rights = caller.rights or "no"
    raise Forbidden(f"user {caller.user} ({rights} rights) may not {what or _RIGHT_WORDS.get(right, right)}")


def may_read(caller: Caller, param: Param) -> bool:
    """Whether the caller sees this value (a secret needs the ``secrets`` right)."""
    return caller.can("read") and (not param.secret or caller.can("secrets"))


def check_read(caller: Caller, param: Param) -> None:
    check_right(caller, "read")
    if param.secret and not caller.can("secrets"):
        raise Forbidden(f"{param.name}: a secret; only an Admin user may read or change it")


def may_write_table(caller: Caller, table: str) -> bool:
    return caller.can("write") and (table not in ADMIN_TABLES or caller.can("admin"))


def check_table(caller: Caller, table: str) -> None:
    """Adding, changing or deleting a row (or running a row command) of ``table``."""
    check_right(caller, "write")
    if table in ADMIN_TABLES and not caller.can("admin"):
        raise _only_admin(ADMIN_TABLES[table])


def check_write(caller: Caller, param: Param) -> None:
    """Setting one value (a scalar, a cell, a row command) — the same rule on every face."""
    check_right(caller, "write")
    if param.secret and not caller.can("secrets"):
        raise Forbidden(f"{param.name}: a secret; only an Admin user may read or change it")
    if param.table and param.table in ADMIN_TABLES and not caller.can("admin"):
        raise _only_admin(ADMIN_TABLES[param.table])


def check_command(caller: Caller, name: str) -> None:
    """A service command (``Scm.RestartRequiredServices``, ``Cert.ActivateUnsecureTransfer``...)."""
    check_right(caller, "write")
    if name in ADMIN_COMMANDS and not caller.can("admin"):
        raise _only_admin(ADMIN_COMMANDS[name])


def shown_value(caller: Caller, param: Param, value: Value | None, mask: str | None = MASK) -> Value | str | None:
    """The value as this caller may see it: a secret becomes ``mask`` (``None`` for JSON listings)."""
    if param.secret and not caller.can("secrets"):
        return mask
    return value


def _script_refusal(caller: Caller, config: Config, target: str, has_value: bool) -> str | None:
    if not has_value:
        name = next((c for c in ADMIN_COMMANDS if c.lower() == target.lower()), None)
        if name is not None and not caller.can("admin"):
            return ADMIN_COMMANDS[name]
        return None
    try:
        p = config.resolve(target).param
    except ConfigError:
        return None  # unknown names are reported by the script engine itself, line by line
    if p.secret and not caller.can("secrets"):
        return "change a secret"
    if p.table and p.table in ADMIN_TABLES and not caller.can("admin"):
        return ADMIN_TABLES[p.table]
    return None


def check_script(caller: Caller, config: Config, text: str) -> None:
    """What a script import may touch: the same lines a face would refuse one by one.

    The whole script is refused (nothing applied) when one line writes a secret, a row of an Admin
    table (users, certificate deletion) or runs an Admin command without the right, naming every such line.
    """
    check_right(caller, "write")
    if caller.can("secrets") and caller.can("admin"):
        return
    statements, _lexical = parse_script(text)
    refused: list[tuple[int, str]] = []
    for st in statements:
        why = _script_refusal(caller, config, st.target, st.value is not None)
        if why is not None:
            refused.append((st.number, why))
    if refused:
        whats = sorted({why for _, why in refused})
        lines = ", ".join(str(n) for n, _ in refused)
        raise Forbidden(f"line(s) {lines}: only an Admin user may {'; '.join(whats)}; nothing applied")


def export_without_secrets(caller: Caller, config: Config, text: str) -> str:
    """An exported script as this caller may take it: secret lines left out (and said so)."""
    if caller.can("secrets"):
        return text
    out: list[str] = []
    dropped = 0
    for line in text.splitlines():
        parts = split_assignment(strip_comment(line))
        if parts is not None:
            try:
                if config.resolve(parts[0]).param.secret:
                    dropped += 1
                    continue
            except ConfigError:
                pass
        out.append(line)
    if dropped:
        out.insert(
            1 if out and out[0].startswith("#") else 0,
            f"# {dropped} secret value(s) left out: only an Admin user may export secrets",
        )
    return "\n".join(out) + "\n"
