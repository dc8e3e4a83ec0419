"""CPE RPC methods of TR-069 Annex A.3 over a :class:`~emulator.protocols.cwmp.datamodel.DataModel`.

``RpcHandler.handle(envelope)`` returns the body of the answer (a ``...Response`` or a SOAP Fault with a
CWMP Fault, A.5.1). Nothing is done by halves: SetParameterValues, SetParameterAttributes, AddObject and
DeleteObject go through ``Config.batch()`` and leave the unit unchanged when they fault. What must happen
after the session (TR-069 §3.7.2.4 and A.3.2.9/10/11: reboot, factory reset, transfers, restarts) is
queued in ``RpcHandler.actions`` for the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from emulator.protocols.cwmp.datamodel import DataModel, Leaf
from emulator.protocols.cwmp.soap import (
    FAULT_STRINGS,
    XSI,
    CwmpFault,
    Envelope,
    array,
    child,
    child_text,
    children,
    esc,
    fault_body,
)

__all__ = ["CPE_METHODS", "FAULT_STRINGS", "Action", "CwmpFault", "RpcHandler"]

CPE_METHODS = (
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
    "Upload",
    "FactoryReset",
)
UNKNOWN_TIME = "0001-01-01T00:00:00Z"
DOWNLOAD_TYPES = ("1 Firmware Upgrade Image", "3 Vendor Configuration File")
UPLOAD_TYPES = ("1 Vendor Configuration File", "2 Vendor Log File")
MAX_NAMES = 4096  # entries in one request: more -> 9004 Resources exceeded
_XSD_TYPES = {"string", "int", "unsignedInt", "boolean", "dateTime", "base64", "long", "unsignedLong", "hexBinary"}


@dataclass(slots=True)
class Action:
    """Something the engine does once the session has ended."""

    kind: str  # reboot | factory_reset | download | upload | restart_services
    command_key: str = ""
    args: dict[str, Any] = field(default_factory=dict)


def _required(el: Element, tag: str) -> Element:
    """The child ``tag`` of an RPC element; its absence is fault 9003 Invalid arguments (TR-069 A.5.1)."""
    found = child(el, tag)
    if found is None:
        raise CwmpFault(9003, f"{tag} missing")
    return found


def _array_response(method: str, item_type: str, items: Iterable[str], count: int, tag: str = "ParameterList") -> str:
    """``<cwmp:{method}Response>`` holding one SOAP-encoded array (TR-069 A.3.2)."""
    return f"<cwmp:{method}Response>{array(item_type, items, count, tag)}</cwmp:{method}Response>"


def _key(text: str | None) -> str:
    if text is not None and len(text) > 32:
        raise CwmpFault(9003, "ParameterKey/CommandKey longer than 32 characters")
    return text or ""


class RpcHandler:
    """Answers the ACS's requests for one unit."""

    def __init__(self, model: DataModel) -> None:
        self.model = model
        self.actions: list[Action] = []

    # ------------------------------------------------------------------ dispatch
    def handle(self, env: Envelope) -> str:
        try:
            if env.method not in CPE_METHODS:
                raise CwmpFault(9000, f"{env.method} is not supported")
            fn = getattr(self, "_" + env.method)
            body: str = fn(env.body)
            return body
        except CwmpFault as f:
            return fault_body(f.code, f.string + (f": {f.detail}" if f.detail else ""), f.set_faults)
        except (ValueError, TypeError, KeyError) as e:
            return fault_body(9003, f"{FAULT_STRINGS[9003]}: {e}")

    def _restart_status(self) -> int:
        """Status 1 ("applied, not yet effective") when a service must restart to apply the change."""
        if self.model.config.restart_required():
            if not any(a.kind == "restart_services" for a in self.actions):
                self.actions.append(Action("restart_services"))
            return 1
        return 0

    # ------------------------------------------------------------------ methods
    def _GetRPCMethods(self, el: Element) -> str:
        items = (f"<string>{m}</string>" for m in CPE_METHODS)
        return _array_response("GetRPCMethods", "xsd:string", items, len(CPE_METHODS), "MethodList")

    def _names_list(self, el: Element, tag: str) -> list[str]:
        lst = _required(el, tag)
        names = [(s.text or "").strip() for s in children(lst, "string")]
        if len(names) > MAX_NAMES:
            raise CwmpFault(9004, f"more than {MAX_NAMES} names")
        return names

    def _GetParameterValues(self, el: Element) -> str:
        names = self._names_list(el, "ParameterNames")
        values = self.model.values(names)
        items = (
            f"<ParameterValueStruct><Name>{esc(n)}</Name><Value xsi:type=\"xsd:{t}\">{esc(v)}</Value>"
            "</ParameterValueStruct>"
            for n, t, v in values
        )
        return _array_response("GetParameterValues", "cwmp:ParameterValueStruct", items, len(values))

    def _GetParameterNames(self, el: Element) -> str:
        path = child_text(el, "ParameterPath", "") or ""
        nl = (child_text(el, "NextLevel", "") or "").lower()
        if nl not in ("true", "false", "1", "0"):
            raise CwmpFault(9003, "NextLevel must be a boolean")
        names = self.model.names(path, nl in ("true", "1"))
        items = (
            f"<ParameterInfoStruct><Name>{esc(n)}</Name><Writable>{'1' if w else '0'}</Writable>"
            "</ParameterInfoStruct>"
            for n, w in names
        )
        return _array_response("GetParameterNames", "cwmp:ParameterInfoStruct", items, len(names))

    def _SetParameterValues(self, el: Element) -> str:
        lst = _required(el, "ParameterList")
        pkey = _key(child_text(el, "ParameterKey", ""))
        entries: list[tuple[str, str, str | None]] = []
        for s in children(lst, "ParameterValueStruct"):
            name = child_text(s, "Name")
            v = child(s, "Value")
            if name is None or v is None:
                raise CwmpFault(9003, "ParameterValueStruct without Name or Value")
            xtype = v.get(f"{{{XSI}}}type")
            entries.append((name, v.text or "", xtype.rsplit(":", 1)[-1] if xtype else None))
        if len(entries) > MAX_NAMES:
            raise CwmpFault(9004, f"more than {MAX_NAMES} parameters")
        seen: set[str] = set()
        for n, _, _ in entries:
            if n in seen:
                raise CwmpFault(9003, f"{n} appears twice")
            seen.add(n)
        strict = self.model.config.get("Cwmp.InteropParameterTypeValidation") == "Strict"
        faults: list[tuple[str, int, str]] = []
        commits = []
        later: list[tuple[str, Leaf, str]] = []
        config = self.model.config
        try:
            with config.batch():
                for name, value, xtype in entries:
                    try:
                        lf: Leaf = self.model.leaf(name)
                        if not lf.writable or lf.set is None:
                            raise CwmpFault(9008, f"{name} is read-only")
                        if xtype is not None and xtype not in _XSD_TYPES:
                            raise CwmpFault(9006, f"unknown type xsd:{xtype}")
                        if xtype is not None and xtype != lf.type and (strict or (lf.type == "boolean" and
                                                                       xtype not in ("string", "boolean"))):
                            raise CwmpFault(9006, f"{name} is xsd:{lf.type}, not xsd:{xtype}")
                        if lf.last:  # a service command: after the other values (firmware_model.service_commands)
                            later.append((name, lf, value))
                            continue
                        commit = lf.set(value)
                        if commit is not None:
                            commits.append(commit)
                    except CwmpFault as f:
                        faults.append((name, f.code, f"{f.string}: {f.detail}" if f.detail else f.string))
                for name, lf, value in later if not faults else ():
                    try:
                        lf.set(value)  # type: ignore[misc]  # a command leaf has a setter
                    except CwmpFault as f:
                        faults.append((name, f.code, f"{f.string}: {f.detail}" if f.detail else f.string))
                if faults:
                    raise CwmpFault(9003, "SetParameterValues refused", faults)
        except CwmpFault:
            raise
        for c in commits:
            c()
        self.model.state.parameter_key = pkey
        self.model.state.dirty = True
        return f"<cwmp:SetParameterValuesResponse><Status>{self._restart_status()}</Status>" \
               "</cwmp:SetParameterValuesResponse>"

    def _GetParameterAttributes(self, el: Element) -> str:
        names = self._names_list(el, "ParameterNames")
        out = []
        for n in names:
            for lf in self.model.leaves_under(n):
                note = self.model.state.notifications.get(lf.path, 0)
                acc = self.model.state.access.get(lf.path, [])
                acc_xml = array("xsd:string", (f"<string>{esc(a)}</string>" for a in acc), len(acc), "AccessList")
                out.append(
                    f"<ParameterAttributeStruct><Name>{esc(lf.path)}</Name><Notification>{note}</Notification>"
                    f"{acc_xml}</ParameterAttributeStruct>"
                )
        return _array_response("GetParameterAttributes", "cwmp:ParameterAttributeStruct", out, len(out))

    def _SetParameterAttributes(self, el: Element) -> str:
        lst = _required(el, "ParameterList")
        plan: list[tuple[str, int | None, list[str] | None]] = []
        for s in children(lst, "SetParameterAttributesStruct"):
            name = child_text(s, "Name", "") or ""
            nchange = (child_text(s, "NotificationChange", "0") or "").lower() in ("1", "true")
            ntext = child_text(s, "Notification", "0") or "0"
            if not ntext.isdigit() or int(ntext) > 6:
                raise CwmpFault(9003, f"Notification {ntext!r}")
            note = int(ntext)
            if note > 2:
                raise CwmpFault(9003, f"Notification {note} is not supported")
            achange = (child_text(s, "AccessListChange", "0") or "").lower() in ("1", "true")
            acc_el = child(s, "AccessList")
            acc = [(x.text or "").strip() for x in children(acc_el, "string")] if acc_el is not None else []
            if any(a != "Subscriber" for a in acc):
                raise CwmpFault(9003, "AccessList entries other than Subscriber")
            for lf in self.model.leaves_under(name):
                if nchange and note == 2 and not lf.active_ok:
                    raise CwmpFault(9009, f"active notification refused for {lf.path}")
                plan.append((lf.path, note if nchange else None, acc if achange else None))
        st = self.model.state
        for path, new_note, new_acc in plan:
            if new_note is not None:
                if new_note:
                    st.notifications[path] = new_note
                else:
                    st.notifications.pop(path, None)
            if new_acc is not None:
                if new_acc:
                    st.access[path] = new_acc
                else:
                    st.access.pop(path, None)
        st.dirty = True
        return "<cwmp:SetParameterAttributesResponse/>"

    def _AddObject(self, el: Element) -> str:
        name = child_text(el, "ObjectName", "") or ""
        pkey = _key(child_text(el, "ParameterKey", ""))
        table, inst = self.model.table_at(name)
        if inst is not None or not table.dynamic:
            raise CwmpFault(9005, f"{name}: not a writable multi-instance object")
        config = self.model.config
        index = None
        if not (len(table.index) == 1 and table.columns[table.index[0]].type.kind in ("uint", "int")):
            if len(table.index) != 1:
                raise CwmpFault(9004, f"{name}: rows of this table need a composite index (use a script)")
            n = self.model.state.highwater.get(table.name, 0) + 1
            try:
                index = (table.columns[table.index[0]].type.parse(f"Instance{n}"),)
            except ValueError:
                raise CwmpFault(9004, f"{name}: cannot make an index for a new row") from None
        try:
            with config.batch():
                idx = config.add_row(table.name, index=index, source=self.model.source)
        except Exception as e:
            raise CwmpFault(9002, str(e)) from None
        number = self.model.instance_of(table, idx)
        self.model.state.parameter_key = pkey
        self.model.state.dirty = True
        return f"<cwmp:AddObjectResponse><InstanceNumber>{number}</InstanceNumber>" \
               f"<Status>{self._restart_status()}</Status></cwmp:AddObjectResponse>"

    def _DeleteObject(self, el: Element) -> str:
        name = child_text(el, "ObjectName", "") or ""
        pkey = _key(child_text(el, "ParameterKey", ""))
        table, inst = self.model.table_at(name)
        if inst is None or not table.dynamic:
            raise CwmpFault(9005, f"{name}: not a deletable object instance")
        idx = self.model.index_of(table, inst)
        if idx is None:
            raise CwmpFault(9005, f"{name}: no such instance")
        try:
            self.model.config.delete_row(table.name, idx, source=self.model.source)
        except Exception as e:
            raise CwmpFault(9002, str(e)) from None
        self.model.instances(table)
        self.model.state.parameter_key = pkey
        self.model.state.dirty = True
        return f"<cwmp:DeleteObjectResponse><Status>{self._restart_status()}</Status></cwmp:DeleteObjectResponse>"

    def _Reboot(self, el: Element) -> str:
        self.actions.append(Action("reboot", _key(child_text(el, "CommandKey", ""))))
        return "<cwmp:RebootResponse/>"

    def _FactoryReset(self, el: Element) -> str:
        self.actions.append(Action("factory_reset"))
        return "<cwmp:FactoryResetResponse/>"

    def _transfer_args(self, el: Element, types: tuple[str, ...]) -> dict[str, Any]:
        url = child_text(el, "URL", "") or ""
        ftype = child_text(el, "FileType", "") or ""
        if len(url) > 256 or not url:
            raise CwmpFault(9003, "URL missing or longer than 256 characters")
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise CwmpFault(9013, f"{scheme}: only http and https are supported")
        if ftype not in types:
            raise CwmpFault(9003, f"FileType {ftype!r} is not supported")
        delay = child_text(el, "DelaySeconds", "0") or "0"
        if not delay.isdigit():
            raise CwmpFault(9003, "DelaySeconds must be an unsignedInt")
        size = child_text(el, "FileSize", "0") or "0"
        if not size.isdigit():
            raise CwmpFault(9003, "FileSize must be an unsignedInt")
        return {
            "url": url,
            "file_type": ftype,
            "username": child_text(el, "Username", "") or "",
            "password": child_text(el, "Password", "") or "",
            "delay": int(delay),
            "file_size": int(size),
        }

    def _Download(self, el: Element) -> str:
        args = self._transfer_args(el, DOWNLOAD_TYPES)
        self.actions.append(Action("download", _key(child_text(el, "CommandKey", "")), args))
        return f"<cwmp:DownloadResponse><Status>1</Status><StartTime>{UNKNOWN_TIME}</StartTime>" \
               f"<CompleteTime>{UNKNOWN_TIME}</CompleteTime></cwmp:DownloadResponse>"

    def _Upload(self, el: Element) -> str:
        args = self._transfer_args(el, UPLOAD_TYPES)
        self.actions.append(Action("upload", _key(child_text(el, "CommandKey", "")), args))
        return f"<cwmp:UploadResponse><Status>1</Status><StartTime>{UNKNOWN_TIME}</StartTime>" \
               f"<CompleteTime>{UNKNOWN_TIME}</CompleteTime></cwmp:UploadResponse>"


def inform_body(model: DataModel, events: list[tuple[str, str]], now_iso: str, retry_count: int,
                extra_params: list[str] | None = None) -> str:
    """The Inform request (A.3.3.1): DeviceId, events, time, retry count, forced + changed parameters."""
    u = model.unit
    ev_xml = "".join(
        f"<EventStruct><EventCode>{esc(c)}</EventCode><CommandKey>{esc(k)}</CommandKey></EventStruct>"
        for c, k in events
    )
    names = list(model.forced_inform())
    for n in extra_params or ():
        if n not in names:
            names.append(n)
    params = []
    for n in names:
        try:
            lf = model.leaf(n)
        except CwmpFault:
            continue  # a changed parameter that no longer exists
        params.append(
            f"<ParameterValueStruct><Name>{esc(lf.path)}</Name><Value xsi:type=\"xsd:{lf.type}\">"
            f"{esc(lf.get())}</Value></ParameterValueStruct>"
        )
    return (
        "<cwmp:Inform><DeviceId>"
        f"<Manufacturer>Media5</Manufacturer><OUI>0090F8</OUI>"
        f"<ProductClass>{esc(u.profile.series)}</ProductClass><SerialNumber>{esc(u.identity.serial)}</SerialNumber>"
        f"</DeviceId>{array('cwmp:EventStruct', [ev_xml], len(events), 'Event')}"
        f"<MaxEnvelopes>1</MaxEnvelopes><CurrentTime>{now_iso}</CurrentTime><RetryCount>{retry_count}</RetryCount>"
        f"{array('cwmp:ParameterValueStruct', params, len(params), 'ParameterList')}</cwmp:Inform>"
    )


def transfer_fault(code: int, ns: str, upload: bool = False) -> int:
    """The TransferComplete fault code the ACS's namespace allows: cwmp-1-0 knows only 9001/9002/9010-9012, so
    the finer 9014-9019 of later versions become 9010 (download) or 9011 (upload) there."""
    if code and ns.endswith("cwmp-1-0") and code not in (9001, 9002, 9010, 9011, 9012):
        return 9011 if upload else 9010
    return code


def transfer_complete_body(command_key: str, fault_code: int, fault_string: str, start: str, end: str) -> str:
    return (
        f"<cwmp:TransferComplete><CommandKey>{esc(command_key)}</CommandKey><FaultStruct>"
        f"<FaultCode>{fault_code}</FaultCode><FaultString>{esc(fault_string)}</FaultString></FaultStruct>"
        f"<StartTime>{start}</StartTime><CompleteTime>{end}</CompleteTime></cwmp:TransferComplete>"
    )
