"""firmware_model.config.Config: addressing, validation messages, rows, batches, persistence, factory reset."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

import pytest

from firmware_model.config import ChangeEvent, Config, ConfigError
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog
from firmware_model.script import quote
from firmware_model.store import JsonStore

CAT = load_catalog()


def make_config(profile: str = "4102", store: JsonStore | None = None) -> Config:
    return Config(CAT, factory_for(CAT, get_profile(profile)), store)


def error_of(fn: object, *args: object, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


# ------------------------------------------------------------------------------------ addressing
def test_resolve_both_cell_forms_case_insensitive() -> None:
    cfg = make_config()
    a = cfg.resolve("SipEp.UserAgent.Username[EpId=Phone-Fax1]")
    b = cfg.resolve("sipep.useragent[Phone-Fax1].username")
    c = cfg.resolve('SipEp.UserAgent.Username[epid="Phone-Fax1"]')
    assert a == b == c
    assert a.param.name == "SipEp.UserAgent.Username" and a.index == ("Phone-Fax1",)
    assert a.text == "SipEp.UserAgent[Phone-Fax1].Username"
    assert cfg.resolve("cwmp.LISTENINGport").param.name == "Cwmp.ListeningPort"
    multi = cfg.resolve("Aaa.RadiusServers.AuthenticationHost[Service=Cli,Priority=1]")
    assert multi.index == ("Cli", 1)
    assert cfg.resolve("Aaa.RadiusServers[Cli, 1].authenticationhost") == multi


@pytest.mark.parametrize(
    ("address", "kind", "words"),
    [
        ("Foo.Bar", "unknown", ["Foo.Bar", "unknown parameter"]),
        ("SipEp.Nope[EpId=x].Username", "unknown", ["unknown table SipEp.Nope"]),
        ("SipEp.UserAgent.Nope[EpId=x]", "unknown", ["no column Nope"]),
        ("SipEp.UserAgent.Username", "syntax", ["needs a row index"]),
        ("SipEp.UserAgent.Username[a,b]", "syntax", ["index needs 1 value"]),
        ("SipEp.UserAgent.Username[Foo=x]", "syntax", ["Foo is not an index column"]),
        ("Nlm.Events.Criteria[Index=abc]", "invalid", ["Nlm.Events.Index", "whole number"]),
        ("Foo.Bar[x", "syntax", ["malformed"]),
    ],
)
def test_resolve_errors(address: str, kind: str, words: list[str]) -> None:
    e = error_of(make_config().resolve, address)
    assert e.kind == kind
    for w in words:
        assert w in e.message


def test_parse_index_reads_back_every_quoted_value() -> None:
    """Exhaustive over a nasty alphabet: quote() of an index value is read back by Config."""
    cfg = make_config()
    table = CAT.tables["Aaa.Users"]
    for n in range(1, 6):
        for chars in itertools.product('\\"a,=] ', repeat=n):
            value = "".join(chars)
            assert cfg.parse_index(table, "UserName=" + quote(value)) == (value,), value


# ------------------------------------------------------------------------------------ validation messages
@pytest.mark.parametrize(
    ("name", "value", "kind", "words"),
    [
        ("Cwmp.Tr069AnnexFEnable", "maybe", "invalid", ["Cwmp.Tr069AnnexFEnable", "one of Disable, Enable"]),
        ("Web.HttpMode", "7", "invalid", ["one of Secure, Unsecure, Both"]),
        ("Cli.InactivityTimeOut", "91", "invalid", ["91", "1..90"]),
        ("Cli.InactivityTimeOut", "ten", "invalid", ["'ten'", "whole number"]),
        ("Cwmp.AcsStaticUrl", "x" * 257, "invalid", ["length 257", "0..256"]),
        ("Cwmp.AcsStaticUrl", "a\x01b", "invalid", ["control characters"]),
        ("SipEp.DefaultStaticProxyOutboundHost", "bad host:99999", "invalid", ["port"]),
        ("Hoc.StaticTimeZone", "not a zone", "invalid", ["Hoc.StaticTimeZone"]),
        ("Dcm.UnitInfoProductName", "x", "read-only", ["read-only"]),
        ("SipEp.UserAgent[Phone-Fax9].Username", "x", "no-row", ["no row with index Phone-Fax9"]),
    ],
)
def test_set_refusals(name: str, value: str, kind: str, words: list[str]) -> None:
    cfg = make_config()
    before = cfg.to_doc()
    e = error_of(cfg.set, name, value)
    assert e.kind == kind, e.message
    for w in words:
        assert w in e.message, e.message
    assert cfg.to_doc() == before


def test_set_values_events_and_modified() -> None:
    cfg = make_config()
    events: list[ChangeEvent] = []
    unsubscribe = cfg.subscribe(events.append)
    assert cfg.get("Cwmp.ListeningPort") == 0
    ev = cfg.set("Cwmp.ListeningPort", " 30005 ", source="cli")
    assert ev is not None and ev.old == 0 and ev.new == 30005 and ev.source == "cli"
    assert cfg.set("Cwmp.ListeningPort", 30005) is None  # unchanged: no event
    assert cfg.is_modified("Cwmp.ListeningPort")
    assert cfg.modified_scalars() == {"Cwmp.ListeningPort": 30005}
    cfg.set("Cwmp.ListeningPort", 0)  # back to the default: no longer modified
    assert not cfg.is_modified("Cwmp.ListeningPort") and cfg.modified_scalars() == {}
    assert cfg.set("Cwmp.Tr069AnnexFEnable", "ENABLE") is not None
    assert cfg.get("Cwmp.Tr069AnnexFEnable") == "Enable"  # the canonical label
    assert cfg.set("Web.HttpMode", 100) is not None and cfg.get("Web.HttpMode") == "Secure"
    assert [e.address for e in events] == ["Cwmp.ListeningPort", "Cwmp.ListeningPort", "Cwmp.Tr069AnnexFEnable",
                                           "Web.HttpMode"]
    unsubscribe()
    cfg.set("Cwmp.ListeningPort", 1)
    assert len(events) == 4


def test_secret_changes_are_redacted() -> None:
    cfg = make_config()
    ev = cfg.set("Cwmp.Password", "hunter2")
    assert ev is not None and ev.param.secret
    assert "hunter2" not in str(ev.redacted())
    assert cfg.get("Cwmp.Password") == "hunter2"


def test_restart_marking() -> None:
    cfg = make_config()
    p = next(p for p in CAT.scalars() if p.restart and p.type.is_enum and len(p.type.values) > 1)
    other = next(label for label in p.type.labels() if label != p.default)
    assert not cfg.needs_restart(p.service)
    cfg.set(p.name, other)
    assert cfg.needs_restart(p.service) and p.service in cfg.restart_required()
    cfg.clear_restart(p.service)
    assert not cfg.needs_restart(p.service)


def test_catalog_enum_defaults_are_labels() -> None:
    """Some MIB defaults are lower-case ('inactive'); the catalog loader canonicalises them."""
    cfg = make_config()
    bad = [p.name for p in CAT.params.values() if p.type.is_enum and p.default is not None
           and p.default not in p.type.labels()]
    assert bad == []
    # the consequence: assigning the value a cell already has marks the table changed
    cfg.set("EpServ.ForwardUnconditionalConfig[Phone-Fax1].Activation", cfg.get(
        "EpServ.ForwardUnconditionalConfig[Phone-Fax1].Activation") or "")
    assert cfg.changed_tables() == set()


# ------------------------------------------------------------------------------------ rows
def test_add_row_auto_and_explicit_index() -> None:
    cfg = make_config()
    assert cfg.indexes("Nlm.Events") == [(1,), (2,)]
    assert cfg.add_row("Nlm.Events", {"Criteria": "1400.*", "action": "LogLocally"}) == (3,)
    assert cfg.get("Nlm.Events[3].Action") == "LogLocally"
    assert cfg.get("Nlm.Events[3].Activation") == "Enable"  # column default
    assert cfg.add_row("Nlm.Events", index=(10,)) == (10,)
    assert cfg.add_row("Nlm.Events") == (11,)
    assert cfg.add_row("Aaa.Users", {"UserName": "bob", "Password": "pw"}) == ("bob",)
    assert cfg.get("Aaa.Users.Password[UserName=bob]") == "pw"
    assert "Nlm.Events" in cfg.changed_tables()
    e = error_of(cfg.add_row, "Aaa.Users", {"UserName": "bob"})
    assert e.kind == "row-exists"
    e = error_of(cfg.add_row, "SipEp.UserAgent", {"EpId": "Phone-Fax3"})
    assert e.kind == "not-dynamic"
    e = error_of(cfg.add_row, "Aaa.Users", {"UserName": "eve", "Nope": 1})
    assert e.kind == "unknown"
    e = error_of(cfg.add_row, "Aaa.Users", {"UserName": "eve", "AccessRights": "Root"})
    assert e.kind == "invalid" and "one of Admin, User, Observer" in e.message
    e = error_of(cfg.add_row, "Aaa.Users", {"Password": "x"})
    assert e.kind == "syntax" and "UserName" in e.message
    assert ("eve",) not in cfg.indexes("Aaa.Users")


@pytest.mark.parametrize("name", ['a\\"b', 'say "hi"', "back\\slash\\", "a,b", "k=v"])
def test_add_row_index_values_are_taken_literally(name: str) -> None:
    """An index value given as a column value is the value itself, not script text to unquote."""
    cfg = make_config()
    assert cfg.add_row("Aaa.Users", {"UserName": name}) == (name,)
    assert (name,) in cfg.indexes("Aaa.Users")


def test_delete_row_and_row_commands() -> None:
    cfg = make_config()
    ran: list[object] = []
    cfg.on_command("Scm.ServiceCommands.Restart", ran.append)
    cfg.delete_row("Nlm.Events", (1,))
    assert cfg.indexes("Nlm.Events") == [(2,)]
    assert error_of(cfg.delete_row, "Nlm.Events", (1,)).kind == "no-row"
    assert error_of(cfg.delete_row, "SipEp.UserAgent", ("Phone-Fax1",)).kind == "not-dynamic"
    cfg.set("Nlm.Events.Delete[Index=2]", "noop")
    assert cfg.indexes("Nlm.Events") == [(2,)]
    cfg.set("Nlm.Events.Delete[Index=2]", "Delete")
    assert cfg.indexes("Nlm.Events") == []
    assert cfg.get("Scm.ServiceCommands.Restart[Name=SipEp]") == "NoOp"  # commands read as NoOp
    cfg.set("Scm.ServiceCommands.Restart[Name=SipEp]", "Restart")
    assert ran == [("SipEp",)]
    e = error_of(cfg.set, "EpAdm.Endpoint.Lock[EpId=Phone-Fax1]", "Lock")
    assert e.kind == "invalid" and "not available" in e.message
    e = error_of(cfg.set, "Scm.ServiceCommands.Restart[Name=SipEp]", "Stop")
    assert e.kind == "invalid" and "one of NoOp, Restart" in e.message


def test_ensure_row() -> None:
    cfg = make_config()
    assert cfg.ensure_row("Hoc.StaticHosts", (4,)) is True
    assert cfg.ensure_row("Hoc.StaticHosts", (4,)) is False
    assert cfg.indexes("Hoc.StaticHosts") == [(4,)]


def test_rows_are_copies_with_every_column() -> None:
    cfg = make_config()
    rows = cfg.rows("Nlm.Events")
    assert rows[0]["Index"] == 1 and rows[0]["Delete"] == "NoOp"
    assert set(rows[0]) == set(CAT.tables["Nlm.Events"].columns)
    rows[0]["Criteria"] = "changed"
    assert cfg.get("Nlm.Events[1].Criteria") != "changed"


def test_factory_rows_per_profile() -> None:
    assert make_config("4102").indexes("SipEp.UserAgent") == [("Phone-Fax1",), ("Phone-Fax2",)]
    assert make_config("C740").indexes("SipEp.UserAgent") == [("Bri1",), ("Bri2",)]
    c = make_config("3621")
    assert c.indexes("EpAdm.Endpoint") == [("Slot2/E1T1",), ("Slot3/E1T1",)]
    assert c.get("SipEp.UserAgent.Username[EpId=Slot3/E1T1]") == ""
    assert c.factory_indexes("Nlm.Events") == [(1,), (2,)]


# ------------------------------------------------------------------------------------ batches
def test_batch_rolls_back_everything_on_error(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "c.json", fsync=False)
    cfg = make_config(store=store)
    ran: list[object] = []
    events: list[ChangeEvent] = []
    cfg.on_command("Scm.ServiceCommands.Restart", ran.append)
    cfg.subscribe(events.append)
    before = cfg.to_doc()
    with pytest.raises(ConfigError), cfg.batch():
        cfg.set("Cwmp.ListeningPort", 5)
        cfg.add_row("Aaa.Users", {"UserName": "bob"})
        cfg.delete_row("Nlm.Events", (1,))
        cfg.set("SipEp.UserAgent[Phone-Fax1].Username", "1001")
        cfg.set("Scm.ServiceCommands.Restart[Name=SipEp]", "Restart")
        cfg.set("Cwmp.ListeningPort", "bad")
    assert cfg.to_doc() == before
    assert cfg.indexes("Nlm.Events") == [(1,), (2,)] and ("bob",) not in cfg.indexes("Aaa.Users")
    assert cfg.changed_tables() == set() and cfg.restart_required() == []
    assert events == [] and ran == [] and store.writes == 0


def test_batch_commits_once_then_announces_and_runs_commands(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "c.json", fsync=False)
    cfg = make_config(store=store)
    seen: list[str] = []
    cfg.on_command("Scm.ServiceCommands.Restart", lambda idx: seen.append(f"cmd {idx[0]}"))
    cfg.subscribe(lambda ev: seen.append(f"event {ev.address}"))
    with cfg.batch():
        cfg.set("Cwmp.ListeningPort", 5)
        cfg.set("Scm.ServiceCommands.Restart[Name=SipEp]", "Restart")
        with cfg.batch():  # nested: part of the outer batch
            cfg.set("Cwmp.Tr069AnnexFEnable", "Enable")
        assert seen == [] and store.writes == 0
    assert seen == ["event Cwmp.ListeningPort", "event Cwmp.Tr069AnnexFEnable", "cmd SipEp"]
    assert store.writes == 1


# ------------------------------------------------------------------------------------ persistence
def test_persistence_round_trip_through_json_store(tmp_path: Path) -> None:
    path = tmp_path / "unit" / "config.json"
    cfg = make_config(store=JsonStore(path))
    cfg.set("Cwmp.ListeningPort", 30005)
    cfg.set("Cwmp.Password", 'p"w\\')
    cfg.add_row("Aaa.Users", {"UserName": "bob smith", "Password": "x", "AccessRights": "User"})
    cfg.delete_row("Nlm.Events", (1,))
    cfg.set("SipEp.UserAgent[Phone-Fax2].Username", "1002")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds passwords
    again = make_config(store=JsonStore(path))
    assert again.to_doc() == cfg.to_doc()
    assert again.get("Cwmp.Password") == 'p"w\\'
    assert again.indexes("Nlm.Events") == [(2,)]
    assert again.get("Aaa.Users[bob smith].AccessRights") == "User"
    for t in CAT.tables.values():
        if not t.status:
            assert again.rows(t.name) == cfg.rows(t.name), t.name


def test_stored_document_with_unknown_or_bad_values_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    JsonStore(path).save({
        "format": 1,
        "scalars": {"Cwmp.ListeningPort": 7, "Gone.Param": 1, "Cli.InactivityTimeOut": "bad",
                    "Dcm.UnitInfoProductName": "x"},
        "tables": {"Gone.Table": [], "Nlm.Events": [{"Index": 2, "Criteria": "k"}, {"Criteria": "no index"}]},
    })
    cfg = make_config(store=JsonStore(path))
    assert cfg.get("Cwmp.ListeningPort") == 7
    assert cfg.get("Cli.InactivityTimeOut") == 15
    assert cfg.indexes("Nlm.Events") == [(2,)]
    assert cfg.get("Nlm.Events[2].Action") == "LogLocally"  # the factory row's other cells are kept


# ------------------------------------------------------------------------------------ factory reset
def test_factory_reset(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    cfg = make_config(store=JsonStore(path))
    factory_doc = cfg.to_doc()
    factory_rows = {t: cfg.rows(t) for t in CAT.tables if not CAT.tables[t].status}
    cfg.set("Cwmp.ListeningPort", 5)
    cfg.delete_row("Nlm.Events", (1,))
    cfg.add_row("Aaa.Users", {"UserName": "bob"})
    events: list[ChangeEvent] = []
    cfg.subscribe(events.append)
    cfg.factory_reset(source="test")
    assert cfg.to_doc() == factory_doc
    assert {t: cfg.rows(t) for t in factory_rows} == factory_rows
    assert [e.kind for e in events] == ["reset"] and events[0].source == "test"
    assert set(cfg.restart_required()) == set(CAT.services)
    assert make_config(store=JsonStore(path)).to_doc() == factory_doc  # persisted
