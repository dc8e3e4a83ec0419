"""The Conf service's outgoing files and images: the script export to ``Conf.ScriptExportUrl``, and the
configuration backup and restore (``Conf.Image*``).

* **Export** (``Conf.ExportScript``): the script of ``ScriptExportContent`` (``AllConfig``/``ModifiedConfig``) for
  ``ScriptExportServiceName`` (``All`` or a list), encrypted when ``ScriptExportSecretKey`` is set, put to
  ``ScriptExportUrl`` — TFTP, FTP or File only (MX-CONF-MIB), macros ``%mac% %version% %serial%`` in it.
  ``ScriptsStatsCurrentExportState`` goes ``Exporting`` (making the script) then ``Transfering``;
  ``LastExportResult`` is ``Success``, ``ExportationFailed`` (the script could not be made, e.g. an unknown
  service name) or ``TransferFailed``.
* **Image** (``Conf.ImageBackup`` / ``Conf.ImageRestore``, Admin only): the file ``ImageLocation``/``ImageFileName``
  (all six macros) on ``ImageTransferProtocol``'s server. The emulator's image (an emulator choice: the vendor's is
  not public) is a JSON document ``{"format": 1, "kind": "dgw-emulator configuration image", "product",
  "version", "script": <AllConfig export>, "certificates": {"host": {file: PEM with key}, "others": {file: PEM}}}``
  — certificates only for ``ConfigAndCertificates`` — encrypted with :mod:`firmware_model.crypt` under
  ``ImageSecretKey`` when ``ImagePrivacyAlgo`` is ``DefaultAlgo``. A restore detects encryption by itself.
  ``ImageBackupStatus``: ``Success``/``Failed``; ``ImageRestoreStatus``: ``Success``, ``LoadFailed`` (not fetched,
  not opened, not an image) or ``ApplyFailed`` (loaded, but the configuration refused it: nothing applied). The
  restore applies the image's values all or nothing and imports its certificates; rows added to dynamic tables
  after the backup stay (the image holds values, not a whole store).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from emulator.engines.conf.status import StatusBoard
from emulator.engines.conf.transfer import Transferer, TransferError
from emulator.engines.conf.url import Target, UrlError, expand, parse_url, target_from_parameters
from firmware_model.certs import CertError
from firmware_model.config import ConfigError
from firmware_model.crypt import CryptError, decrypt, encrypt, is_encrypted
from firmware_model.script import export_script

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["IMAGE_KIND", "ImageJobs"]

IMAGE_KIND = "dgw-emulator configuration image"
EXPORT_PROTOCOLS = ("tftp", "ftp", "file")
EXPORT_MACROS = ("mac", "version", "serial")


class ImageError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ImageJobs:
    """Export, backup and restore of one unit's Conf service."""

    def __init__(self, unit: Unit, status: StatusBoard, transfers: Transferer) -> None:
        self.unit = unit
        self.config = unit.config
        self.status = status
        self.transfers = transfers
        self.exports = self.backups = self.restores = 0

    # ------------------------------------------------------------------ export
    async def export_script(self) -> str:
        """Export now; returns the new ``ScriptsStatsLastExportResult``."""
        e, c = self.status, self.config
        url = c.get_text("Conf.ScriptExportUrl")
        e.export_state = "Exporting"
        try:
            try:
                target = parse_url(expand(url, self.unit.macros(), EXPORT_MACROS), allowed=EXPORT_PROTOCOLS)
                text = export_script(c, c.get_text("Conf.ScriptExportContent"),
                                     c.get_text("Conf.ScriptExportServiceName") or "All")
                data = text.encode()
                key = c.get_text("Conf.ScriptExportSecretKey")
                if key:
                    data = encrypt(data, key)
            except (UrlError, ConfigError, CryptError) as err:
                return self._exported("ExportationFailed", url or "-", str(err))
            e.export_state = "Transfering"
            try:
                await self.transfers.put(target, data)
            except TransferError as err:
                return self._exported("TransferFailed", target.shown, err.message)
            return self._exported("Success", target.shown, size=len(data))
        finally:
            e.export_state = "Idle"
            self.exports += 1

    def _exported(self, result: str, url: str, reason: str = "", size: int = 0) -> str:
        if result == "Success":
            self.unit.notify("Conf", 9016, url=url, size=size)
            return self.status.record("export_result", result, dated="export_datetime")
        self.unit.notify("Conf", 9017, url=url, reason=reason)
        return self.status.record("export_result", result)

    # ------------------------------------------------------------------ backup and restore

    def _image_target(self) -> Target:
        c, macros = self.config, self.unit.macros()
        name = expand(c.get_text("Conf.ImageFileName"), macros)
        if not name:
            raise UrlError("Conf.ImageFileName is empty")
        return target_from_parameters(c, "Conf.Image", name, expand(c.get_text("Conf.ImageLocation"), macros))

    def image(self) -> bytes:
        """The backup image of the unit now (encrypted per ``ImagePrivacyAlgo``)."""
        c = self.config
        content = c.get_text("Conf.ImageBackupContent")
        doc: dict[str, Any] = {
            "format": 1, "kind": IMAGE_KIND, "product": self.unit.profile.product, "version": self.unit.version,
            "content": content, "script": export_script(c, "AllConfig"),
        }
        cert = self.unit.cert
        if content == "ConfigAndCertificates" and cert is not None:
            host = {}
            for s in cert.host_certificates():
                path = cert.dir / "host" / s.file_name
                host[s.file_name] = path.read_text() + path.with_name(s.file_name + ".key").read_text()
            others = {s.file_name: cert.certificate_pem("other", s.file_name).decode()
                      for s in cert.other_certificates()}
            doc["certificates"] = {"host": host, "others": others}
        data = json.dumps(doc, indent=1, sort_keys=True).encode()
        if c.get("Conf.ImagePrivacyAlgo") == "DefaultAlgo":
            data = encrypt(data, c.get_text("Conf.ImageSecretKey"))
        return data

    async def backup(self) -> str:
        """``Conf.ImageBackup``; returns the new ``ImageBackupStatus``."""
        url = "-"
        try:
            target = self._image_target()
            url = target.shown
            await self.transfers.put(target, self.image())
        except (UrlError, CryptError, TransferError, OSError) as e:
            self.unit.notify("Conf", 9019, url=url, reason=str(e))
            return self.status.record("backup_status", "Failed")
        finally:
            self.backups += 1
        self.unit.notify("Conf", 9018, url=url, content=self.config.get_text("Conf.ImageBackupContent"))
        return self.status.record("backup_status", "Success")

    async def restore(self) -> str:
        """``Conf.ImageRestore``; returns the new ``ImageRestoreStatus``."""
        url = "-"
        try:
            target = self._image_target()
            url = target.shown
            doc = self._load(await self.transfers.get(target))
            self._apply(doc)
        except (UrlError, TransferError) as e:
            return self._restore_failed(url, "LoadFailed", str(e))
        except ImageError as e:
            return self._restore_failed(url, e.status, e.message)
        finally:
            self.restores += 1
        self.unit.notify("Conf", 9020, url=url)
        return self.status.record("restore_status", "Success")

    def _restore_failed(self, url: str, status: str, reason: str) -> str:
        self.unit.notify("Conf", 9021, url=url, status=status, reason=reason)
        return self.status.record("restore_status", status)

    def _load(self, data: bytes) -> dict[str, Any]:
        try:
            if is_encrypted(data):
                data = decrypt(data, self.config.get_text("Conf.ImageSecretKey"))
            doc = json.loads(data.decode("utf-8"))
        except CryptError as e:
            raise ImageError("LoadFailed", str(e)) from None
        except (UnicodeDecodeError, ValueError):
            raise ImageError("LoadFailed", "not a configuration image") from None
        if not isinstance(doc, dict) or doc.get("kind") != IMAGE_KIND or not isinstance(doc.get("script"), str):
            raise ImageError("LoadFailed", "not a configuration image")
        return doc

    def _apply(self, doc: dict[str, Any]) -> None:
        result = self.unit.run_script(doc["script"], source="restore")
        if not result.ok:
            first = result.errors[0]
            raise ImageError("ApplyFailed", f"line {first.number}: {first.error}")
        certs = doc.get("certificates") or {}
        cert = self.unit.cert
        if cert is None or not isinstance(certs, dict):
            return
        for name, pem in (certs.get("others") or {}).items():
            self._import(cert.import_other, str(pem).encode(), file_name=str(name))
        for name, pem in (certs.get("host") or {}).items():
            self._import(cert.import_host, str(pem).encode(), None, file_name=str(name))

    @staticmethod
    def _import(fn: Any, *args: Any, **kw: Any) -> None:
        try:
            fn(*args, **kw)
        except CertError as e:
            if e.kind != "duplicate":
                raise ImageError("ApplyFailed", f"certificate {kw.get('file_name')}: {e.message}") from None
