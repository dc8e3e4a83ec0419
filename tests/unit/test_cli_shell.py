"""The pure CLI interpreter (emulator.faces.cli.shell): reads, sets, errors, rights, sysinfo, help, completion."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.faces.cli.shell import MASK, CliShell, columns, decode_welcome, format_table
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.config import Config
from firmware_model.profiles import get_profile
from firmware_model.store import JsonStore


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)


def shell(unit: Unit, rights: str = "Admin", user: str = "public") -> CliShell:
    return CliShell(unit, AuthResult(True, user, rights))


def ok(sh: CliShell, line: str) -> str:
    reply = sh.execute(line)
    assert reply.ok, reply.output
    return reply.output


def err(sh: CliShell, line: str) -> str:
    reply = sh.execute(line)
    assert not reply.ok, reply.output
    assert reply.output.startswith("Error: ")
    return reply.output


# ---------------------------------------------------------------------- reading
def test_read_scalars_case_insensitive(unit: Unit) -> None:
    sh = shell(unit)
    assert ok(sh, "Cli.SshPort") == "22\n"
    assert ok(sh, "  cli.sshport  ") == "22\n"
    assert ok(sh, "cwmp.acsurl") == "\n"  # read-only status value, empty until an ACS is known
    assert ok(sh, "Cli.SshSecurityLevel") == "Standard\n"


def test_read_table_aligned_index_first(unit: Unit) -> None:
    sh = shell(unit)
    lines = ok(sh, "SipEp.UserAgent").splitlines()
    assert lines[0].split()[0] == "EpId" and "Username" in lines[0]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert [ln.split()[0] for ln in lines[2:]] == ["Phone-Fax1", "Phone-Fax2"]
    # Columns are aligned: every header starts where its values start.
    col = lines[0].index("GatewayName")
    assert lines[2][col:].startswith("all ")
    assert "Restart" not in ok(sh, "Scm.ServiceCommands")  # command columns are not shown
    services = ok(sh, "Scm.ServicesInfo")
    assert services.splitlines()[0].split()[:2] == ["Name", "Id"] and "Started" not in services  # unit not started
    status = ok(sh, "sipEp.registrationstatus")
    assert status.splitlines()[0].split()[0] == "Index" and "(no rows)" in status


def test_read_cells_both_forms_and_a_column(unit: Unit) -> None:
    sh = shell(unit)
    assert ok(sh, "Aaa.Users[public].AccessRights") == "Admin\n"
    assert ok(sh, "aaa.users.accessrights[UserName=public]") == "Admin\n"
    column = ok(sh, "SipEp.UserAgent.GatewayName").splitlines()
    assert column[0].split() == ["EpId", "GatewayName"] and column[2].split() == ["Phone-Fax1", "all"]
    assert "no row with index nobody" in err(sh, "Aaa.Users[nobody].AccessRights")


def test_read_service_lists_scalars(unit: Unit) -> None:
    out = ok(shell(unit), "Cli")
    assert any(ln.split() == ["Cli.SshPort", "=", "22"] for ln in out.splitlines())
    assert "Cli.EnableTelnet" in out and "Cli.NeedRestartInfo" in out
    assert any(ln.split() == ["Cli.WelcomeMessage", "=", '""'] for ln in out.splitlines())  # script syntax
    assert "Tables: Aaa.Users" in ok(shell(unit), "aaa")


def test_secrets_masked_without_the_secrets_right(unit: Unit) -> None:
    unit.config.set("Aaa.Users[public].Password", "s3cret")
    unit.config.set("Cwmp.Password", "acs-pw")
    admin, user, observer = shell(unit), shell(unit, "User", "bob"), shell(unit, "Observer", "eve")
    assert ok(admin, "Cwmp.Password") == "acs-pw\n"
    assert "s3cret" in ok(admin, "Aaa.Users")
    for sh in (user, observer):
        assert ok(sh, "Cwmp.Password") == f"{MASK}\n"
        table = ok(sh, "Aaa.Users")
        assert "s3cret" not in table and MASK in table
        assert ok(sh, "Aaa.Users[public].Password") == f"{MASK}\n"
        assert "acs-pw" not in ok(sh, "Cwmp") and "acs-pw" not in ok(sh, "help Cwmp.Password")


# ---------------------------------------------------------------------- setting
def test_set_goes_through_config_and_persists(unit: Unit, tmp_path: Path) -> None:
    sh = shell(unit)
    events: list[str] = []
    unit.config.subscribe(lambda ev: events.append(f"{ev.address}:{ev.source}"))
    out = ok(sh, "Cli.SshPort = 2222")
    assert "Cli needs a restart" in out  # SshPort is a restart parameter
    assert unit.config.get("Cli.SshPort") == 2222 and events == ["Cli.SshPort:cli"]
    assert ok(sh, "cli.inactivitytimeout=30") == ""  # no spaces, lower case, no restart needed
    assert ok(sh, "Cli.EnableTelnet= enable").startswith("Cli needs a restart")  # enum label, any case
    assert unit.config.get("Cli.EnableTelnet") == "Enable"
    assert ok(sh, 'Cli.WelcomeMessage = "Hello \\"lab\\" unit"') == ""
    assert unit.config.get("Cli.WelcomeMessage") == 'Hello "lab" unit'
    ok(sh, "SipEp.UserAgent.Username[EpId=Phone-Fax1] = 1001")
    ok(sh, "SipEp.UserAgent[Phone-Fax2].Username = 1002")
    assert [r["Username"] for r in unit.config.rows("SipEp.UserAgent")] == ["1001", "1002"]
    again = Config(unit.catalog, unit.config.factory, JsonStore(tmp_path / "config.json", fsync=False))
    assert again.get("Cli.SshPort") == 2222 and again.get("Cli.InactivityTimeOut") == 30


def test_set_creates_a_row_of_a_dynamic_table_like_a_script(unit: Unit) -> None:
    sh = shell(unit)
    ok(sh, 'Nlm.Events.Criteria[Index=3] = "1400.All"')
    assert unit.config.get("Nlm.Events[3].Criteria") == "1400.All"
    before = unit.config.indexes("Nlm.Events")
    err(sh, "Nlm.Events.Criteria[Index=4] = " + "x" * 5000)  # invalid: the new row is not kept either
    assert unit.config.indexes("Nlm.Events") == before
    ok(sh, "Aaa.Users.AccessRights[UserName=bob] = Observer")  # a new account, as a script would add it
    assert unit.config.get("Aaa.Users[bob].AccessRights") == "Observer"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Cli.NoSuchThing = 1", "Cli.NoSuchThing: unknown parameter"),
        ("Cli.SshSecurityLevel = Paranoid", "one of Permissive, Standard, MostSecure"),
        ("Cli.SshPort = 70000", "Cli.SshPort: 70000 is not a whole number in 1..65535"),
        ("Cli.InactivityTimeOut = soon", "Cli.InactivityTimeOut: 'soon' is not a whole number in 1..90"),
        ("Cli.NeedRestartInfo = Yes", "Cli.NeedRestartInfo: read-only parameter"),
        ("SipEp.UserAgent.Username[EpId=Phone-Fax9] = 1", "SipEp.UserAgent: no row with index Phone-Fax9"),
        ("Cli = 1", "Cli: not a parameter"),
        ("Nosuch.Param", "Nosuch.Param: unknown parameter"),
    ],
)
def test_errors_are_precise_and_change_nothing(unit: Unit, line: str, message: str) -> None:
    before = unit.config.to_doc()
    assert message in err(shell(unit), line)
    assert unit.config.to_doc() == before


def test_observer_cannot_set_or_run_commands(unit: Unit) -> None:
    ran: list[str] = []
    unit.commands["Scm.RestartRequiredServices"] = lambda: ran.append("restart")
    unit.config.on_command("Scm.ServiceCommands.Restart", lambda idx: ran.append(str(idx[0])))
    sh = shell(unit, "Observer", "eve")
    refused = "user eve (Observer rights) may not change the configuration"
    assert refused in err(sh, "Cli.SshPort = 2222")
    assert refused in err(sh, "Scm.RestartRequiredServices")
    assert refused in err(sh, "Scm.ServiceCommands.Restart[Name=Cli]")
    assert unit.config.get("Cli.SshPort") == 22 and ran == []
    assert ok(sh, "Cli.SshPort") == "22\n"  # reading is fine


def test_user_rights_cannot_touch_secrets_or_accounts(unit: Unit) -> None:
    sh = shell(unit, "User", "bob")
    assert "Cwmp.Password: a secret; only an Admin user may read or change it" in err(sh, "Cwmp.Password = x")
    assert "only an Admin user may change user accounts" in err(sh, "Aaa.Users[public].AccessRights = Observer")
    ok(sh, "Cli.InactivityTimeOut = 20")
    assert unit.config.get("Cwmp.Password") == unit.catalog.params["Cwmp.Password"].default


# ---------------------------------------------------------------------- commands
def test_row_commands_long_and_short_forms(unit: Unit) -> None:
    ran: list[str] = []
    unit.config.on_command("Scm.ServiceCommands.Restart", lambda idx: ran.append(str(idx[0])))
    sh = shell(unit)
    ok(sh, "Scm.ServiceCommands.Restart[Name=Cli] = Restart")
    ok(sh, "scm.servicecommands.restart[name=SipEp]")
    ok(sh, "Scm.ServiceCommands[Nlm].Restart")
    assert ran == ["Cli", "SipEp", "Nlm"]
    assert "one of NoOp, Restart" in err(sh, "Scm.ServiceCommands.Restart[Name=Cli] = Reboot")
    assert "needs a row" in err(sh, "Scm.ServiceCommands.Restart")


def test_unit_commands_run_by_name(unit: Unit) -> None:
    ran: list[str] = []
    unit.commands["Scm.RestartRequiredServices"] = lambda: ran.append("restart")
    sh = shell(unit)
    assert ok(sh, "scm.restartrequiredservices") == "No service needs a restart\n"
    unit.config.set("Cli.SshPort", 2200)
    assert ok(sh, "Scm.RestartRequiredServices") == "Restarting: Cli\n"
    assert ran == ["restart", "restart"]
    assert "takes no value" in err(sh, "Scm.RestartRequiredServices = 1")


def test_comments_blank_lines_and_exit(unit: Unit) -> None:
    sh = shell(unit)
    assert sh.execute("").output == "" and sh.execute("# a comment").ok
    assert ok(sh, "Cli.InactivityTimeOut = 20   # trailing comment, like in a script") == ""
    assert unit.config.get("Cli.InactivityTimeOut") == 20
    assert "unterminated quoted value" in err(sh, 'Hoc.HostName = "gw1')
    for word in ("exit", "QUIT", "logout"):
        assert sh.execute(word).exit


# ---------------------------------------------------------------------- sysinfo, prompt, welcome
def test_sysinfo_key_value_lines(unit: Unit) -> None:
    info = dict(line.split(": ", 1) for line in ok(shell(unit), "sysinfo").splitlines())
    assert info["Product"] == "Mediatrix 4102"
    assert info["Serial Number"] == unit.identity.serial
    assert info["MAC Address"] == unit.identity.mac_colon and info["MAC Address"].startswith("00:90:F8:")
    assert info["Firmware Version"] == f"DGW {unit.version}"
    assert info["Profile"] == "4102"
    assert info["System Time"] == unit.config.get_text("Hoc.SystemTime")
    assert info["Uptime"].count(":") == 3


def test_prompt_and_welcome(unit: Unit) -> None:
    sh = shell(unit)
    assert sh.prompt == "u1> "
    unit.config.set("Hoc.HostName", "gw-lab")
    assert sh.prompt == "gw-lab> "
    assert sh.welcome() == ""
    unit.config.set("Cli.WelcomeMessage", "Lab unit\\n\\tno production\\\\")
    assert sh.welcome() == "Lab unit\n\tno production\\\n"
    assert decode_welcome("a\\qb\\") == "a\\qb\\"


# ---------------------------------------------------------------------- help, listings, completion
def test_help(unit: Unit) -> None:
    sh = shell(unit)
    general = ok(sh, "help")
    assert "sysinfo" in general and "Scm.RestartRequiredServices" in general and "Services: " in general
    port = ok(sh, "help cli.sshport")
    assert port.startswith("Cli.SshPort: Listen Port")
    assert "a whole number in 1..65535" in port and "Default: 22" in port
    assert "read-write (a change needs a restart of Cli)" in port
    level = ok(sh, "help Cli.SshSecurityLevel")
    assert "one of Permissive, Standard, MostSecure" in level and "Default: Standard" in level
    assert "Index: UserName" in ok(sh, "help Aaa.Users")
    assert "Cli.SshPort" in ok(sh, "help Cli")
    assert "AccessRights" in ok(sh, "help Aaa.Users[public].AccessRights")
    assert "unknown name" in err(sh, "help Nope.Nope")


def test_question_mark_lists_matches(unit: Unit) -> None:
    sh = shell(unit)
    out = ok(sh, "Cli.Ssh?")
    assert [ln.split()[0] for ln in out.splitlines()] == ["Cli.SshPort", "Cli.SshSecurityLevel"]
    assert "Listen Port" in out
    assert "Aaa.Users" in ok(sh, "aaa.?")
    assert "no name starts" in err(sh, "Zzz?")


def test_completion_candidates(unit: Unit) -> None:
    sh = shell(unit)
    assert sh.names("Cli.Ssh") == ["Cli.SshPort", "Cli.SshSecurityLevel"]
    assert "Scm.RestartRequiredServices" in sh.names("scm.r")
    assert "sysinfo" in sh.names("sy") and "SipEp" in sh.names("Si")
    assert "Aaa.Users.AccessRights" in sh.names("Aaa.Users.")
    c = sh.complete("cli.sshp")
    assert (c.line, c.pos, c.candidates) == ("Cli.SshPort", 11, [])
    c = sh.complete("Cli.Ssh")
    assert c.line == "Cli.Ssh" and c.candidates == ["Cli.SshPort", "Cli.SshSecurityLevel"]
    c = sh.complete("cli.sshs")
    assert c.line == "Cli.SshSecurityLevel"
    assert sh.complete("cl").line == "Cli"
    assert sh.complete("Cli").line == "Cli."  # a complete service name: descend
    assert sh.complete("help cli.sshp").line == "help Cli.SshPort"
    assert sh.complete("Cli.SshSecurityLevel = most").line == "Cli.SshSecurityLevel = MostSecure"
    assert sh.complete("Cli.EnableSsh=").candidates == ["Disable", "Enable"]
    assert sh.complete("Cli.EnableSsh=e").line == "Cli.EnableSsh= Enable"
    cmd = "Scm.ServiceCommands.Restart[Name=Cli] = "
    assert sh.complete(cmd + "r").line == cmd + "Restart"
    assert sh.complete("Cli.SshPort = 2").line == "Cli.SshPort = 2"  # not an enum: nothing to complete
    assert sh.complete("Aaa.Users[pub").line == "Aaa.Users[pub"
    c = sh.complete("cli.sshp = 1", 8)  # cursor in the middle: the rest of the line is kept
    assert c.line == "Cli.SshPort = 1" and c.pos == 11
    assert not sh.complete("Zzz").changed("Zzz", 3)


def test_layout_helpers() -> None:
    assert format_table(["A", "Bee"], [["xyz", "1"]]) == "A    Bee\n---  ---\nxyz  1\n"
    assert format_table(["A"], []) == "A\n-\n(no rows)\n"
    assert columns(["ab", "c", "d"], width=8) == "ab  c\nd\n"
