"""The CLI's certificate commands (emulator choices, the hardware's CLI syntax is not public), for a unit
that has a Cert engine (``unit.cert``)::

    Cert.Import Other <url>              fetch a CA / peer certificate (PEM, chain or DER): User or Admin
    Cert.Import Host <url> [<password>]  fetch a host certificate with its key (PEM bundle or PKCS#12): Admin
    Cert.ActivateUnsecureTransfer        allow ONE host import from an http:// URL within 5 minutes: Admin

``https://`` transfers honour ``Cert.TransferHttpsTlsVersion`` / ``Cert.TransferHttpsCipherSuite`` and
validate the server like every TLS client of the unit (trusted issuer, name, dates on the unit's
clock, which must be synchronised). A password holding spaces or ``#`` is written in double quotes.
Who may run them is :mod:`emulator.ops.policy`'s (a host import and the unsecure transfer are Admin
commands). A transfer is returned as a pending reply.
"""

from __future__ import annotations

from emulator.engines.cert.engine import CertEngine
from emulator.faces.cli.text import Reply
from emulator.ops import policy
from emulator.runtime.unit import Unit
from firmware_model.certs import CertError
from firmware_model.script import unquote

__all__ = ["CERT_ACTIVATE", "CERT_COMMANDS", "CERT_HELP", "CERT_IMPORT", "CertCommands"]

CERT_IMPORT = "Cert.Import"
CERT_ACTIVATE = "Cert.ActivateUnsecureTransfer"
CERT_COMMANDS = (CERT_ACTIVATE, CERT_IMPORT)
CERT_HELP = {
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


class CertCommands:
    """The certificate commands of one CLI session (none when the unit has no Cert engine)."""

    def __init__(self, unit: Unit, user: policy.Caller) -> None:
        self.cert = unit.cert if isinstance(unit.cert, CertEngine) else None
        self.user = user

    def name(self, word: str) -> str | None:
        """The command ``word`` names (any case), or None."""
        if self.cert is None:
            return None
        low = word.lower()
        return next((c for c in CERT_COMMANDS if c.lower() == low), None)

    def execute(self, name: str, args: str) -> Reply:
        try:
            return self._activate(args) if name == CERT_ACTIVATE else self._import(args)
        except policy.Forbidden as e:
            return Reply.error(f"{name}: {e.message}")

    def _activate(self, args: str) -> Reply:
        assert self.cert is not None
        if args:
            return Reply.error(f"{CERT_ACTIVATE}: takes no argument")
        policy.check_command(self.user, CERT_ACTIVATE)
        self.cert.activate_unsecure_transfer()
        return Reply("Unsecure certificate transfer activated: one host certificate import over plain HTTP "
                     "is accepted within 5 minutes\n")

    def _import(self, args: str) -> Reply:
        cert = self.cert
        assert cert is not None
        name = CERT_IMPORT
        usage = f"{name}: usage: {CERT_HELP[name][0]}"
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
        policy.check_right(self.user, "write", "import certificates")
        if kind == "host":
            policy.check_command(self.user, "Cert.ImportHost")

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
