"""The settings a call reads, kept between calls (firmware_model/settings_cache.py): a value set between two calls
takes effect for the second, whichever cache holds it (forwarding, SDP interop knobs, EpServ line services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.sipep.calls import CallManager
from emulator.protocols.media.sdp_interop import SdpInterop
from emulator.runtime.unit import Unit
from tests.helpers.units import built_unit, calls_of

EP = "Phone-Fax1"


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return built_unit(tmp_path, "cache")


def test_forwarding_set_between_two_calls_acts_on_the_second(unit: Unit) -> None:
    manager: CallManager = calls_of(unit)
    assert manager.forwarding.line(EP).unconditional is None
    unit.config.set(f"EpServ.ForwardUnconditionalConfig[{EP}].Activation", "Active")
    unit.config.set(f"EpServ.ForwardUnconditionalConfig[{EP}].ForwardingAddress", "2000")
    unit.config.set("EpServ.DefaultForwardUnconditionalEnable", "Enable")
    assert manager.forwarding.line(EP).unconditional == "2000"
    unit.config.set(f"EpServ.ForwardUnconditionalConfig[{EP}].ForwardingAddress", "3000")
    assert manager.forwarding.line(EP).unconditional == "3000"
    assert manager.forwarding.line("Phone-Fax2").unconditional is None


def test_sdp_interop_set_between_two_bodies_acts_on_the_next(unit: Unit) -> None:
    assert SdpInterop.from_config(unit.config).direction_attribute
    unit.config.set("SipEp.InteropSdpDirectionAttributeEnable", "Disable")
    assert not SdpInterop.from_config(unit.config).direction_attribute
    unit.config.set("SipEp.InteropOnHoldSdpStreamDirection", "Sendonly")
    assert not SdpInterop.from_config(unit.config).hold_inactive
    assert SdpInterop.from_config(None) == SdpInterop()


def test_line_service_set_between_two_calls_acts_on_the_second(unit: Unit) -> None:
    manager: CallManager = calls_of(unit)
    assert manager.services.call_waiting(EP)
    unit.config.set(f"EpServ.CallWaitingUserConfig[{EP}].State", "Inactive")  # the user's activation code
    assert not manager.services.call_waiting(EP) and manager.services.call_waiting("Phone-Fax2")
    unit.config.set("EpServ.DefaultHoldEnable", "Disable")
    assert not manager.services.hold(EP)


def test_sipep_user_agent_and_transport_set_between_two_calls_act_on_the_second(unit: Unit) -> None:
    manager: CallManager = calls_of(unit)
    settings = manager.ua.settings
    unit.config.set(f"SipEp.UserAgent[{EP}].FriendlyName", "Alice")
    assert settings.contact_display_name(EP) == "Alice"
    unit.config.set(f"SipEp.UserAgent[{EP}].FriendlyName", "Bob")
    assert settings.contact_display_name(EP) == "Bob"
    unit.config.set("SipEp.InteropSipContactDisplayNamePresence", "Disable")
    assert settings.contact_display_name(EP) is None
    unit.config.set(f"SipEp.UserAgent[{EP}].Username", "1001")
    assert manager.username(EP) == "1001"
    unit.config.set(f"SipEp.UserAgent[{EP}].Username", "1002")
    assert manager.username(EP) == "1002"
    gateway = str(settings.transport_row().get("GatewayName"))
    before = settings.transport_in_contact(gateway)
    unit.config.set(f"SipEp.TransportConfig[{gateway}].ContactEnable", "Disable" if before else "Enable")
    assert settings.transport_in_contact(gateway) is not before
