"""The endpoint's fax machine in a lab file (``[unit.phones.<EpId>] fax = { send | receive = "<file.tif>" }``) and
through the endpoint action table: requests checked before anything runs, the job armed at the unit's start."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from emulator.engines.mipt.fax_calls import FaxError, parse_fax_request
from emulator.lab import LabError, build_unit, specs_from_lab
from emulator.ops import actions
from emulator.ops.errors import OpError
from testkit.spandsp_fax import make_pdf


def test_fax_requests_are_checked() -> None:
    assert parse_fax_request({"send": "page.tif"}) == ("send", "page.tif")
    assert parse_fax_request({"receive": True}) == ("receive", None)
    for bad in ({"send": "../etc/passwd"}, {"send": "page.png"}, {"print": "x.tif"}, {"send": "a.tif",
                                                                                      "receive": "b.tif"}, "page.tif"):
        with pytest.raises(FaxError):
            parse_fax_request(bad)


def test_a_lab_arms_the_fax_machine_and_refuses_a_bad_request(tmp_path: Path) -> None:
    phone = {"source": {"tone": [1000]}, "fax": {"receive": "in.tif"}}
    doc = {"unit": [{"name": "fax", "phones": {"Phone-Fax2": phone}}]}
    [spec] = specs_from_lab(doc, tmp_path, port_mode="auto")
    running = build_unit(spec)
    media = running.unit.services["SipEp"].engine.calls.media  # type: ignore[union-attr]
    job = media.fax.job("Phone-Fax2")
    assert job is not None and (job.mode, job.path.name, job.state) == ("receive", "in.tif", "armed")
    assert media.audio_of("Phone-Fax2").tones == (1000.0,)
    with pytest.raises(LabError, match=r"phones\.Phone-Fax1: fax"):
        specs_from_lab({"unit": [{"name": "x", "phones": {"Phone-Fax1": {"fax": {"send": "x.png"}}}}]}, tmp_path)
    [missing] = specs_from_lab({"unit": [{"name": "y", "phones": {"Phone-Fax1": {"fax": {"send": "no.tif"}}}}]},
                               tmp_path, port_mode="auto")
    with pytest.raises(LabError, match=r"unit y: phones\.Phone-Fax1: fax: no\.tif: no such file"):
        build_unit(missing)  # the file to send must be in <state dir>/fax when the unit starts


def test_the_fax_actions_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    [spec] = specs_from_lab({"unit": [{"name": "fax"}]}, tmp_path, port_mode="auto")
    unit = build_unit(spec).unit
    send = actions.find("fax-send")
    assert send is not None and {a.name for a in send.args} == {"file"}
    for args, why in (({"file": "missing.tif"}, "no such file"), ({"file": "../x.tif"}, "a TIFF file name")):
        with pytest.raises(OpError, match=why):
            send.run(actions.Invocation(unit, "Phone-Fax1", args))
    get = actions.find("get-fax")
    assert get is not None and get.method == "GET" and get.route == "fax"
    assert get.run(actions.Invocation(unit, "Phone-Fax1", {}))["fax"] is None


def test_a_pdf_is_sent_as_fax_pages(tmp_path: Path) -> None:
    [spec] = specs_from_lab({"unit": [{"name": "fax"}]}, tmp_path, port_mode="auto")
    unit = build_unit(spec).unit
    fax_dir = Path(unit.state_dir) / "fax"
    fax_dir.mkdir(parents=True)
    make_pdf(fax_dir / "letter.pdf")
    (fax_dir / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    send = actions.find("fax-send")
    assert send is not None
    out = asyncio.run(send.run(actions.Invocation(unit, "Phone-Fax1", {"file": "letter.pdf"})))  # type: ignore[arg-type]
    assert out["fax"]["file"] == "letter.pdf.tif" and out["fax"]["state"] == "armed"
    tiff = fax_dir / "letter.pdf.tif"
    info = subprocess.run(["tiffinfo", str(tiff)], capture_output=True, text=True, check=True).stdout
    assert "Image Width: 1728" in info and "Resolution: 204, 196 pixels/inch" in info
    assert "min-is-white" in info and "CCITT Group 3" in info
    rgba = tmp_path / "rgba.tif"  # what libtiff makes of it, photometric applied: white paper, a black bar
    subprocess.run(["tiff2rgba", "-c", "none", str(tiff), str(rgba)], check=True)
    from PIL import Image

    with Image.open(rgba) as seen:
        assert seen.getpixel((10, 10))[:3] == (255, 255, 255)
        assert seen.getpixel((700, round(115 * 1728 / 1240 * 196 / 204)))[:3] == (0, 0, 0)
    with pytest.raises(OpError, match="not a readable PDF"):
        asyncio.run(send.run(actions.Invocation(unit, "Phone-Fax1", {"file": "broken.pdf"})))  # type: ignore[arg-type]
    assert parse_fax_request({"send": "letter.pdf"}) == ("send", "letter.pdf")
    with pytest.raises(FaxError):
        parse_fax_request({"receive": "letter.pdf"})
