"""GStreamer's libgstsdp as an independent MIKEY (RFC 3830) peer, for tests/interop/test_mikey_gstreamer.py.

Run by Debian's own ``/usr/bin/python3`` (packages python3-gi and gir1.2-gst-plugins-base-1.0), never by the
project's venv: it imports only the standard library, ``gi`` and ``ctypes``. Three modes::

    gst_mikey_peer.py probe
        prints {"gstreamer": "<version>"} when GstSdp and libgstsdp load (exit 0)
    gst_mikey_peer.py build KEY_HEX SALT_HEX SUITE [--ssrc N --roc N]
        prints the base64 MIKEY message GstSdp.MIKEYMessage.new_from_caps builds from application/x-srtp caps
        (srtp-key = key || salt as a Gst.Buffer; SUITE AES_CM_128_HMAC_SHA1_80 or _32, or another of SUITES);
        --ssrc/--roc add a CS ID map entry with GStreamer's own add_cs_srtp (new_from_caps leaves it empty)
    gst_mikey_peer.py parse BASE64
        parses with gst_mikey_message_new_from_data(data, size, NULL, &error) and reads the SRTP parameters
        with gst_mikey_message_to_caps, both through ctypes (GI cannot pass the NULL decrypt info), and
        prints JSON: the caps fields, the key hex, the header and payloads as libgstsdp holds them, and the
        message libgstsdp serializes back (gst_mikey_message_base64_encode)

libgstsdp (1.22) only reads and writes the NULL-encrypted, NULL-MACed KEMAC: it never decrypts or checks a MAC
(both are left as FIXMEs in its parser), and gst_mikey_message_to_caps returns FALSE for
any other KEMAC. Its parser also never advances over ID, V, CERT, CHASH, SIGN, DH, ERR or general-extension
payloads (nor an unknown payload type): such a message makes it loop forever, so the caller sets a timeout.
"""

from __future__ import annotations

import base64
import ctypes
import json
import re
import sys
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstSdp  # noqa: E402

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": ("aes-128-icm", "hmac-sha1-80"),
    "AES_CM_128_HMAC_SHA1_32": ("aes-128-icm", "hmac-sha1-32"),
    # what libgstsdp also offers and our media engine does not implement (the refusal is tested)
    "AES_256_CM_HMAC_SHA1_80": ("aes-256-icm", "hmac-sha1-80"),
    "AEAD_AES_128_GCM": ("aes-128-gcm", "null"),
}


# ------------------------------------------------------------------------------------- ctypes view
# Public structures and functions of gst/gstminiobject.h, gst/sdp/gstmikey.h and the GLib/GStreamer calls parse
# mode makes (GStreamer 1.x ABI), declared as C (enumerations as gint, pointers we only pass on as gpointer) and
# turned into ctypes by _struct and _declare.

_CTYPES: dict[str, Any] = {
    "gint": ctypes.c_int,
    "guint": ctypes.c_uint,
    "gsize": ctypes.c_size_t,
    "guint8": ctypes.c_uint8,
    "guint16": ctypes.c_uint16,
    "guint32": ctypes.c_uint32,
    "gpointer": ctypes.c_void_p,
    "gchar*": ctypes.c_char_p,
}


def _ctype(name: str) -> Any:
    """The ctypes type of a C type: one of _CTYPES, a structure declared by _struct, or a pointer to either."""
    if name in _CTYPES:
        return _CTYPES[name]
    if name.endswith("*"):
        return ctypes.POINTER(_ctype(name[:-1]))
    raise KeyError(f"unknown C type {name!r}")


def _struct(name: str, members: str) -> Any:
    """A ctypes structure from its C members (``guint8 version; gint type; guint8 kv_len[2]``), known by its C
    name to the declarations that follow."""
    fields = []
    for member in filter(None, (m.strip() for m in members.split(";"))):
        ctype, field = member.rsplit(" ", 1)
        kind = _ctype(ctype)
        if field.endswith("]"):
            field, count = field[:-1].split("[")
            kind = kind * int(count)
        fields.append((field, kind))
    _CTYPES[name] = type(name, (ctypes.Structure,), {"_fields_": fields})
    return _CTYPES[name]


def _declare(lib: ctypes.CDLL, prototypes: str) -> ctypes.CDLL:
    """``lib`` with the result and argument types of its functions set from C prototypes, one a line."""
    for line in filter(None, map(str.strip, prototypes.splitlines())):
        match = re.fullmatch(r"([\w*]+) (\w+)\(([^)]*)\);", line)
        if match is None:
            raise ValueError(f"not a C prototype: {line!r}")
        result, name, args = match.groups()
        function = getattr(lib, name)
        function.restype = None if result == "void" else _ctype(result)
        function.argtypes = [_ctype(arg.strip()) for arg in args.split(",")]
    return lib


MiniObject = _struct(
    "GstMiniObject",
    "gsize type; gint refcount; gint lockstate; guint flags; gpointer copy; gpointer dispose; gpointer free;"
    "guint priv_uint; gpointer priv_pointer",
)
MikeyMessage = _struct(
    "GstMIKEYMessage",
    "GstMiniObject mini_object; guint8 version; gint type; gint V; gint prf_func; guint32 CSB_id; gint map_type;"
    "gpointer map_info; gpointer payloads",
)
MapSrtp = _struct("GstMIKEYMapSRTP", "guint8 policy; guint32 ssrc; guint32 roc")
Payload = _struct("GstMIKEYPayload", "GstMiniObject mini_object; gint type; guint len")
PayloadKemac = _struct("GstMIKEYPayloadKEMAC", "GstMIKEYPayload pt; gint enc_alg; gint mac_alg; gpointer subpayloads")
PayloadT = _struct("GstMIKEYPayloadT", "GstMIKEYPayload pt; gint type; guint8* ts_value")
PayloadRand = _struct("GstMIKEYPayloadRAND", "GstMIKEYPayload pt; guint8 len; guint8* rand")
PayloadSp = _struct("GstMIKEYPayloadSP", "GstMIKEYPayload pt; guint policy; gint proto; gpointer params")
SpParam = _struct("GstMIKEYPayloadSPParam", "guint8 type; guint8 len; guint8* val")
PayloadKeyData = _struct(
    "GstMIKEYPayloadKeyData",
    "GstMIKEYPayload pt; gint key_type; guint16 key_len; guint8* key_data; guint16 salt_len; guint8* salt_data;"
    "gint kv_type; guint8 kv_len[2]; gpointer kv_data[2]",
)
GError = _struct("GError", "guint32 domain; gint code; gchar* message")

_SDP_FUNCTIONS = """
    GstMIKEYMessage* gst_mikey_message_new_from_data(gpointer, gsize, gpointer, GError**);
    gint gst_mikey_message_to_caps(gpointer, gpointer);
    guint gst_mikey_message_get_n_cs(gpointer);
    GstMIKEYMapSRTP* gst_mikey_message_get_cs_srtp(gpointer, guint);
    guint gst_mikey_message_get_n_payloads(gpointer);
    GstMIKEYPayload* gst_mikey_message_get_payload(gpointer, guint);
    guint gst_mikey_payload_sp_get_n_params(gpointer);
    GstMIKEYPayloadSPParam* gst_mikey_payload_sp_get_param(gpointer, guint);
    guint gst_mikey_payload_kemac_get_n_sub(gpointer);
    GstMIKEYPayload* gst_mikey_payload_kemac_get_sub(gpointer, guint);
    gpointer gst_mikey_message_base64_encode(gpointer);
"""
_GST_FUNCTIONS = """
    gpointer gst_caps_new_empty_simple(gchar*);
    gpointer gst_caps_get_structure(gpointer, guint);
    gpointer gst_caps_to_string(gpointer);
    gint gst_structure_n_fields(gpointer);
    gchar* gst_structure_nth_field_name(gpointer, guint);
    gpointer gst_structure_get_value(gpointer, gchar*);
    gpointer gst_value_serialize(gpointer);
    gsize gst_buffer_get_size(gpointer);
    gsize gst_buffer_extract(gpointer, gsize, gpointer, gsize);
    void gst_mini_object_unref(gpointer);
"""
_GLIB_FUNCTIONS = """
    void g_free(gpointer);
    void g_error_free(gpointer);
"""
_GOBJECT_FUNCTIONS = """
    gpointer g_value_get_boxed(gpointer);
"""  # gst_value_get_buffer() is a macro over g_value_get_boxed

PT_KEMAC, PT_T, PT_SP, PT_RAND, PT_KEY_DATA = 1, 5, 10, 11, 20
TS_LENGTH = {0: 8, 1: 8, 2: 4}


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL, ctypes.CDLL, ctypes.CDLL]:
    return (
        _declare(ctypes.CDLL("libgstreamer-1.0.so.0"), _GST_FUNCTIONS),
        _declare(ctypes.CDLL("libgstsdp-1.0.so.0"), _SDP_FUNCTIONS),
        _declare(ctypes.CDLL("libglib-2.0.so.0"), _GLIB_FUNCTIONS),
        _declare(ctypes.CDLL("libgobject-2.0.so.0"), _GOBJECT_FUNCTIONS),
    )


def _take_string(glib: ctypes.CDLL, ptr: int | None) -> str | None:
    """A gchar* we own: decode it and g_free it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        glib.g_free(ptr)


def _bytes(ptr: Any, length: int) -> str:
    return ctypes.string_at(ptr, length).hex() if length and ptr else ""


def _payload(sdp: ctypes.CDLL, p: Any) -> dict[str, object]:
    kind = p.contents.type
    out: dict[str, object] = {"type": kind}
    addr = ctypes.addressof(p.contents)
    if kind == PT_T:
        t = PayloadT.from_address(addr)
        out.update(ts_type=t.type, ts_value=_bytes(t.ts_value, TS_LENGTH.get(t.type, 0)))
    elif kind == PT_RAND:
        r = PayloadRand.from_address(addr)
        out.update(rand=_bytes(r.rand, r.len))
    elif kind == PT_SP:
        sp = PayloadSp.from_address(addr)
        params = []
        for i in range(sdp.gst_mikey_payload_sp_get_n_params(addr)):
            prm = sdp.gst_mikey_payload_sp_get_param(addr, i).contents
            params.append([prm.type, _bytes(prm.val, prm.len)])
        out.update(policy=sp.policy, proto=sp.proto, params=params)
    elif kind == PT_KEMAC:
        k = PayloadKemac.from_address(addr)
        subs = []
        for i in range(sdp.gst_mikey_payload_kemac_get_n_sub(addr)):
            sub = sdp.gst_mikey_payload_kemac_get_sub(addr, i)
            entry: dict[str, object] = {"type": sub.contents.type}
            if sub.contents.type == PT_KEY_DATA:
                kd = PayloadKeyData.from_address(ctypes.addressof(sub.contents))
                entry.update(
                    key_type=kd.key_type,
                    key=_bytes(kd.key_data, kd.key_len),
                    salt=_bytes(kd.salt_data, kd.salt_len),
                    kv_type=kd.kv_type,
                )
            subs.append(entry)
        out.update(enc_alg=k.enc_alg, mac_alg=k.mac_alg, subpayloads=subs)
    return out


def parse(b64: str) -> dict[str, object]:
    data = base64.b64decode(b64)
    gst, sdp, glib, gobject = _libs()
    error = ctypes.POINTER(GError)()
    buf = ctypes.create_string_buffer(data, len(data))
    msg = sdp.gst_mikey_message_new_from_data(buf, len(data), None, ctypes.byref(error))
    if not msg:
        reason = error.contents.message.decode() if error else "gst_mikey_message_new_from_data returned NULL"
        if error:
            glib.g_error_free(error)
        return {"parsed": False, "error": reason}
    m = msg.contents
    addr = ctypes.addressof(m)
    result: dict[str, object] = {
        "parsed": True,
        "version": m.version,
        "data_type": m.type,
        "v_flag": bool(m.V),
        "prf": m.prf_func,
        "csb_id": m.CSB_id,
        "map_type": m.map_type,
    }
    sessions = []
    for i in range(sdp.gst_mikey_message_get_n_cs(addr)):
        cs = sdp.gst_mikey_message_get_cs_srtp(addr, i).contents
        sessions.append({"policy": cs.policy, "ssrc": cs.ssrc, "roc": cs.roc})
    result["crypto_sessions"] = sessions
    n = sdp.gst_mikey_message_get_n_payloads(addr)
    result["payloads"] = [_payload(sdp, sdp.gst_mikey_message_get_payload(addr, i)) for i in range(n)]
    result["reencoded"] = _take_string(glib, sdp.gst_mikey_message_base64_encode(addr))
    caps = gst.gst_caps_new_empty_simple(b"application/x-srtp")
    ok = bool(sdp.gst_mikey_message_to_caps(addr, caps))
    result["to_caps"] = ok
    result["caps_string"] = _take_string(glib, gst.gst_caps_to_string(caps))
    fields: dict[str, str | None] = {}
    structure = gst.gst_caps_get_structure(caps, 0)
    for i in range(gst.gst_structure_n_fields(structure)):
        name = gst.gst_structure_nth_field_name(structure, i)
        value = gst.gst_structure_get_value(structure, name)
        if name == b"srtp-key":
            kbuf = gobject.g_value_get_boxed(value)
            size = gst.gst_buffer_get_size(kbuf)
            raw = ctypes.create_string_buffer(size)
            gst.gst_buffer_extract(kbuf, 0, raw, size)
            fields["srtp-key"] = raw.raw[:size].hex()
        else:
            fields[name.decode()] = _take_string(glib, gst.gst_value_serialize(value))
    result["caps"] = fields
    gst.gst_mini_object_unref(caps)
    gst.gst_mini_object_unref(addr)
    return result


# -------------------------------------------------------------------------------------------- build


def build(key_hex: str, salt_hex: str, suite: str, ssrc: int | None, roc: int | None) -> str:
    cipher, auth = SUITES[suite]
    caps = Gst.Caps.new_empty_simple("application/x-srtp")
    caps.set_value("srtp-key", Gst.Buffer.new_wrapped(bytes.fromhex(key_hex) + bytes.fromhex(salt_hex)))
    caps.set_value("srtp-cipher", cipher)
    caps.set_value("srtp-auth", auth)
    caps.set_value("srtcp-cipher", cipher)
    caps.set_value("srtcp-auth", auth)
    msg = GstSdp.MIKEYMessage.new_from_caps(caps)
    if msg is None:
        raise SystemExit(f"new_from_caps refused {caps.to_string()}")
    if ssrc is not None or roc is not None:
        if not msg.add_cs_srtp(0, ssrc or 0, roc or 0):
            raise SystemExit("add_cs_srtp failed")
    return str(msg.base64_encode())


def _usage() -> None:
    sys.stderr.write(__doc__ or "")
    raise SystemExit(2)


def main(argv: list[str]) -> int:
    if not argv:
        _usage()
    Gst.init(None)
    mode, args = argv[0], argv[1:]
    if mode == "probe":
        if not hasattr(GstSdp, "MIKEYMessage") or not hasattr(GstSdp.MIKEYMessage, "new_from_caps"):
            raise SystemExit("this GstSdp has no MIKEYMessage.new_from_caps (GStreamer >= 1.8 needed)")
        _libs()  # the C entry points parse mode uses
        print(json.dumps({"gstreamer": Gst.version_string()}))
    elif mode == "build":
        opts: dict[str, int] = {}
        positional = []
        it = iter(args)
        for a in it:
            if a in ("--ssrc", "--roc"):
                opts[a[2:]] = int(next(it), 0)
            else:
                positional.append(a)
        if len(positional) != 3 or positional[2] not in SUITES:
            _usage()
        key_hex, salt_hex, suite = positional
        print(build(key_hex, salt_hex, suite, opts.get("ssrc"), opts.get("roc")))
    elif mode == "parse" and len(args) == 1:
        print(json.dumps(parse(args[0]), sort_keys=True))
    else:
        _usage()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
