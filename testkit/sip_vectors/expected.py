"""What a DGW unit does with each RFC 4475 torture message (accept, reject with a status, or drop), with the
RFC section that describes it: the expectations both the parser tests and the running-unit replay check."""

from __future__ import annotations

__all__ = ["ACCEPT", "DROP", "EXPECTED", "reject"]

ACCEPT = ("accept", None)
DROP = ("drop", None)


def reject(code: int) -> tuple[str, int]:
    return ("reject", code)


EXPECTED: dict[str, tuple[str, tuple[str, int | None]]] = {
    "wsinv": ("3.1.1.1", ACCEPT), "intmeth": ("3.1.1.2", reject(501)), "esc01": ("3.1.1.3", ACCEPT),
    "escnull": ("3.1.1.4", reject(405)), "esc02": ("3.1.1.5", reject(501)), "lwsdisp": ("3.1.1.6", ACCEPT),
    "longreq": ("3.1.1.7", ACCEPT), "dblreq": ("3.1.1.8", reject(405)), "semiuri": ("3.1.1.9", ACCEPT),
    "transports": ("3.1.1.10", ACCEPT), "mpart01": ("3.1.1.11", reject(405)), "unreason": ("3.1.1.12", ACCEPT),
    "noreason": ("3.1.1.13", ACCEPT),
    "badinv01": ("3.1.2.1", reject(400)), "clerr": ("3.1.2.2", reject(400)), "ncl": ("3.1.2.3", reject(400)),
    "scalar02": ("3.1.2.4", reject(400)), "scalarlg": ("3.1.2.5", DROP), "quotbal": ("3.1.2.6", reject(400)),
    "ltgtruri": ("3.1.2.7", reject(400)), "lwsruri": ("3.1.2.8", reject(400)), "lwsstart": ("3.1.2.9", reject(400)),
    "trws": ("3.1.2.10", reject(400)), "escruri": ("3.1.2.11", reject(400)), "baddate": ("3.1.2.12", ACCEPT),
    "regbadct": ("3.1.2.13", reject(400)), "badaspec": ("3.1.2.14", reject(400)), "baddn": ("3.1.2.15", reject(400)),
    "badvers": ("3.1.2.16", reject(505)), "mismatch01": ("3.1.2.17", reject(400)),
    "mismatch02": ("3.1.2.18", reject(501)), "bigcode": ("3.1.2.19", DROP),
    "badbranch": ("3.2.1", reject(400)),
    "insuf": ("3.3.1", reject(400)), "unkscm": ("3.3.2", reject(416)), "novelsc": ("3.3.3", reject(416)),
    "unksm2": ("3.3.4", reject(405)), "bext01": ("3.3.5", reject(420)), "invut": ("3.3.6", reject(415)),
    "regaut01": ("3.3.7", reject(405)), "multi01": ("3.3.8", reject(400)), "mcl01": ("3.3.9", reject(400)),
    "bcast": ("3.3.10", DROP), "zeromf": ("3.3.11", ACCEPT), "cparam01": ("3.3.12", reject(405)),
    "cparam02": ("3.3.13", reject(405)), "regescrt": ("3.3.14", reject(405)), "sdp01": ("3.3.15", reject(406)),
    "inv2543": ("3.4.1", ACCEPT),
    "test": ("-", DROP),
}
