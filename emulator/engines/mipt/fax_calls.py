"""Fax in the calls of a unit: the endpoint's fax jobs, the switch from audio to T.38 and what happens when the
peer refuses it — the fax half of :class:`~emulator.engines.mipt.call_media.CallMedia`.

* ``fax_send(endpoint, file)`` / ``fax_receive(endpoint, file)`` arm the endpoint's fax machine (files named,
  never pathed, in ``<state dir>/fax``). A sender in a call plays CNG, a receiver CED (:class:`~.fax.ToneStage`).
* Machine detection (``TelIf.DefaultMachineDetection*``, or the interface's ``TelIf.SpecificMachineDetection``
  row when its ``EnableConfig`` is Enable): CNG recognised, or CED with ``BehaviorOnCedToneDetection`` =
  Faxmode, switches the call: a re-INVITE offering ``m=image ... udptl t38`` when T.38 is enabled for the
  endpoint and the call may carry it (``Mipt.AllowUnsecureT38WithSrtp`` with SRTP). CED with Passthrough keeps
  the audio as voice-band data (G.711 pass-through: the jitter buffer takes the ``Mipt.*Vbd*`` settings). With no
  T.38 possible, ``SipEp.InteropBehaviorOnMachineDetection`` says whether a re-INVITE offering the data codecs
  (G.711 and the transparent ones the endpoint carries) comes first: never (ReInviteOnFaxT38Only), when the call's
  codec is not one of them (ReInviteOnNoNegotiatedDataCodec) or always (ReInviteUnconditional); then
  pass-through. Either switch raises Mipt 9004.
* A refused T.38 re-INVITE: ``SipEp.BehaviorOnT38InviteNotAccepted`` row of the refusal's code (406, 415, 488,
  606; another code or no answer: the 488 row — an emulator choice): DropCall hangs up; ReEstablishAudio
  re-INVITEs with the endpoint's voice codecs; ReInviteForClearChannelOnly re-INVITEs with the transparent
  codecs only (clear mode, clear channel) — and with G.711 when the endpoint carries none of them (an emulator
  choice); UsePreviousMediaNegotiation keeps the call as it was. The three last go on in pass-through, where
  the machine's job runs over the call's audio (:class:`~.fax.VbdSession`: spandsp's modems through the codec).
* A peer's re-offer of an image stream is taken (:mod:`~emulator.protocols.media.t38_setup`); the endpoint's
  armed job runs, or, with none, its fax machine receives into ``fax-<call>-<time>.tif`` (an emulator choice:
  the line's machine answers). The job's end raises Mipt 9005; the call stays in T.38 until someone hangs up.

In pass-through the peer's side must run a modem too: an armed receiver starts one on its CED (Passthrough), a
sender after its T.38 switch failed. An endpoint with no job armed does not detect a fax arriving in its audio.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from emulator.engines.mipt.fax import TICK, FaxJob, FaxPorts, FaxSession, ToneStage, VbdSession
from emulator.engines.mipt.fax_pages import PageError, pdf_to_tiff
from emulator.engines.mipt.stream import MediaStream
from emulator.engines.sipep.offer_answer import CallControl, CallView
from emulator.protocols.media.jitter import settings_from_config
from emulator.protocols.media.session_setup import SecuritySettings, t38_acceptable
from emulator.protocols.media.t38_setup import FaxPlan, image_media, our_params
from emulator.protocols.sdp.sdp import Codec, Direction, SessionDescription

__all__ = ["FaxCalls", "FaxError", "parse_fax_request"]

log = structlog.get_logger("dgw.fax")

_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.tiff?$")
_PDF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.pdf$")  # its pages go to <name>.tif beside it
BEHAVIOURS = ("DropCall", "ReInviteForClearChannelOnly", "ReEstablishAudio", "UsePreviousMediaNegotiation")
TRANSPARENT = ("CLEARMODE", "X-CLEAR-CHANNEL", "X-CCD")
DATA_G711 = ("PCMU", "PCMA")


class FaxError(ValueError):
    """A fax request that cannot be done (a bad file name, a missing file); nothing changed."""


def parse_fax_request(raw: Any) -> tuple[str, str | None]:
    """A lab file's ``fax = { send = "page.tif" }`` or ``{ receive = "in.tif" }`` (``receive = true``: a name from
    the time) -> (mode, file name); :class:`FaxError` says what is wrong."""
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("send", "receive"):
        raise FaxError("fax must be { send = \"<file.tif>\" } or { receive = \"<file.tif>\" | true }")
    mode, name = next(iter(raw.items()))
    if mode == "receive" and name is True:
        return mode, None
    if not isinstance(name, str) or not (_FILE.match(name) or (mode == "send" and _PDF.match(name))):
        raise FaxError(f"fax.{mode}: a TIFF file name (letters, digits, . _ -; ending .tif or .tiff"
                       f"{' or .pdf' if mode == 'send' else ''}) is expected")
    return mode, name


@dataclass(slots=True)
class _FaxCall:
    call: CallView
    stream: MediaStream
    settings: SecuritySettings
    pending: str | None = None  # the kind of our next offer: "t38", "audio", "clear"
    offered: str | None = None  # the kind of the offer in flight
    sock: Any = None  # the UDPTL socket, open from the first image offer or answer
    session: FaxSession | None = None
    vbd: VbdSession | None = None  # the job over the audio (pass-through)
    tones: ToneStage | None = None
    timer: asyncio.TimerHandle | None = None
    job: FaxJob | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class FaxCalls:
    """The fax side of a unit's calls (see the module docstring)."""

    def __init__(self, fax_dir: Path | None, config: Any, notify: Callable[..., Any] | None, host: str,
                 *, paced: bool = True) -> None:
        self.fax_dir = fax_dir
        self.config = config
        self.notify = notify
        self.paced = paced
        self.ports = FaxPorts(host, self._base())
        self.control: CallControl | None = None  # the call layer (re-INVITEs, hang-ups); wired by the lab
        self.jobs: dict[str, FaxJob] = {}  # per endpoint: the fax machine's current or last job
        self._calls: dict[int, _FaxCall] = {}

    def _base(self) -> int:
        return 6004 if self.config is None else int(self.config.get("Mipt.IpTransportT38BasePort") or 6004)

    # -- the endpoint's fax machine (the API's fax actions)
    def _file(self, name: str) -> Path:
        if self.fax_dir is None:
            raise FaxError("this unit has no state directory for faxes")
        if not _FILE.match(name or ""):
            raise FaxError(f"{name!r}: a TIFF file name (letters, digits, . _ -; ending .tif or .tiff) is expected")
        return self.fax_dir / name

    def render_pdf(self, name: str) -> str:
        """Make the pages of the PDF `name` (in the fax directory) into the TIFF-F file ``<name>.tif`` beside it;
        its name. File work only: a face runs it in a thread."""
        if self.fax_dir is None or not _PDF.match(name or ""):
            raise FaxError(f"{name!r}: a PDF file name (letters, digits, . _ -; ending .pdf) is expected")
        if not (self.fax_dir / name).is_file():
            raise FaxError(f"{name}: no such file in the fax directory")
        try:
            pdf_to_tiff(self.fax_dir / name, self.fax_dir / f"{name}.tif")
        except PageError as exc:
            raise FaxError(str(exc)) from None
        return f"{name}.tif"

    def arm(self, endpoint: str, mode: str, name: str | None) -> FaxJob:
        """Arm the endpoint's fax machine to send the file `name` (TIFF-F, or a PDF made into one here) or to
        receive into it (None: a name from the time); starts at once in a call of the endpoint."""
        if mode == "send":
            if name is None:
                raise FaxError("fax_send needs the file to send")
            if name.endswith(".pdf"):
                name = self.render_pdf(name)
            path = self._file(name)
            if not path.is_file():
                raise FaxError(f"{name}: no such file in the fax directory")
        else:
            path = self._file(name or time.strftime("fax-%Y%m%d-%H%M%S.tif"))
        job = FaxJob(mode, path)
        self.jobs[endpoint] = job
        for fc in self._calls.values():
            if fc.call.endpoint == endpoint and fc.stream.plan is not None and fc.session is None:
                self._begin(fc)
        return job

    def job(self, endpoint: str) -> FaxJob | None:
        return self.jobs.get(endpoint)

    # -- the call's life (called by CallMedia)
    def opened(self, call: CallView, stream: MediaStream, settings: SecuritySettings) -> None:
        self._calls.setdefault(call.id, _FaxCall(call, stream, settings))

    def media_started(self, call: CallView) -> None:
        """The call's audio runs (first answer): an armed fax machine starts its tone."""
        fc = self._calls.get(call.id)
        if fc is not None and fc.session is None and fc.tones is None:
            self._begin(fc)

    def image_port(self, call: CallView) -> int:
        """The call's UDPTL port (bound at the first need); 0 when none can be bound."""
        fc = self._calls.get(call.id)
        if fc is None:
            return 0
        if fc.sock is None:
            if self._base() & ~1 != self.ports.base:  # Mipt.IpTransportT38BasePort acts at once (the next stream)
                self.ports = FaxPorts(self.ports.host, self._base())
            try:
                fc.sock = self.ports.bind()
            except OSError as exc:
                log.warning("t38_port_failed", error=str(exc))
                return 0
        return int(fc.sock.getsockname()[1])

    def next_offer(self, call: CallView) -> str | None:
        """The kind of offer the fax machine wants next ("t38", "audio", "clear"), taken once; None: a normal one."""
        fc = self._calls.get(call.id)
        if fc is None:
            return None
        fc.offered, fc.pending = fc.pending, None
        return fc.offered

    @staticmethod
    def offer_codecs(codecs: Sequence[Codec], kind: str | None) -> list[Codec] | None:
        """The codecs of a fax re-offer of `kind`: "clear" the transparent ones (G.711 when the endpoint carries
        none), "data" G.711 and the transparent ones; None: the endpoint's usual offer."""
        g711 = [c for c in codecs if c.name.upper() in DATA_G711]
        transparent = [c for c in codecs if c.name.upper() in TRANSPARENT]
        if kind == "clear":
            return transparent or g711 or None
        if kind == "data":
            return g711 + transparent or None
        return None

    def t38_offer(self, call: CallView, sd: SessionDescription) -> bytes | None:
        """`sd` (our origin) with our image stream; None when no port can be bound."""
        fc = self._calls[call.id]
        port = self.image_port(call)
        if not port:
            return None
        sd.media.append(image_media(port, our_params(fc.settings.t38), fc.settings.t38.encoding))
        return bytes(sd)

    def t38_started(self, call: CallView, plan: FaxPlan, reason: str) -> None:
        """An answer (ours or the peer's) put the call in T.38: the audio stops, the job runs over UDPTL."""
        fc = self._calls.get(call.id)
        if fc is None or fc.sock is None:
            return
        if fc.session is not None:
            fc.session.update(plan)
            return
        self._stop_tones(fc)
        self._stop_vbd(fc)
        job = self.jobs.get(call.endpoint)
        if job is None or job.finished or (job.call is not None and job.call != call.id):
            job = FaxJob("receive", self._auto_name(call))
            self.jobs[call.endpoint] = job
        job.call = call.id
        fc.job = job
        fc.stream.set_direction(Direction.INACTIVE)
        fc.session = FaxSession(fc.sock, plan, job, on_done=lambda s: self._done(fc), paced=self.paced,
                                ident=call.endpoint)
        fc.sock = None  # the session owns it now
        fc.session.start()
        self._notify(9004, call=call.id, endpoint=call.endpoint, mode="T.38", reason=reason)

    def audio_again(self, call: CallView) -> None:
        """An answer without image stream: the call is in audio (again); a T.38 session ends."""
        fc = self._calls.get(call.id)
        if fc is not None:
            for held in (fc.session, fc.sock):
                if held is not None:
                    held.close()
            fc.session = fc.sock = None

    def withdrawn(self, call: CallView) -> None:
        fc = self._calls.get(call.id)
        if fc is not None and fc.offered == "t38" and fc.session is None and fc.sock is not None:
            fc.sock.close()
            fc.sock = None

    def ended(self, call: CallView) -> None:
        fc = self._calls.pop(call.id, None)
        if fc is None:
            return
        self._stop_tones(fc)
        self._stop_vbd(fc)
        for task in fc.tasks:
            task.cancel()
        if fc.session is not None:
            fc.session.close()
        job = fc.job
        if job is not None and not job.finished and job.call == call.id:
            job.state, job.result = "failed", "call ended"
            self._done_job(call, job)
        if fc.sock is not None:
            fc.sock.close()

    def stats(self, call: CallView) -> dict[str, Any] | None:
        fc = self._calls.get(call.id)
        return None if fc is None or fc.session is None else fc.session.stats()

    # -- inside
    def _auto_name(self, call: CallView) -> Path:
        return self._file(f"fax-{call.id}-{time.strftime('%Y%m%d-%H%M%S')}.tif")

    def _notify(self, msg: int, **fields: Any) -> None:
        if self.notify is not None:
            self.notify("Mipt", msg, **fields)

    def _detection(self, endpoint: str) -> tuple[bool, bool, str]:
        """(CNG detection, CED detection, BehaviorOnCedToneDetection) of the endpoint's interface."""
        c = self.config
        if c is None:
            return True, True, "Passthrough"
        cng = c.get("TelIf.DefaultMachineDetectionCngToneDetection")
        ced = c.get("TelIf.DefaultMachineDetectionCedToneDetection")
        on_ced = c.get("TelIf.DefaultMachineDetectionBehaviorOnCedToneDetection")
        for row in c.rows("TelIf.SpecificMachineDetection"):
            if str(row.get("InterfaceId")) == endpoint and str(row.get("EnableConfig")) == "Enable":
                cng, ced = row.get("CngToneDetection", cng), row.get("CedToneDetection", ced)
                on_ced = row.get("BehaviorOnCedToneDetection", on_ced)
        return str(cng) == "Enable", str(ced) == "Enable", str(on_ced or "Passthrough")

    def _begin(self, fc: _FaxCall) -> None:
        """The armed machine is on the line: its tone plays, the unit listens for it."""
        job = self.jobs.get(fc.call.endpoint)
        if job is None or job.finished or job.state not in ("armed",):
            return
        self._stop_tones(fc)  # a job armed over another one in the same call replaces it on the line
        self._stop_vbd(fc)
        job.call = fc.call.id
        fc.job = job
        job.state = "tones"
        cng, ced, _ = self._detection(fc.call.endpoint)
        sending = job.mode == "send"
        fc.tones = ToneStage(sending, cng if sending else ced)
        fc.stream.play_tone(fc.tones.frequency, level_dbm0=-10.0)
        fc.timer = asyncio.get_running_loop().call_later(TICK, self._listen, fc)

    def _listen(self, fc: _FaxCall) -> None:
        tones = fc.tones
        if tones is None:
            return
        if not tones.step(160):
            fc.timer = asyncio.get_running_loop().call_later(TICK, self._listen, fc)
            return
        sending = fc.job is not None and fc.job.mode == "send"
        _, _, on_ced = self._detection(fc.call.endpoint)
        if sending or on_ced == "Faxmode":
            self._spawn(fc, self._switch(fc, "CNG detected" if sending else "CED detected"))
        else:
            self._passthrough(fc, "CED detected")

    def _spawn(self, fc: _FaxCall, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        fc.tasks.add(task)
        task.add_done_callback(fc.tasks.discard)

    def _stop_tones(self, fc: _FaxCall) -> None:
        if fc.timer is not None:
            fc.timer.cancel()
            fc.timer = None
        if fc.tones is not None:
            fc.tones.close()
            fc.tones = None

    def _stop_vbd(self, fc: _FaxCall) -> None:
        if fc.vbd is not None:
            fc.vbd.close()
            fc.vbd = None

    def _passthrough(self, fc: _FaxCall, reason: str) -> None:
        """Voice-band data: the job (if any) runs over the call's audio."""
        self._stop_tones(fc)
        fc.stream.set_source(None)
        if self.config is not None:
            fc.stream.set_jitter_buffer(settings_from_config(self.config, fc.call.endpoint, vbd=True))
        if fc.job is not None and not fc.job.finished and fc.vbd is None:
            fc.vbd = VbdSession(fc.stream, fc.job, on_done=lambda s: self._done(fc), ident=fc.call.endpoint)
            fc.vbd.start()
        self._notify(9004, call=fc.call.id, endpoint=fc.call.endpoint, mode="G.711 pass-through", reason=reason)

    def _t38_possible(self, fc: _FaxCall) -> bool:
        plan = fc.stream.plan
        return fc.settings.t38.enabled and t38_acceptable(fc.settings, plan is not None and plan.secure)

    async def _switch(self, fc: _FaxCall, reason: str) -> None:
        """Machine detected: re-INVITE to T.38, and the refusal's behaviour when the peer says no."""
        if self.control is None or not self._t38_possible(fc):
            await self._data_codec(fc, reason)
            return
        fc.pending = "t38"
        status = await self.control.renegotiate(fc.call)
        if fc.session is not None:
            return
        behaviour = self._behaviour(status)
        log.info("t38_refused", call=fc.call.id, status=status, behaviour=behaviour)
        if behaviour == "DropCall":
            self._stop_tones(fc)
            if fc.job is not None:
                fc.job.state, fc.job.result = "failed", f"T.38 refused ({status}): call dropped"
                self._done_job(fc.call, fc.job)
            await self.control.bye(fc.call, f"T.38 refused ({status})")
            return
        if behaviour in ("ReEstablishAudio", "ReInviteForClearChannelOnly"):
            fc.pending = "audio" if behaviour == "ReEstablishAudio" else "clear"
            await self.control.renegotiate(fc.call)
        self._passthrough(fc, f"T.38 refused ({status}): {behaviour}")

    async def _data_codec(self, fc: _FaxCall, reason: str) -> None:
        """No T.38: a re-INVITE for the data codecs first if ``SipEp.InteropBehaviorOnMachineDetection`` asks it."""
        mode = "ReInviteOnFaxT38Only" if self.config is None else \
            str(self.config.get("SipEp.InteropBehaviorOnMachineDetection"))
        on_data = fc.stream.codec in (*DATA_G711, *TRANSPARENT)
        why = f"{reason}, T.38 not possible"
        if self.control is not None and (mode == "ReInviteUnconditional"
                                         or (mode == "ReInviteOnNoNegotiatedDataCodec" and not on_data)):
            fc.pending = "data"
            why += f", re-INVITE for a data codec ({await self.control.renegotiate(fc.call)})"
        self._passthrough(fc, why)

    def _behaviour(self, status: int | None) -> str:
        rows = [] if self.config is None else self.config.rows("SipEp.BehaviorOnT38InviteNotAccepted")
        by_code = {int(r.get("SipErrorCode") or 0): str(r.get("Behavior")) for r in rows}
        found = by_code.get(status or 0) or by_code.get(488)
        return found if found in BEHAVIOURS else "ReInviteForClearChannelOnly"

    def _done(self, fc: _FaxCall) -> None:
        job = fc.job
        if job is not None:
            self._done_job(fc.call, job)

    def _done_job(self, call: CallView, job: FaxJob) -> None:
        self._notify(9005, endpoint=call.endpoint, result="success" if job.state == "done" else "failure",
                     pages=job.pages, detail=job.result)
