"""The unit's service commands on the faces that address values instead of typing command lines: SNMP and TR-069.

A service command (``CRout.ApplyConfig``, ``Conf.TransferScripts``, ``Nlm.StartPCapture``...) is a line of the CLI
or of a script; the vendor MIBs and data model name no object for it. So that an SNMP manager or an ACS can run
them too (an emulator addition), each command the behaviour map lists (``firmware_model/catalog/behaviour.toml``,
``[commands]``) and the unit has is one object of its service:

* SNMP: ``mediatrixServices.<service id>.1.59900.<n>.0``, an ``INTEGER { noOp(0), <command>(10) }`` read as 0 and
  run by a SET of 10 — the shape of the vendor's row commands (``Delete``, ``Restart``...);
* TR-069: ``<Root>.X_0090F8_<Service>.<Command>``, a ``boolean`` read as false and run by a SetParameterValues of
  true (or 1), as TR-181 writes its one-shot commands (``Reset``).

``<n>`` is the command's place among its service's commands in the behaviour map, from 1 (``CRout.ApplyConfig`` is
``...1750.1.59900.1.0``): a command added later goes last in its service, so the numbers already given stay.
Commands that take words (``Cert.Import``) are CLI-only and not listed. Who may run what is the access policy's
(``emulator.ops.policy.check_command``); a refused command raises the ``ConfigError`` its engine raises, with
the reason. The faces run a command after the other values of the same request are set, inside the same
all-or-nothing batch: a refusal undoes the whole request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_model.behaviour import load_behaviour

__all__ = ["COMMAND_GROUP", "RUN", "ServiceCommand", "service_commands"]

COMMAND_GROUP = 59900  # the sub-identifier under <service>.1 the vendor MIBs do not use (additions use 59000)
RUN = 10  # the value that runs a command, as for the vendor's row commands (noOp(0) / <command>(10))


@dataclass(frozen=True, slots=True)
class ServiceCommand:
    name: str  # "CRout.ApplyConfig"
    service: str  # "CRout"
    command: str  # "ApplyConfig"
    number: int  # its place among its service's commands, from 1
    summary: str


def service_commands(unit: Any) -> list[ServiceCommand]:
    """The service commands of ``unit`` (an ``emulator.runtime.unit.Unit``: its ``commands``) that a value can run,
    in the behaviour map's order."""
    out: list[ServiceCommand] = []
    seen: dict[str, int] = {}
    for name, cmd in load_behaviour().commands.items():
        number = seen[cmd.service] = seen.get(cmd.service, 0) + 1  # numbered whether this unit has it or not
        if name in unit.commands:
            out.append(ServiceCommand(name, cmd.service, name.split(".", 1)[1], number, cmd.summary))
    return out
