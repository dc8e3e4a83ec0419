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
# Public structures of gst/gstminiobject.h and gst/sdp/gstmikey.h (GStreamer 1.x ABI).


class MiniObject(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_size_t),
        ("refcount", ctypes.c_int),
        ("lockstate", ctypes.c_int),
        ("flags", ctypes.c_uint),
        ("copy", ctypes.c_void_p),
        ("dispose", ctypes.c_void_p),
        ("free", ctypes.c_void_p),
        ("priv_uint", ctypes.c_uint),
        ("priv_pointer", ctypes.c_void_p),
    ]


class MikeyMessage(ctypes.Structure):
    _fields_ = [
        ("mini_object", MiniObject),
        ("version", ctypes.c_uint8),
        ("type", ctypes.c_int),
        ("V", ctypes.c_int),
        ("prf_func", ctypes.c_int),
        ("CSB_id", ctypes.c_uint32),
        ("map_type", ctypes.c_int),
        ("map_info", ctypes.c_void_p),
        ("payloads", ctypes.c_void_p),
    ]


class MapSrtp(ctypes.Structure):
    _fields_ = [("policy", ctypes.c_uint8), ("ssrc", ctypes.c_uint32), ("roc", ctypes.c_uint32)]


class Payload(ctypes.Structure):
    _fields_ = [("mini_object", MiniObject), ("type", ctypes.c_int), ("len", ctypes.c_uint)]


class PayloadKemac(ctypes.Structure):
    _fields_ = [("pt", Payload), ("enc_alg", ctypes.c_int), ("mac_alg", ctypes.c_int), ("subpayloads", ctypes.c_void_p)]


class PayloadT(ctypes.Structure):
    _fields_ = [("pt", Payload), ("type", ctypes.c_int), ("ts_value", ctypes.POINTER(ctypes.c_uint8))]


class PayloadRand(ctypes.Structure):
    _fields_ = [("pt", Payload), ("len", ctypes.c_uint8), ("rand", ctypes.POINTER(ctypes.c_uint8))]


class PayloadSp(ctypes.Structure):
    _fields_ = [("pt", Payload), ("policy", ctypes.c_uint), ("proto", ctypes.c_int), ("params", ctypes.c_void_p)]


class SpParam(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint8), ("len", ctypes.c_uint8), ("val", ctypes.POINTER(ctypes.c_uint8))]


class PayloadKeyData(ctypes.Structure):
    _fields_ = [
        ("pt", Payload),
        ("key_type", ctypes.c_int),
        ("key_len", ctypes.c_uint16),
        ("key_data", ctypes.POINTER(ctypes.c_uint8)),
        ("salt_len", ctypes.c_uint16),
        ("salt_data", ctypes.POINTER(ctypes.c_uint8)),
        ("kv_type", ctypes.c_int),
        ("kv_len", ctypes.c_uint8 * 2),
        ("kv_data", ctypes.c_void_p * 2),
    ]


class GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int), ("message", ctypes.c_char_p)]


PT_KEMAC, PT_T, PT_SP, PT_RAND, PT_KEY_DATA = 1, 5, 10, 11, 20
TS_LENGTH = {0: 8, 1: 8, 2: 4}


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL, ctypes.CDLL, ctypes.CDLL]:
    gst = ctypes.CDLL("libgstreamer-1.0.so.0")
    sdp = ctypes.CDLL("libgstsdp-1.0.so.0")
    glib = ctypes.CDLL("libglib-2.0.so.0")
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    vp, u = ctypes.c_void_p, ctypes.c_uint
    sdp.gst_mikey_message_new_from_data.argtypes = [vp, ctypes.c_size_t, vp, ctypes.POINTER(ctypes.POINTER(GError))]
    sdp.gst_mikey_message_new_from_data.restype = ctypes.POINTER(MikeyMessage)
    sdp.gst_mikey_message_to_caps.argtypes = [vp, vp]
    sdp.gst_mikey_message_to_caps.restype = ctypes.c_int
    sdp.gst_mikey_message_get_n_cs.argtypes = [vp]
    sdp.gst_mikey_message_get_n_cs.restype = u
    sdp.gst_mikey_message_get_cs_srtp.argtypes = [vp, u]
    sdp.gst_mikey_message_get_cs_srtp.restype = ctypes.POINTER(MapSrtp)
    sdp.gst_mikey_message_get_n_payloads.argtypes = [vp]
    sdp.gst_mikey_message_get_n_payloads.restype = u
    sdp.gst_mikey_message_get_payload.argtypes = [vp, u]
    sdp.gst_mikey_message_get_payload.restype = ctypes.POINTER(Payload)
    sdp.gst_mikey_payload_sp_get_n_params.argtypes = [vp]
    sdp.gst_mikey_payload_sp_get_n_params.restype = u
    sdp.gst_mikey_payload_sp_get_param.argtypes = [vp, u]
    sdp.gst_mikey_payload_sp_get_param.restype = ctypes.POINTER(SpParam)
    sdp.gst_mikey_payload_kemac_get_n_sub.argtypes = [vp]
    sdp.gst_mikey_payload_kemac_get_n_sub.restype = u
    sdp.gst_mikey_payload_kemac_get_sub.argtypes = [vp, u]
    sdp.gst_mikey_payload_kemac_get_sub.restype = ctypes.POINTER(Payload)
    sdp.gst_mikey_message_base64_encode.argtypes = [vp]
    sdp.gst_mikey_message_base64_encode.restype = vp
    gst.gst_caps_new_empty_simple.argtypes = [ctypes.c_char_p]
    gst.gst_caps_new_empty_simple.restype = vp
    gst.gst_caps_get_structure.argtypes = [vp, u]
    gst.gst_caps_get_structure.restype = vp
    gst.gst_caps_to_string.argtypes = [vp]
    gst.gst_caps_to_string.restype = vp
    gst.gst_structure_n_fields.argtypes = [vp]
    gst.gst_structure_n_fields.restype = ctypes.c_int
    gst.gst_structure_nth_field_name.argtypes = [vp, u]
    gst.gst_structure_nth_field_name.restype = ctypes.c_char_p
    gst.gst_structure_get_value.argtypes = [vp, ctypes.c_char_p]
    gst.gst_structure_get_value.restype = vp
    gst.gst_value_serialize.argtypes = [vp]
    gst.gst_value_serialize.restype = vp
    gobject.g_value_get_boxed.argtypes = [vp]  # gst_value_get_buffer() is a macro over it
    gobject.g_value_get_boxed.restype = vp
    gst.gst_buffer_get_size.argtypes = [vp]
    gst.gst_buffer_get_size.restype = ctypes.c_size_t
    gst.gst_buffer_extract.argtypes = [vp, ctypes.c_size_t, vp, ctypes.c_size_t]
    gst.gst_buffer_extract.restype = ctypes.c_size_t
    gst.gst_mini_object_unref.argtypes = [vp]
    glib.g_free.argtypes = [vp]
    glib.g_error_free.argtypes = [vp]
    return gst, sdp, glib, gobject


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
