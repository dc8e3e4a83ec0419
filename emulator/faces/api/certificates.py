"""``/certificates``: the unit's two certificate stores (``Cert.HostCertificatesInfo``, kind ``host``; and
``Cert.OthersCertificatesInfo``, kind ``other``): listing, PEM downloads, uploads, transfers from a URL,
the unsecure-transfer window and deletion. No answer ever holds a private key.

Who may do what is :mod:`emulator.ops.policy`'s: a host certificate import (it carries a private key),
the unsecure transfer and a deletion are Admin commands.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.engines.cert.engine import UNSECURE_TRANSFER_WINDOW_S, CertEngine, StoredCert
from emulator.faces.api.openapi import Schema, arr, json_content, obj, path_param, pref, query, ref
from emulator.faces.api.routing import PREFIX, ApiError, Route, caller, json_body, json_response, ok, utc_iso
from emulator.ops import policy
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit
from firmware_model.certs import MAX_UPLOAD_BYTES, CertError

__all__ = ["COMPONENTS", "Certificates", "refusal"]

_PEM = "application/x-pem-file"


def refusal(e: CertError, upload: bool = False) -> ApiError:
    """A refused certificate operation: 400 kind ``certificate`` with the engine's precise ``reason``
    (``garbage``, ``truncated``, ``key-mismatch``, ``unsecure-transfer``...); 404 for a file that is not
    there; 413 for an upload over the size limit (a remote file over it is a 400: the request was fine)."""
    if upload and e.kind == "too-large":
        return ApiError(ErrorKind.TOO_LARGE, e.message, extra={"reason": e.kind})
    return ApiError(ErrorKind.CERTIFICATE, e.message, 404 if e.kind == "no-file" else 400, extra={"reason": e.kind})


class Certificates:
    """The certificate resources of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def _store(self) -> CertEngine:
        """The unit's certificate store, provisioned (first boot) if it was not yet."""
        cert = self.unit.cert
        if not isinstance(cert, CertEngine):
            raise ApiError(ErrorKind.NOT_FOUND, "this unit has no certificate store (no Cert engine)")
        await cert.ready()
        return cert

    def _json(self, s: StoredCert) -> dict[str, Any]:
        i = s.info
        return {
            "kind": s.kind, "file_name": s.file_name, "issued_to": i.issued_to, "issued_by": i.issued_by,
            "valid_from": self.unit.local_time(i.valid_from.timestamp()),
            "valid_to": self.unit.local_time(i.valid_to.timestamp()),
            "valid_from_utc": utc_iso(i.valid_from.timestamp()), "valid_to_utc": utc_iso(i.valid_to.timestamp()),
            "usage": i.usage, "certificate_authority": i.certificate_authority, "factory": s.factory,
            "sha256": i.fingerprint,
        }

    def _imported(self, cert: CertEngine, kind: str, names: list[str]) -> web.Response:
        stored = {s.file_name: s for s in (cert.host_certificates() if kind == "host" else cert.other_certificates())}
        return json_response({"kind": kind, "file_names": names,
                              "certificates": [self._json(stored[n]) for n in names if n in stored]}, 201)

    async def list_certificates(self, request: web.Request) -> web.Response:
        cert = await self._store()
        out = [self._json(s) for s in [*cert.host_certificates(), *cert.other_certificates()]]
        return json_response({"certificates": out, "count": len(out),
                              "unsecure_transfer_active": cert.unsecure_transfer_active})

    async def factory_ca(self, request: web.Request) -> web.Response:
        cert = await self._store()
        return web.Response(body=cert.factory_ca_pem(), content_type=_PEM,
                            headers={"Content-Disposition": 'attachment; filename="factory-ca.pem"'})

    async def get_certificate(self, request: web.Request) -> web.Response:
        cert = await self._store()
        kind, name = request.match_info["kind"], request.match_info["name"]
        try:
            body = cert.certificate_pem(kind, name)
        except CertError as e:
            raise refusal(e) from None
        return web.Response(body=body, content_type=_PEM,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def _upload(self, request: web.Request) -> bytes:
        """The request body, refused with 413 past MAX_UPLOAD_BYTES without reading more than that."""
        limit = MAX_UPLOAD_BYTES

        def too_large(size: str) -> ApiError:
            return refusal(CertError("too-large", f"the file is too large: {size}, the most a certificate file "
                                                  f"may hold is {limit} bytes"), upload=True)

        length = request.content_length
        if length is not None and length > limit:
            raise too_large(f"{length} bytes")
        data = bytearray()
        while chunk := await request.content.read(65536):
            data += chunk
            if len(data) > limit:
                raise too_large(f"more than {limit} bytes")
        return bytes(data)

    async def import_certificate(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "host":
            policy.check_command(caller(request), "Cert.ImportHost")
        password = request.query.get("password") or None
        file_name = request.query.get("file_name") or None
        if kind == "other" and password is not None:
            raise ApiError(ErrorKind.BAD_REQUEST, "password= is for host certificates (an encrypted key or PKCS#12)")
        cert = await self._store()
        data = await self._upload(request)
        try:
            if kind == "host":
                # The API is served over HTTP: a host certificate's key crosses the network in clear, so the
                # "Activate unsecure certificate transfer" rule applies exactly as to the web page's upload.
                names = [cert.import_host(data, password, file_name=file_name, over_plain_http=not request.secure)]
            else:
                names = cert.import_other(data, file_name=file_name)
        except CertError as e:
            raise refusal(e, upload=True) from None
        return self._imported(cert, kind, names)

    async def transfer_certificate(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(ErrorKind.BAD_REQUEST, 'the body must be a JSON object {"url", "kind", "password"?}')
        unknown = sorted(str(k)[:40] for k in set(body) - {"url", "kind", "password", "file_name"})
        if unknown:
            raise ApiError(ErrorKind.BAD_REQUEST, f"unknown member(s) {', '.join(unknown)}: url, kind, password, "
                                                  "file_name are accepted")
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ApiError(ErrorKind.BAD_REQUEST, '"url" is required: the http:// or https:// URL of the file')
        kind = body.get("kind", "other")
        if not isinstance(kind, str) or kind.lower() not in ("host", "other"):
            raise ApiError(ErrorKind.INVALID, f'"kind": {str(kind)[:40]!r} is not host or other')
        kind = kind.lower()
        password, file_name = body.get("password"), body.get("file_name")
        for what, v in (("password", password), ("file_name", file_name)):
            if v is not None and not isinstance(v, str):
                raise ApiError(ErrorKind.BAD_REQUEST, f'"{what}" must be a JSON string')
        if kind == "other" and password:
            raise ApiError(ErrorKind.BAD_REQUEST, '"password" is for host certificates (an encrypted key or PKCS#12)')
        if kind == "host":
            policy.check_command(caller(request), "Cert.ImportHost")
        cert = await self._store()
        try:
            got = await cert.import_from_url(url, kind, password or None, file_name=file_name or None)
        except CertError as e:
            raise refusal(e) from None
        return self._imported(cert, kind, [got] if isinstance(got, str) else list(got))

    async def activate_unsecure_transfer(self, request: web.Request) -> web.Response:
        cert = await self._store()
        cert.activate_unsecure_transfer(UNSECURE_TRANSFER_WINDOW_S)
        return json_response({
            "unsecure_transfer_active": True,
            "seconds": UNSECURE_TRANSFER_WINDOW_S,
            "message": "the next host certificate import over plain HTTP within "
            f"{int(UNSECURE_TRANSFER_WINDOW_S)} s is accepted (one import)",
        })

    async def delete_certificate(self, request: web.Request) -> web.Response:
        cert = await self._store()
        kind, name = request.match_info["kind"], request.match_info["name"]
        try:
            cert.delete(kind, name)
        except CertError as e:
            raise refusal(e) from None
        return json_response({"kind": kind, "file_name": name})

    def routes(self) -> list[Route]:
        P = f"{PREFIX}/certificates"
        pem = ok("PEM certificate(s)", {"type": "string"}, _PEM)
        one = (pref("CertKind"), pref("CertFileName"))
        imported = {201: ok("imported: the new FileName(s)", ref("CertificateImport"))}
        refused = (ErrorKind.CERTIFICATE, ErrorKind.NOT_FOUND)
        upload = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                  _PEM: {"schema": {"type": "string"}},
                  "application/x-pkcs12": {"schema": {"type": "string", "format": "binary"}}}
        return [
            Route("GET", P, self.list_certificates, "read", "listCertificates", "certificates",
                  "Both certificate stores (host and other): names, subjects, issuers, dates, usage, CA flag",
                  {200: ok("the certificates; never a private key", ref("CertificateList"))}, (ErrorKind.NOT_FOUND,)),
            Route("GET", f"{P}/factory-ca", self.factory_ca, "read", "getFactoryCa", "certificates",
                  "Download the emulator installation's factory CA certificate (PEM)", {200: pem},
                  (ErrorKind.NOT_FOUND,),
                  description="Install it in a lab's trust store to trust every unit's factory host certificate."),
            Route("GET", f"{P}/{{kind:host|other}}/{{name}}", self.get_certificate, "read", "getCertificate",
                  "certificates", "Download one stored certificate and its chain (PEM; never the key)", {200: pem},
                  refused, params=one),
            Route("POST", f"{P}/activate-unsecure-transfer", self.activate_unsecure_transfer, "write",
                  "activateUnsecureTransfer", "certificates",
                  "Allow one host certificate import over plain HTTP within 5 minutes (Admin only)",
                  {200: ok("the window is open", ref("UnsecureTransfer"))}, (ErrorKind.NOT_FOUND,),
                  description="The DGW 'Activate unsecure certificate transfer' rule: the window closes after one "
                  "host certificate import over plain HTTP (API upload or http:// transfer) or when it times out.",
                  command="Cert.ActivateUnsecureTransfer"),
            Route("POST", f"{P}/transfer", self.transfer_certificate, "write", "transferCertificate", "certificates",
                  "Fetch a certificate file from an http(s) URL and import it", imported,
                  (ErrorKind.CERTIFICATE, ErrorKind.INVALID, ErrorKind.NOT_FOUND),
                  body={"required": True, "content": json_content(ref("CertificateTransfer"))},
                  description="HTTPS honours Cert.TransferHttpsTlsVersion and Cert.TransferHttpsCipherSuite and "
                  "validates the server (trusted issuer in the Others store, host name, dates on the unit's clock). "
                  "kind host needs Admin rights, and over http:// the unsecure transfer activated first. A file "
                  "over 1 MiB, an unreachable server or a refused server certificate is a 400 with reason too-large "
                  "or transfer."),
            Route("POST", f"{P}/{{kind:host|other}}", self.import_certificate, "write", "importCertificate",
                  "certificates", "Import a certificate file sent as the request body", imported,
                  (ErrorKind.CERTIFICATE, ErrorKind.NOT_FOUND),
                  params=(pref("CertKind"),
                          query("password", "host only: the password of an encrypted private key or of a PKCS#12 "
                                "file", {"type": "string"}),
                          query("file_name", "FileName to store it under (made safe and unique; default: the "
                                "certificate's name)", {"type": "string"})),
                  body={"required": True, "content": upload},
                  description="other (User or Admin): PEM (one certificate or a chain: one file each) or DER. "
                  "host (Admin only): a PEM bundle (certificate, its private key, optionally its chain) or "
                  "PKCS#12. The API is plain HTTP, so a host import is refused (reason unsecure-transfer) unless "
                  "POST /certificates/activate-unsecure-transfer was called first: one import within 5 minutes. "
                  "Importing marks the services that use TLS as needing a restart. A file over 1 MiB gets 413 "
                  "(reason too-large); nothing is stored."),
            Route("DELETE", f"{P}/{{kind:host|other}}/{{name}}", self.delete_certificate, "write",
                  "deleteCertificate", "certificates",
                  "Delete a certificate (and a host certificate's key); Admin only",
                  {200: ok("deleted", ref("CertificateDeleted"))}, refused, params=one,
                  description="The same as the Delete row command of Cert.HostCertificatesInfo / "
                  "Cert.OthersCertificatesInfo.", command="Cert.DeleteCertificate"),
        ]


def _schemas() -> dict[str, Schema]:
    kind = {"type": "string", "enum": ["host", "other"]}
    return {
        "Certificate": obj(
            {
                "kind": kind,
                "file_name": {"type": "string", "description": "FileName in Cert.HostCertificatesInfo / Others"},
                "issued_to": {"type": "string"},
                "issued_by": {"type": "string"},
                "valid_from": {"type": "string", "description": "unit local time, as the Cert tables show it"},
                "valid_to": {"type": "string", "description": "unit local time"},
                "valid_from_utc": {"type": "string", "format": "date-time"},
                "valid_to_utc": {"type": "string", "format": "date-time"},
                "usage": {"type": "string", "description": "TlsClient, TlsServer, both (comma-separated) or None, "
                          "from the extended key usage"},
                "certificate_authority": {"type": "boolean"},
                "factory": {"type": "boolean", "description": "made by the emulator at first boot"},
                "sha256": {"type": "string", "description": "SHA-256 fingerprint of the certificate, hex"},
            },
            ["kind", "file_name", "issued_to", "issued_by", "valid_from", "valid_to", "usage",
             "certificate_authority"],
            description="A stored certificate; never its private key.",
        ),
        "CertificateList": obj(
            {"certificates": arr(ref("Certificate")), "count": {"type": "integer"},
             "unsecure_transfer_active": {"type": "boolean", "description": "a host certificate import over plain "
                                          "HTTP would be accepted now"}},
            ["certificates", "count", "unsecure_transfer_active"],
        ),
        "CertificateImport": obj({"kind": kind, "file_names": arr({"type": "string"}),
                                  "certificates": arr(ref("Certificate"))}, ["kind", "file_names", "certificates"]),
        "CertificateTransfer": obj(
            {
                "url": {"type": "string", "description": "http:// or https:// URL of the certificate file"},
                "kind": {**kind, "default": "other"},
                "password": {"type": "string", "description": "host: the key's or the PKCS#12 file's password"},
                "file_name": {"type": "string", "description": "FileName to store it under (default: from the URL)"},
            },
            ["url"],
            additionalProperties=False,
        ),
        "UnsecureTransfer": obj({"unsecure_transfer_active": {"type": "boolean"},
                                 "seconds": {"type": "number", "description": "how long the window stays open"},
                                 "message": {"type": "string"}}, ["unsecure_transfer_active", "seconds"]),
        "CertificateDeleted": obj({"kind": kind, "file_name": {"type": "string"}}, ["kind", "file_name"]),
    }


COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": _schemas(),
    "parameters": {
        "CertKind": path_param("kind", "host (Cert.HostCertificatesInfo) or other (Cert.OthersCertificatesInfo)",
                               {"type": "string", "enum": ["host", "other"]}),
        "CertFileName": path_param("name", "the certificate's FileName"),
    },
}
