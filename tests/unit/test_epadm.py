"""EpAdm endpoint states (pure part) and the engine on a unit's configuration."""

from __future__ import annotations

from pathlib import Path

from emulator.engines.epadm import EndpointStates, EpAdmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile


def states() -> EndpointStates:
    st = EndpointStates.boot([("Phone-Fax1", "Unlocked"), ("Phone-Fax2", "Locked")])
    st.enabled = True
    return st


def test_boot_follows_the_initial_admin_state() -> None:
    st = states()
    assert st.admin == {"Phone-Fax1": "Unlocked", "Phone-Fax2": "Locked"}
    assert st.refusal("Phone-Fax1") is None
    assert st.refusal("Phone-Fax2") == "endpoint Phone-Fax2 is locked"
    assert st.usage("Phone-Fax1") == "Idle" and st.usage("Phone-Fax2") == "IdleUnusable"
    assert st.unit_admin() == "Unlocked" and st.unit_usage() == "Idle"


def test_graceful_lock_waits_for_the_call_force_lock_does_not() -> None:
    st = states()
    st.set_busy("Phone-Fax1", True)
    assert st.usage("Phone-Fax1") == "Busy" and st.unit_usage() == "Active"
    assert st.lock("Phone-Fax1") == "ShuttingDown"
    assert st.refusal("Phone-Fax1") == "endpoint Phone-Fax1 is shutting down"
    st.allow_while_shutting_down = True
    assert st.refusal("Phone-Fax1") is None
    assert st.unit_admin() == "ShuttingDown"
    assert st.set_busy("Phone-Fax1", False) is True
    assert st.admin["Phone-Fax1"] == "Locked" and st.unit_admin() == "Locked"
    st.unlock("Phone-Fax1")
    st.set_busy("Phone-Fax1", True)
    assert st.force_lock("Phone-Fax1") is True  # a call to end
    assert st.admin["Phone-Fax1"] == "Locked"
    assert st.force_lock("Phone-Fax2") is False


def test_disabled_unit_refuses_and_reports_unusable() -> None:
    st = states()
    st.enabled = False
    assert st.refusal("Phone-Fax1") == "endpoint Phone-Fax1 is disabled"
    assert st.op_state("Phone-Fax1") == "Disable" and st.usage("Phone-Fax1") == "IdleUnusable"


async def test_engine_publishes_states_and_takes_row_commands(tmp_path: Path) -> None:
    u = Unit(name="e", profile=get_profile("4102"), state_dir=tmp_path, host="127.0.0.2",
             ports=PortPolicy(mode="auto"), fsync=False)
    u.config.set("EpAdm.Endpoint[Phone-Fax2].InitialAdminStateConfig", "Locked")
    engine = EpAdmEngine(u)
    u.attach(engine)
    await engine.start()
    c = u.config
    assert c.get("EpAdm.Endpoint[Phone-Fax1].AdminState") == "Unlocked"
    assert c.get("EpAdm.Endpoint[Phone-Fax2].AdminState") == "Locked"
    assert c.get("EpAdm.Endpoint[Phone-Fax1].OpState") == "Disable"  # no SipEp running in this unit
    c.set("EpAdm.Endpoint[Phone-Fax1].Lock", "Lock")
    assert c.get("EpAdm.Endpoint[Phone-Fax1].AdminState") == "Locked"
    assert c.get("EpAdm.Endpoint[Phone-Fax1].Lock") == "NoOp"  # a command column reads back NoOp
    assert c.get("EpAdm.UnitAdminState") == "Locked"
    c.set("EpAdm.Endpoint.Unlock[EpId=Phone-Fax2]", "Unlock")
    assert c.get("EpAdm.Endpoint[Phone-Fax2].AdminState") == "Unlocked"
    assert c.get("EpAdm.UnitAdminState") == "Unlocked"
    await engine.stop()
    assert c.get("EpAdm.Endpoint[Phone-Fax1].AdminState") is None
