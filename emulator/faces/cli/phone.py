"""The CLI's endpoint commands (emulator additions), derived from :mod:`emulator.ops.actions`: each
action's CLI forms (``dial <EpId> <number>``, ``play <EpId> tone <Hz>...``, ``lock <EpId>``...) with
their usage and help lines, plus ``calls`` (:func:`emulator.ops.snapshots.calls`). The same actions,
rights and refusals as ``/api/v1/endpoints/{EpId}/...``.

A command that waits on SIP returns a pending :class:`~emulator.faces.cli.text.Reply`; the others
answer at once.
"""

from __future__ import annotations

import inspect

from emulator.faces.cli.text import Reply, format_table
from emulator.ops import actions, policy, snapshots
from emulator.ops.actions import Action, CliForm, Result
from emulator.ops.errors import OpError
from emulator.runtime.unit import Unit

__all__ = ["CALLS", "PhoneCommands", "help_rows"]

CALLS = "calls"
_CALLS_HELP = ("calls", "the unit's calls and their states")


def _forms() -> dict[str, tuple[Action, CliForm]]:
    return {f.word: (a, f) for a in actions.actions() for f in a.cli}


def help_rows() -> list[tuple[str, str]]:
    """The ``help`` lines of the endpoint commands: forms with the same help text and a bare
    ``<word> <EpId>`` synopsis share one line (``offhook|answer|hangup|hold|resume <EpId>``)."""
    rows: list[tuple[list[str], str, str]] = []  # words, rest of the synopsis, help
    for _action, form in _forms().values():
        synopsis = form.synopsis or form.usage
        bare = synopsis == f"{form.word} <EpId>"
        same = next((r for r in rows if bare and r[1] == "<EpId>" and r[2] == form.help), None)
        if same is not None:
            same[0].append(form.word)
        else:
            rows.append(([form.word], "<EpId>" if bare else synopsis, form.help))
    out = [("|".join(words) + " " + rest if rest == "<EpId>" else rest, text) for words, rest, text in rows]
    return [*out, _CALLS_HELP]


def _refused(word: str, message: str) -> Reply:
    """``Error: <word>: <why>`` (a message that already names the action is not named twice)."""
    return Reply.error(message if message.startswith(f"{word}: ") else f"{word}: {message}")


class PhoneCommands:
    """The endpoint commands of one CLI session."""

    def __init__(self, unit: Unit, user: policy.Caller) -> None:
        self.unit = unit
        self.user = user

    @staticmethod
    def words() -> list[str]:
        return [*_forms(), CALLS]

    def execute(self, word: str, args: str) -> Reply:
        if word == CALLS:
            return self._calls()
        action, form = _forms()[word]
        parts = args.split()
        arguments = form.arguments(parts[1:]) if parts else None
        if arguments is None:
            return Reply.error(f"{word}: usage: {form.usage}")
        try:
            inv = actions.prepare(self.unit, self.user, action, parts[0], arguments, source="cli")
            if inspect.iscoroutinefunction(action.run):
                return Reply(pending=lambda: self._finish(word, form, action.run(inv)))
            result = action.run(inv)
            if inspect.isawaitable(result):
                return Reply(pending=lambda: self._finish(word, form, result))
            return Reply(self._show(form, result))
        except (OpError, policy.Forbidden) as e:
            return _refused(word, e.message)

    async def _finish(self, word: str, form: CliForm, running: object) -> Reply:
        try:
            assert inspect.isawaitable(running)
            return Reply(self._show(form, await running))
        except (OpError, policy.Forbidden) as e:
            return _refused(word, e.message)

    @staticmethod
    def _show(form: CliForm, result: Result) -> str:
        if form.show is not None:
            return form.show(result)
        return f"{result.get('endpoint')}: {result.get('action')} done\n"

    def _calls(self) -> Reply:
        try:
            rows = snapshots.calls(self.unit)
        except OpError as e:
            return Reply.error(f"{CALLS}: {e.message}")
        if not rows:
            return Reply("(no calls)\n")
        cells = [[str(r["id"]), r["endpoint"], r["direction"], r["state"], r["remote"], str(r["status"] or "")]
                 for r in rows]
        return Reply(format_table(["Id", "Endpoint", "Direction", "State", "Peer", "Status"], cells))
