"""The endpoint's fax machine in a lab file (``[unit.phones.<EpId>] fax = { send | receive = "<file.tif>" }``) and
through the endpoint action table: requests checked before anything runs, the job armed at the unit's start."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.mipt.fax_calls import FaxError, parse_fax_request
from emulator.lab import LabError, build_unit, specs_from_lab
from emulator.ops import actions
from emulator.ops.errors import OpError


def test_fax_requests_are_checked() -> None:
    assert parse_fax_request({"send": "page.tif"}) == ("send", "page.tif")
    assert parse_fax_request({"receive": True}) == ("receive", None)
    for bad in ({"send": "../etc/passwd"}, {"send": "page.pdf"}, {"print": "x.tif"}, {"send": "a.tif",
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
        specs_from_lab({"unit": [{"name": "x", "phones": {"Phone-Fax1": {"fax": {"send": "x.pdf"}}}}]}, tmp_path)
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
