"""emulator.faces.snmp pure parts: who may do what (Snmp.* + Aaa.Users), engine ID, trap destinations."""

from __future__ import annotations

from emulator.faces.snmp import access_plan, engine_id_for, trap_destinations
from firmware_model.config import Config
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog

CAT = load_catalog()


def make_config() -> Config:
    return Config(CAT, factory_for(CAT, get_profile("4102")))


def test_factory_plan_v3_only_community_public_admin() -> None:
    plan = access_plan(make_config())
    assert (plan.v1, plan.v2c, plan.v3) == (False, False, True)  # as the hardware ships
    assert plan.community == "public" and plan.community_user == "public" and plan.community_writable is True
    assert (plan.auth, plan.priv) == ("md5", "none")
    assert plan.users == () and plan.skipped == ("public",)  # empty password: no SNMPv3 for it


def test_rights_come_from_aaa_users() -> None:
    c = make_config()
    c.add_row("Aaa.Users", {"UserName": "ops", "Password": "opspass12", "AccessRights": "User"})
    c.add_row("Aaa.Users", {"UserName": "noc", "Password": "nocpass12", "AccessRights": "Observer"})
    c.add_row("Aaa.Users", {"UserName": "tiny", "Password": "short", "AccessRights": "Admin"})
    c.set("Snmp.SnmpUser", "noc")
    c.set("Snmp.AuthProtocol", "Sha1")
    c.set("Snmp.PrivProtocol", "Des")
    plan = access_plan(c)
    assert plan.community_user == "noc" and plan.community_writable is False
    assert {(u.name, u.writable) for u in plan.users} == {("ops", True), ("noc", False)}
    assert set(plan.skipped) == {"public", "tiny"}
    assert (plan.auth, plan.priv) == ("sha", "des")
    c.set("Snmp.SnmpUser", "ghost")
    assert access_plan(c).community_writable is None  # no such user: no access at all


def test_secrets_are_not_in_the_repr() -> None:
    c = make_config()
    c.add_row("Aaa.Users", {"UserName": "ops", "Password": "opspass12"})
    c.set("Snmp.Community", "n0t-public")
    c.set("Snmp.PrivPassword", "privpass99")
    text = repr(access_plan(c))
    assert "n0t-public" not in text and "opspass12" not in text and "privpass99" not in text


def test_engine_id_is_rfc3411_mac_format() -> None:
    assert engine_id_for("0090f8123456") == bytes.fromhex("8000134703") + bytes.fromhex("0090f8123456")


def test_trap_destinations() -> None:
    assert trap_destinations("192.168.10.10:162") == [("192.168.10.10", 162)]
    assert trap_destinations("nms.lab, 10.0.0.1:1162 ,[::1]:2162,[::2]") == [
        ("nms.lab", 162), ("10.0.0.1", 1162), ("::1", 2162), ("::2", 162)
    ]
    assert len(trap_destinations(",".join(f"10.0.0.{i}" for i in range(8)))) == 5  # up to 5 (MIB)
    assert trap_destinations("") == []
