"""The Replaces header (RFC 3891) and the Refer-To of an attended transfer (RFC 3515, RFC 5589 §7): pure.

``Replaces: <call-id>;to-tag=<tag>;from-tag=<tag>[;early-only]`` names a dialog **as the UA receiving it sees
it**: ``to-tag`` is that UA's own (local) tag, ``from-tag`` the other side's. A transferor that holds a dialog
with the transfer target therefore writes its dialog's remote tag as ``to-tag`` and its own tag as
``from-tag`` (:meth:`Replaces.of_dialog`), whichever side sent that dialog's INVITE.

The transferor puts the header in the Refer-To URI's headers (``?Replaces=...``, escaped as RFC 3261 §19.1.1
says: ``;`` as ``%3B``, ``=`` as ``%3D``, ``@`` as ``%40``); the transferee copies it into the INVITE it sends
to the target (:func:`invite_target`).
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.protocols.sip.headers import parse_params
from emulator.protocols.sip.uri import Uri

__all__ = ["Replaces", "ReplacesError", "invite_target", "refer_to"]


class ReplacesError(ValueError):
    """A Replaces value that RFC 3891 §6.1's grammar refuses (answered 400 Bad Request)."""


@dataclass(frozen=True, slots=True)
class Replaces:
    call_id: str
    to_tag: str  # the local tag of the UA receiving the header
    from_tag: str  # the remote tag of the UA receiving the header
    early_only: bool = False

    @classmethod
    def parse(cls, value: str) -> Replaces:
        """``callid;to-tag=a;from-tag=b[;early-only]`` (parameter names case-insensitive, other ones ignored)."""
        text = value.strip()
        call_id, sep, rest = text.partition(";")
        call_id = call_id.strip()
        if not call_id or any(c.isspace() for c in call_id):
            raise ReplacesError(f"Replaces: a Call-ID is expected, got {value!r}")
        try:
            params = parse_params(";" + rest, "Replaces") if sep else {}
        except ValueError as exc:
            raise ReplacesError(f"Replaces: {exc}") from None
        to_tag, from_tag = params.get("to-tag"), params.get("from-tag")
        if not to_tag or not from_tag:
            raise ReplacesError(f"Replaces: to-tag and from-tag are required (RFC 3891 §6.1), got {value!r}")
        return cls(call_id, to_tag, from_tag, "early-only" in params)

    @classmethod
    def of_dialog(cls, call_id: str, local_tag: str, remote_tag: str) -> Replaces:
        """The header that names our dialog (``local_tag``/``remote_tag`` as we see them) at the far end of it."""
        return cls(call_id, to_tag=remote_tag, from_tag=local_tag)

    def matches(self, call_id: str, local_tag: str | None, remote_tag: str | None) -> bool:
        """Whether it names the dialog with these identifiers, seen from the UA that received the header."""
        return self.call_id == call_id and self.to_tag == local_tag and self.from_tag == remote_tag

    def __str__(self) -> str:
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}" + (";early-only" if self.early_only
                                                                                   else "")


def refer_to(target: Uri, replaces: Replaces) -> str:
    """The Refer-To value of an attended transfer: ``<target?Replaces=...>`` (the URI escapes the value)."""
    headers = {k: v for k, v in target.headers.items() if k.lower() != "replaces"}
    return f"<{target.copy(headers={**headers, 'Replaces': str(replaces)})}>"


def invite_target(refer_uri: Uri) -> tuple[Uri, Replaces | None]:
    """What a transferee calls for a Refer-To URI: the URI without its headers, and its Replaces (None when the
    transfer is blind). Raises :class:`ReplacesError` for a malformed Replaces."""
    replaces = next((v for k, v in refer_uri.headers.items() if k.lower() == "replaces"), None)
    uri = refer_uri.copy(headers={})
    return uri, Replaces.parse(replaces) if replaces is not None else None
