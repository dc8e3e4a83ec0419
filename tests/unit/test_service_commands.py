"""The service commands a value runs on SNMP and TR-069 (firmware_model.service_commands): which, and their numbers."""

from __future__ import annotations

from types import SimpleNamespace

from firmware_model.behaviour import load_behaviour
from firmware_model.service_commands import service_commands


def unit_with(*names: str) -> SimpleNamespace:
    return SimpleNamespace(commands={n: (lambda: None) for n in names})


def test_only_the_commands_the_unit_has_are_listed_in_the_behaviour_maps_order() -> None:
    got = service_commands(unit_with("Nlm.StopPCapture", "CRout.ApplyConfig", "Unknown.Command"))
    assert [(c.name, c.service, c.command) for c in got] == [
        ("Nlm.StopPCapture", "Nlm", "StopPCapture"), ("CRout.ApplyConfig", "CRout", "ApplyConfig")]
    assert got[1].summary == load_behaviour().commands["CRout.ApplyConfig"].summary


def test_a_commands_number_is_its_place_in_its_service_whatever_the_unit_has() -> None:
    everything = [name for name in load_behaviour().commands]
    full = {c.name: c.number for c in service_commands(unit_with(*everything))}
    assert full["CRout.ApplyConfig"] == 1 and full["Nlm.StartPCapture"] == 1 and full["Nlm.StopPCapture"] == 2
    assert full["Nlm.UploadPCapture"] == 3 and full["Conf.ExportScript"] == 2
    only = service_commands(unit_with("Nlm.UploadPCapture"))
    assert [(c.name, c.number) for c in only] == [("Nlm.UploadPCapture", 3)]  # numbers never shift
