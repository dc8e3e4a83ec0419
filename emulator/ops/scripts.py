"""Configuration scripts as every face runs and exports them (``Conf`` service; the script language is
:mod:`firmware_model.script`): the access policy first, the service commands waited for, secrets kept
from callers who may not read them."""

from __future__ import annotations

from emulator.ops import policy
from emulator.ops.errors import ErrorKind, OpError
from emulator.runtime.unit import Unit
from firmware_model.script import ScriptResult, export_script

__all__ = ["export", "run"]


async def run(unit: Unit, caller: policy.Caller, text: str, source: str) -> tuple[ScriptResult, list[str]]:
    """Run a script for ``caller`` (all or nothing); returns the result and the services it restarted.

    Refused as a whole (:class:`~emulator.ops.policy.Forbidden`, nothing applied) when a line is beyond
    the caller's rights; ``Scm.RestartRequiredServices`` is answered once the restarts are over, so a
    service that did not start again fails its line (:meth:`Unit.run_script_waiting`)."""
    policy.check_script(caller, unit.config, text)
    return await unit.run_script_waiting(text, source)


def export(unit: Unit, caller: policy.Caller, content: str | None = None, service: str | None = None) -> str:
    """The configuration as a script: ``content`` AllConfig or ModifiedConfig, ``service`` a service key
    or All (defaults ``Conf.ScriptExportContent`` and ``Conf.ScriptExportServiceName``); secret lines are
    left out for a caller who may not read secrets."""
    policy.check_right(caller, "write", "export the configuration")
    cfg = unit.config
    raw = content or cfg.get_text("Conf.ScriptExportContent") or "ModifiedConfig"
    try:
        kind = str(unit.catalog.params["Conf.ScriptExportContent"].type.parse(raw))
    except ValueError as e:
        raise OpError(ErrorKind.INVALID, f"content={raw!r}: {e}", 400) from None
    text = export_script(cfg, content=kind, service=service or cfg.get_text("Conf.ScriptExportServiceName") or "All")
    return policy.export_without_secrets(caller, cfg, text)
