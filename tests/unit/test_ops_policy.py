"""emulator.ops.policy: one access policy for every face (rights, secrets, Admin tables and commands, scripts)."""

from __future__ import annotations

import pytest

from emulator.engines.aaa import AuthResult
from emulator.ops import policy
from firmware_model.config import Config
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog

ADMIN = AuthResult(True, "admin", "Admin")
USER = AuthResult(True, "bob", "User")
OBSERVER = AuthResult(True, "eve", "Observer")


@pytest.fixture(scope="module")
def config() -> Config:
    catalog = load_catalog()
    return Config(catalog, factory_for(catalog, get_profile("4102")))


def test_admin_tables_and_secrets(config: Config) -> None:
    ca_delete = config.resolve("Cert.OthersCertificatesInfo.Delete[FileName=factory-ca.pem]").param
    password = config.resolve("Cwmp.Password").param
    plain = config.resolve("Cli.InactivityTimeOut").param
    for p in (ca_delete, password, plain):
        policy.check_write(ADMIN, p)
    policy.check_write(USER, plain)
    with pytest.raises(policy.Forbidden, match="only an Admin user may delete certificates") as e:
        policy.check_write(USER, ca_delete)
    assert e.value.kind == "forbidden"
    with pytest.raises(policy.Forbidden, match="a secret"):
        policy.check_write(USER, password)
    with pytest.raises(policy.Forbidden, match="Observer rights"):
        policy.check_write(OBSERVER, plain)
    assert policy.shown_value(USER, password, "s3cret") == policy.MASK
    assert policy.shown_value(ADMIN, password, "s3cret") == "s3cret"
    assert not policy.may_read(USER, password) and policy.may_read(USER, plain)
    assert not policy.may_write_table(USER, "Aaa.Users") and policy.may_write_table(ADMIN, "Aaa.Users")


def test_commands() -> None:
    policy.check_command(USER, "Scm.RestartRequiredServices")
    with pytest.raises(policy.Forbidden, match="only an Admin user may activate"):
        policy.check_command(USER, "Cert.ActivateUnsecureTransfer")
    policy.check_command(ADMIN, "Cert.ActivateUnsecureTransfer")
    with pytest.raises(policy.Forbidden):
        policy.check_command(OBSERVER, "Scm.RestartRequiredServices")


def test_script_names_every_refused_line(config: Config) -> None:
    text = "\n".join([
        "Cli.InactivityTimeOut = 30",
        "Cert.OthersCertificatesInfo.Delete[FileName=factory-ca.pem] = Delete",
        "Cwmp.Password = x",
        "Aaa.Users.AccessRights[UserName=public] = Observer",
        "Scm.RestartRequiredServices",
        "Cert.ActivateUnsecureTransfer",
    ])
    with pytest.raises(policy.Forbidden) as e:
        policy.check_script(USER, config, text)
    assert e.value.message.startswith("line(s) 2, 3, 4, 6: only an Admin user may ")
    assert "delete certificates" in e.value.message and "nothing applied" in e.value.message
    policy.check_script(ADMIN, config, text)
    policy.check_script(USER, config, "Cli.InactivityTimeOut = 30\nScm.RestartRequiredServices")
    with pytest.raises(policy.Forbidden):
        policy.check_script(OBSERVER, config, "Cli.InactivityTimeOut = 30")


def test_export_without_secrets(config: Config) -> None:
    text = "# header\nCwmp.Password = \"x\"\nCli.InactivityTimeOut = 30\n"
    out = policy.export_without_secrets(USER, config, text)
    assert "Cwmp.Password" not in out and "Cli.InactivityTimeOut = 30" in out
    assert "1 secret value(s) left out" in out.splitlines()[1]
    assert policy.export_without_secrets(ADMIN, config, text) == text
