"""A lab shared by a fleet of pods: ``--slice K/N`` keeps one contiguous share of the units, ``--host`` puts
them all on one (pod) address, and ``settings_file`` adds script lines kept outside the lab (a Secret)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.command import run_command
from emulator.labfile import LabError, parse_slice, specs_from_lab

LAB = {"unit": [{"name": f"u{i}"} for i in range(7)]}


def test_the_slices_share_the_lab_out_in_order(tmp_path: Path) -> None:
    shares = [[s.name for s in specs_from_lab(LAB, tmp_path, part=(k, 3))] for k in range(3)]
    assert shares == [["u0", "u1"], ["u2", "u3"], ["u4", "u5", "u6"]]
    # names and default addresses are the whole lab's, whichever slice runs
    assert [s.host for s in specs_from_lab(LAB, tmp_path, part=(1, 3))] == ["127.0.0.4", "127.0.0.5"]
    assert [s.name for s in specs_from_lab(LAB, tmp_path, part=(0, 1))] == [f"u{i}" for i in range(7)]


@pytest.mark.parametrize(("text", "words"), [
    ("3/3", "K (the slice, counted from 0) must be 0 to 2"),
    ("0/0", "N (the number of slices) must be 1 or more"),
    ("two/3", "expected K/N"),
    ("1", "expected K/N"),
])
def test_a_bad_slice_is_refused(text: str, words: str) -> None:
    with pytest.raises(LabError, match=re.escape(words)):
        parse_slice(text)


def test_more_slices_than_units_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="the lab has 7 unit"):
        specs_from_lab(LAB, tmp_path, part=parse_slice("0/8"))


def test_one_address_for_every_unit_needs_different_ports(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=re.escape("10.1.2.3:8000 is already used")):
        specs_from_lab(LAB, tmp_path, part=(0, 3), host="10.1.2.3")
    lab = {"unit": [{"name": f"u{i}", "api_port": 8000 + 10 * (i % 2)} for i in range(4)]}
    specs = specs_from_lab(lab, tmp_path, part=(1, 2), host="10.1.2.3")  # not loopback: the command line chose it
    assert [(s.name, s.host, s.api_port) for s in specs] == [("u2", "10.1.2.3", 8000), ("u3", "10.1.2.3", 8010)]
    assert [s.host for s in specs_from_lab(LAB, tmp_path, port_mode="auto", part=(0, 3), host="10.1.2.3")] == [
        "10.1.2.3", "10.1.2.3"]


def test_a_settings_file_runs_after_the_settings(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.cfg").write_text(f'Hoc.SystemName = "{name}-secret"\n')
    lab = {"defaults": {"settings_file": "{name}.cfg", "settings": {"Hoc.SystemName": "plain"}},
           "unit": [{"name": "a"}, {"name": "b", "settings": 'Hoc.SystemLocation = "here"'}]}
    a, b = specs_from_lab(lab, tmp_path / "state", base_dir=tmp_path)
    assert (a.settings, a.script.strip()) == ({"Hoc.SystemName": "plain"}, 'Hoc.SystemName = "a-secret"')
    assert b.script.splitlines() == ['Hoc.SystemLocation = "here"', 'Hoc.SystemName = "b-secret"']
    with pytest.raises(LabError, match=r"unit a: settings_file .*missing\.cfg: no such file"):
        specs_from_lab({"unit": [{"name": "a", "settings_file": "missing.cfg"}]}, tmp_path, base_dir=tmp_path)


def test_the_command_refuses_a_slice_without_a_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(["run", "--slice", "0/2", "--state-dir", str(tmp_path), "--log-level", "error"]) == 2
    assert "--slice takes a share of a lab" in capsys.readouterr().err
    lab = tmp_path / "lab.json"
    lab.write_text('{"unit": [{"name": "x"}]}')
    assert run_command(["run", "--lab", str(lab), "--slice", "1/2", "--state-dir", str(tmp_path),
                        "--log-level", "error"]) == 2
    assert "fewer than 2 slices" in capsys.readouterr().err
