"""SDES: SRTP keys in ``a=crypto`` media attributes (RFC 4568), offer building and answer selection.

Grammar (RFC 4568 §9.1, SRTP key-info §6.1, session parameters §6.3)::

    a=crypto:<tag> <crypto-suite> <key-params> [<session-param> ...]
    key-params   = key-param *(";" key-param)         ; several keys only with MKIs
    key-param    = "inline:" key-salt ["|" lifetime] ["|" mki-value ":" mki-length]
    key-salt     = base64(master key || master salt)  ; 30 octets for the AES_CM_128 suites
    lifetime     = ["2^"] 1*DIGIT                     ; at most 2^48 for SRTP
    session-param: KDR=n, UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP, UNAUTHENTICATED_SRTP, FEC_ORDER=..,
                   FEC_KEY=.., WSH=n, or an extension (a leading "-" marks one that may be ignored)

What this emulator accepts (like the DGW, AES_CM_128 only): the two suites of :class:`SrtpSuite`; one
master key per line (with or without an MKI — the MKI is carried in each packet by
:class:`emulator.protocols.media.srtp.SrtpContext`); session parameters that change nothing for us (FEC_ORDER=FEC_SRTP,
WSH, "-" extensions). Everything else makes that line unacceptable (RFC 4568 §6.3: an answerer that does
not support a session parameter must not select the line) and the next offered line is tried.

Offer: ``Mipt.SrtpOfferCryptoMode`` (Aes80 / Aes32 / Aes80And32, an emulator addition for the newer
firmware's "Crypto Mode When Sending Offer") picks the lines, in preference order, each with its own key.
Answer: ``Mipt.SrtpAnswerCryptoMode`` (AsOffered / Aes80 / Aes32, "Crypto Mode When Sending Answer") picks
the first acceptable offered line, or only one of the named suite; the answer echoes tag and suite with our
own fresh key (RFC 4568 §5.1.2, §7.1.2).
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from emulator.protocols.keying.suites import SrtpKeying, SrtpSuite

__all__ = [
    "AnswerCryptoMode",
    "CryptoAttribute",
    "KeyParam",
    "OfferCryptoMode",
    "SdesAnswer",
    "SdesError",
    "SdesKeyLengthError",
    "SdesNoAcceptableCryptoError",
    "SdesSessionParamError",
    "SdesSyntaxError",
    "SdesUnknownSuiteError",
    "SdesUnsupportedError",
    "accept_answer",
    "build_offer",
    "parse_crypto_lines",
    "select_answer",
]

_E = TypeVar("_E", bound=enum.Enum)

MAX_LIFETIME = 1 << 48  # RFC 3711 §9.2 / RFC 4568 §6.1: SRTP packets per master key
_TAG = re.compile(r"^[0-9]{1,9}$")
_SUITE = re.compile(r"^[A-Za-z0-9_]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_LIFETIME = re.compile(r"^(2\^)?([0-9]{1,20})$")
_MKI = re.compile(r"^([0-9]{1,39}):([0-9]{1,3})$")
_WSP = re.compile(r"[ \t]+")


class SdesError(ValueError):
    """An ``a=crypto`` line we cannot use. `status_code` is the SIP answer when no line is usable (488)."""

    status_code = 488

    def __init__(self, message: str, line: str | None = None) -> None:
        super().__init__(message if line is None else f"{message}: {line!r}")
        self.reason = message
        self.line = line


class SdesSyntaxError(SdesError):
    """The line does not follow the RFC 4568 §9.1 grammar."""


class SdesKeyLengthError(SdesError):
    """The inline key||salt does not have the suite's length (30 octets for AES_CM_128)."""


class SdesUnknownSuiteError(SdesError):
    """A crypto suite we do not implement (anything but AES_CM_128_HMAC_SHA1_80/_32)."""


class SdesSessionParamError(SdesError):
    """A session parameter we do not support or do not know (RFC 4568 §6.3)."""


class SdesUnsupportedError(SdesError):
    """Valid, but beyond what we do: several master keys, MKI longer than 128 bytes..."""


class SdesNoAcceptableCryptoError(SdesError):
    """No offered ``a=crypto`` line is acceptable: refuse the stream (488 Not Acceptable Here)."""

    def __init__(self, message: str, problems: Sequence[SdesError] = ()) -> None:
        detail = "; ".join(str(p) for p in problems)
        super().__init__(message + (f" ({detail})" if detail else ""))
        self.problems = list(problems)


class OfferCryptoMode(enum.Enum):
    """``Mipt.SrtpOfferCryptoMode`` values: the suites an offer lists, in preference order."""

    AES80 = "Aes80"
    AES32 = "Aes32"
    AES80_AND_32 = "Aes80And32"

    @property
    def suites(self) -> tuple[SrtpSuite, ...]:
        if self is OfferCryptoMode.AES80:
            return (SrtpSuite.AES_CM_128_HMAC_SHA1_80,)
        if self is OfferCryptoMode.AES32:
            return (SrtpSuite.AES_CM_128_HMAC_SHA1_32,)
        return (SrtpSuite.AES_CM_128_HMAC_SHA1_80, SrtpSuite.AES_CM_128_HMAC_SHA1_32)

    @classmethod
    def from_parameter(cls, value: str) -> OfferCryptoMode:
        return _enum_from(cls, value)


class AnswerCryptoMode(enum.Enum):
    """``Mipt.SrtpAnswerCryptoMode`` values: which offered suite an answer may pick."""

    AS_OFFERED = "AsOffered"
    AES80 = "Aes80"
    AES32 = "Aes32"

    def allows(self, suite: SrtpSuite) -> bool:
        if self is AnswerCryptoMode.AES80:
            return suite is SrtpSuite.AES_CM_128_HMAC_SHA1_80
        if self is AnswerCryptoMode.AES32:
            return suite is SrtpSuite.AES_CM_128_HMAC_SHA1_32
        return True

    @classmethod
    def from_parameter(cls, value: str) -> AnswerCryptoMode:
        return _enum_from(cls, value)


def _enum_from(cls: type[_E], value: str) -> _E:
    for member in cls:
        if str(member.value).lower() == value.strip().lower():
            return member
    raise ValueError(f"unknown {cls.__name__} {value!r} ({', '.join(str(m.value) for m in cls)})")


# --------------------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class KeyParam:
    """One ``inline:`` key-param (RFC 4568 §6.1): key||salt, optional lifetime and MKI."""

    key_salt: bytes = field(repr=False)
    lifetime: int | None = None  # in packets
    lifetime_text: str | None = None  # as written ("2^20" or "1048576"), to serialise it back unchanged
    mki: int | None = None
    mki_length: int | None = None  # octets of MKI in each packet

    @property
    def mki_bytes(self) -> bytes:
        if self.mki is None or not self.mki_length:
            return b""
        return self.mki.to_bytes(self.mki_length, "big")

    def serialize(self) -> str:
        text = "inline:" + base64.b64encode(self.key_salt).decode()
        if self.lifetime_text is not None:
            text += "|" + self.lifetime_text
        elif self.lifetime is not None:
            text += "|" + (
                f"2^{self.lifetime.bit_length() - 1}"
                if self.lifetime & (self.lifetime - 1) == 0
                else str(self.lifetime)
            )
        if self.mki is not None:
            text += f"|{self.mki}:{self.mki_length}"
        return text

    @classmethod
    def parse(cls, text: str, line: str | None = None) -> KeyParam:
        method, sep, info = text.partition(":")
        if not sep:
            raise SdesSyntaxError("key-param without ':'", line)
        if method.lower() != "inline":
            raise SdesUnsupportedError(f"key method {method!r} (only 'inline' exists for SRTP)", line)
        parts = info.split("|")
        if len(parts) > 3:
            raise SdesSyntaxError("too many '|' fields in key-info", line)
        b64 = parts[0]
        if not b64 or not _B64.match(b64):
            raise SdesSyntaxError("key||salt is not base64", line)
        try:
            key_salt = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SdesSyntaxError("key||salt is not valid base64", line) from None
        lifetime = lifetime_text = mki = mki_length = None
        for part in parts[1:]:
            m = _MKI.match(part)
            if m:
                if mki is not None:
                    raise SdesSyntaxError("two MKI fields", line)
                mki, mki_length = int(m.group(1)), int(m.group(2))
                if not 1 <= mki_length <= 128:
                    raise SdesSyntaxError("MKI length must be 1..128 octets", line)
                if mki.bit_length() > 8 * mki_length:
                    raise SdesSyntaxError(f"MKI value {mki} does not fit in {mki_length} octets", line)
                continue
            m = _LIFETIME.match(part)
            if m is None:
                raise SdesSyntaxError(f"bad lifetime or MKI field {part!r}", line)
            if mki is not None:
                raise SdesSyntaxError("lifetime after the MKI", line)
            if lifetime is not None:
                raise SdesSyntaxError("two lifetime fields", line)
            n = int(m.group(2))
            lifetime = (1 << n if n <= 64 else MAX_LIFETIME + 1) if m.group(1) else n
            if lifetime > MAX_LIFETIME or lifetime == 0:
                raise SdesSyntaxError(f"lifetime {part} outside 1..2^48", line)
            lifetime_text = part
        return cls(key_salt, lifetime, lifetime_text, mki, mki_length)


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One ``a=crypto`` attribute value (RFC 4568 §4)."""

    tag: int
    suite: str
    keys: tuple[KeyParam, ...]
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """Parse ``<tag> <suite> <key-params> [<session-params>]`` (an ``a=crypto:`` prefix is tolerated)."""
        line = value
        text = value.strip()
        for prefix in ("a=crypto:", "crypto:"):
            if text.lower().startswith(prefix):
                text = text[len(prefix) :]
                break
        fields = _WSP.split(text.strip())
        if len(fields) < 3 or not fields[0]:
            raise SdesSyntaxError("a=crypto needs <tag> <crypto-suite> <key-params>", line)
        tag_text, suite, key_text, *params = fields
        if not _TAG.match(tag_text):
            raise SdesSyntaxError("tag must be 1 to 9 digits", line)
        if not _SUITE.match(suite):
            raise SdesSyntaxError("crypto-suite is not a token", line)
        keys = tuple(KeyParam.parse(k, line) for k in key_text.split(";"))
        return cls(int(tag_text), suite, keys, tuple(params))

    def serialize(self) -> str:
        """The attribute value (what follows ``a=crypto:``)."""
        out = f"{self.tag} {self.suite} {';'.join(k.serialize() for k in self.keys)}"
        if self.session_params:
            out += " " + " ".join(self.session_params)
        return out

    def line(self) -> str:
        return "a=crypto:" + self.serialize()

    @property
    def srtp_suite(self) -> SrtpSuite:
        try:
            return SrtpSuite(self.suite)
        except ValueError:
            raise SdesUnknownSuiteError(f"unsupported crypto suite {self.suite!r}") from None

    def check_acceptable(self) -> SrtpSuite:
        """Raise the precise :class:`SdesError` that makes this line unusable for us; return its suite."""
        suite = self.srtp_suite
        if len(self.keys) != 1:
            raise SdesUnsupportedError(
                f"tag {self.tag}: {len(self.keys)} master keys (MKI key switching) not supported"
            )
        key = self.keys[0]
        if len(key.key_salt) != suite.master_length:
            raise SdesKeyLengthError(
                f"tag {self.tag}: {suite.value} needs {suite.master_length} octets of key||salt "
                f"({suite.key_length}+{suite.salt_length}), got {len(key.key_salt)}"
            )
        if (key.mki is None) != (key.mki_length is None):  # pragma: no cover - parse keeps them together
            raise SdesSyntaxError(f"tag {self.tag}: MKI value without length")
        for p in self.session_params:
            _check_session_param(self.tag, p)
        return suite

    def keying(self) -> SrtpKeying:
        """The SRTP keying this line gives (for the direction the line's owner sends)."""
        suite = self.check_acceptable()
        key = self.keys[0]
        return SrtpKeying(suite, key.key_salt, key.mki_bytes)


def _check_session_param(tag: int, param: str) -> None:
    """RFC 4568 §6.3 session parameters: accept those that change nothing for us, refuse the rest."""
    name, _, value = param.partition("=")
    upper = name.upper()
    if upper == "FEC_ORDER":
        if value.upper() == "FEC_SRTP":
            return  # the default order (§6.3.4); we do no FEC
        raise SdesSessionParamError(f"tag {tag}: FEC_ORDER={value} not supported")
    if upper == "WSH":
        if value.isdigit() and int(value) >= 64:
            return  # window size hint (§6.3.7): advisory
        raise SdesSessionParamError(f"tag {tag}: WSH must be a number >= 64, got {value!r}")
    if upper in ("KDR", "UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP", "FEC_KEY"):
        raise SdesSessionParamError(f"tag {tag}: session parameter {param} not supported")
    if param.startswith("-") and len(param) > 1:
        return  # extension the receiver may ignore
    raise SdesSessionParamError(f"tag {tag}: unknown session parameter {param!r}")


# ---------------------------------------------------------------------------------- negotiation


def parse_crypto_lines(values: Iterable[str]) -> tuple[list[CryptoAttribute], list[SdesError]]:
    """Parse every ``a=crypto`` value of a media description; malformed ones are returned as errors."""
    good: list[CryptoAttribute] = []
    bad: list[SdesError] = []
    seen: set[int] = set()
    for v in values:
        try:
            attr = CryptoAttribute.parse(v)
        except SdesError as exc:
            bad.append(exc)
            continue
        if attr.tag in seen:
            bad.append(SdesSyntaxError(f"duplicate tag {attr.tag}", v))
            continue
        seen.add(attr.tag)
        good.append(attr)
    return good, bad


def build_offer(
    mode: OfferCryptoMode | str,
    rng: Callable[[int], bytes] = os.urandom,
    *,
    lifetime: str | None = None,
    mki_length: int = 0,
) -> list[CryptoAttribute]:
    """``a=crypto`` lines for an offer: one per suite of `mode`, tags 1.., each with its own fresh key."""
    mode = OfferCryptoMode.from_parameter(mode) if isinstance(mode, str) else mode
    out = []
    for tag, suite in enumerate(mode.suites, start=1):
        key = KeyParam(
            rng(suite.master_length),
            lifetime_text=lifetime,
            mki=1 if mki_length else None,
            mki_length=mki_length or None,
        )
        if lifetime is not None:
            key = KeyParam.parse(key.serialize())  # validates the lifetime text
        out.append(CryptoAttribute(tag, suite.value, (key,)))
    return out


@dataclass(frozen=True, slots=True)
class SdesAnswer:
    """Outcome of :func:`select_answer`: the line to put in the answer and the keying of both directions."""

    answer: CryptoAttribute  # our line: offered tag and suite, our key
    selected: CryptoAttribute  # the offered line we accepted
    local: SrtpKeying  # protects what we send
    remote: SrtpKeying  # unprotects what the offerer sends
    skipped: tuple[SdesError, ...] = ()  # why earlier offered lines were not taken


def select_answer(
    offered: Sequence[str | CryptoAttribute],
    mode: AnswerCryptoMode | str = AnswerCryptoMode.AS_OFFERED,
    rng: Callable[[int], bytes] = os.urandom,
    *,
    mki_length: int = 0,
) -> SdesAnswer:
    """Choose the first acceptable offered line allowed by `mode` and build our answer line.

    Raises :class:`SdesNoAcceptableCryptoError` (488) listing why each line was refused.
    """
    mode = AnswerCryptoMode.from_parameter(mode) if isinstance(mode, str) else mode
    problems: list[SdesError] = []
    attrs: list[CryptoAttribute] = []
    for o in offered:
        if isinstance(o, CryptoAttribute):
            attrs.append(o)
        else:
            parsed, bad = parse_crypto_lines([o])
            attrs.extend(parsed)
            problems.extend(bad)
    if not attrs and not problems:
        raise SdesNoAcceptableCryptoError("no a=crypto line in the offer")
    for attr in attrs:
        try:
            suite = attr.check_acceptable()
        except SdesError as exc:
            problems.append(exc)
            continue
        if not mode.allows(suite):
            problems.append(
                SdesUnknownSuiteError(f"tag {attr.tag}: {suite.value} not allowed by answer mode {mode.value}")
            )
            continue
        key = KeyParam(rng(suite.master_length), mki=1 if mki_length else None, mki_length=mki_length or None)
        answer = CryptoAttribute(attr.tag, attr.suite, (key,))
        return SdesAnswer(
            answer=answer,
            selected=attr,
            local=SrtpKeying(suite, key.key_salt, key.mki_bytes),
            remote=attr.keying(),
            skipped=tuple(problems),
        )
    raise SdesNoAcceptableCryptoError("no acceptable a=crypto line", problems)


def accept_answer(
    offered: Sequence[CryptoAttribute], answer: str | CryptoAttribute | Sequence[str | CryptoAttribute]
) -> tuple[SrtpKeying, SrtpKeying]:
    """Offerer side: check the answer's line against our offer (same tag and suite, RFC 4568 §5.1.3) and
    return (local, remote) keying: our offered key for sending, the answerer's key for receiving."""
    if isinstance(answer, str | CryptoAttribute):
        answers = [answer]
    else:
        answers = list(answer)
    if len(answers) != 1:
        raise SdesSyntaxError(f"the answer must carry exactly one a=crypto line, got {len(answers)}")
    ans = answers[0] if isinstance(answers[0], CryptoAttribute) else CryptoAttribute.parse(answers[0])
    ours = next((o for o in offered if o.tag == ans.tag), None)
    if ours is None:
        raise SdesSyntaxError(f"answer tag {ans.tag} was not offered")
    if ours.suite != ans.suite:
        raise SdesUnknownSuiteError(f"answer tag {ans.tag} changes the suite from {ours.suite} to {ans.suite}")
    return ours.keying(), ans.keying()
