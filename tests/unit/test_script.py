"""Configuration-script language (firmware_model.script): lexing, all-or-nothing runs, export round trips."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from firmware_model.config import ChangeEvent, Config, ConfigError
from firmware_model.profiles import PROFILES, factory_for, get_profile
from firmware_model.schema import load_catalog
from firmware_model.script import (
    MAX_SCRIPT_BYTES,
    MAX_SCRIPT_LINES,
    LineResult,
    ScriptResult,
    export_script,
    parse_script,
    quote,
    run_script,
    split_assignment,
    strip_comment,
    unquote,
)

CAT = load_catalog()


def make_config(profile: str = "4102") -> Config:
    return Config(CAT, factory_for(CAT, get_profile(profile)))


# Text that survives a script line: no line breaks (the only thing quote() refuses).
line_text = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=40)


# ------------------------------------------------------------------------------------ lexical helpers
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Cwmp.ListeningPort=30005", ("Cwmp.ListeningPort", "30005")),
        ("  Cwmp.Tr069AnnexFEnable=   Enable  ", ("Cwmp.Tr069AnnexFEnable", "Enable")),
        ("Cwmp.AcsStaticUrl = http://a/?x=1&y=2", ("Cwmp.AcsStaticUrl", "http://a/?x=1&y=2")),
        ("SipEp.UserAgent.Username[EpId=Phone-Fax1] = 1001", ("SipEp.UserAgent.Username[EpId=Phone-Fax1]", "1001")),
        ('Aaa.Users.Password[UserName="a]=b"] = "x=y"', ('Aaa.Users.Password[UserName="a]=b"]', '"x=y"')),
        ("X.Y =", ("X.Y", "")),
        ("= value", ("", "value")),
        ("Scm.ServiceCommands.Restart[Name=SipEp]", None),
        ("Scm.RestartRequiredServices", None),
        ('"a=b"', None),
        ("", None),
    ],
)
def test_split_assignment_examples(line: str, expected: tuple[str, str] | None) -> None:
    assert split_assignment(line) == expected


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("plain", "plain"),
        ("  padded  ", "padded"),
        ('""', ""),
        ('"  spaced  "', "  spaced  "),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"keep \n as written"', r"keep \n as written"),
        ('  "x"  ', "x"),
        ('ab"c', 'ab"c'),  # a quote inside a bare value is plain text
    ],
)
def test_unquote_examples(raw: str, value: str) -> None:
    assert unquote(raw) == value


@pytest.mark.parametrize("raw", ['"open', r'"escaped end\"', '"a" b', '"a""b"'])
def test_unquote_rejects_malformed(raw: str) -> None:
    with pytest.raises(ValueError):
        unquote(raw)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("abc", "abc"),
        ("Phone-Fax1", "Phone-Fax1"),
        ("http://h:80/p", "http://h:80/p"),
        ("", '""'),
        ("a b", '"a b"'),
        (" lead", '" lead"'),
        ('q"', '"q\\""'),
        ("a\\b", '"a\\\\b"'),
        ("x#y", '"x#y"'),
        ("a,b", '"a,b"'),
        ("[x]", '"[x]"'),
        ("k=v", '"k=v"'),
    ],
)
def test_quote_examples(value: str, written: str) -> None:
    assert quote(value) == written
    assert unquote(written) == value


def test_quote_refuses_line_breaks() -> None:
    with pytest.raises(ValueError):
        quote("a\nb")
    with pytest.raises(ValueError):
        quote("a\rb")


@given(line_text)
def test_quote_unquote_round_trip(value: str) -> None:
    written = quote(value)
    assert unquote(written) == value
    assert "\n" not in written
    if written == value:  # bare: nothing a line parser could cut or split
        assert value and value == value.strip() and not any(c in value for c in '"#,[]=\\')
    # a quoted value is not cut by a trailing-comment strip, and survives after "Name = "
    assert strip_comment(f"A.B = {written}") == f"A.B = {written}"
    assert split_assignment(f"A.B = {written}") == ("A.B", written)


names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}(\.[A-Za-z][A-Za-z0-9]{0,8}){1,2}", fullmatch=True)


@given(names, st.lists(line_text, min_size=0, max_size=2), line_text, st.sampled_from(["=", " = ", "  =", "= "]))
def test_split_assignment_property(name: str, index_values: list[str], value: str, eq: str) -> None:
    index = ",".join(f"K{n}={quote(v)}" for n, v in enumerate(index_values))
    target = f"{name}[{index}]" if index_values else name
    parts = split_assignment(f"{target}{eq}{quote(value)}")
    assert parts is not None
    assert parts[0] == target
    assert unquote(parts[1]) == value
    assert split_assignment(target) is None  # no "=" outside brackets and quotes: a command / read


@given(line_text)
def test_split_assignment_never_splits_inside_brackets(inner: str) -> None:
    line = f"A.B.C[K={quote(inner)}]"
    assert split_assignment(line) is None


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("# whole line", ""),
        ("A.B = 1 # set it", "A.B = 1"),
        ("A.B = 1\t# tab", "A.B = 1"),
        ('A.B = "x # y" # c', 'A.B = "x # y"'),
        ("A.B = http://h/#frag", "A.B = http://h/#frag"),
        ("A.B = Pass#1", "A.B = Pass#1"),
        (r'A.B = "esc\" # still quoted"', r'A.B = "esc\" # still quoted"'),
    ],
)
def test_strip_comment(line: str, kept: str) -> None:
    assert strip_comment(line) == kept


def test_parse_script_lines_and_numbers() -> None:
    text = (
        "\ufeff# header\r\n\r\nCwmp.ListeningPort = 5  # c\r\n   \n"
        'Scm.RestartRequiredServices\nA.B = "open\nfoo bar\n'
    )
    stmts, errors = parse_script(text)
    assert [(s.number, s.target, s.value) for s in stmts] == [
        (3, "Cwmp.ListeningPort", "5"),
        (5, "Scm.RestartRequiredServices", None),
    ]
    assert [e.number for e in errors] == [6, 7]
    assert "unterminated" in (errors[0].error or "")
    assert "malformed line" in (errors[1].error or "")


# ------------------------------------------------------------------------------------ running
def test_scalars_enums_cells_both_forms() -> None:
    cfg = make_config()
    script = """
# confirmed forms (DGW facts §3.2)
SipEp.DefaultStaticProxyOutboundHost=proxy.example.com
cwmp.listeningport = 30005
Cwmp.Tr069AnnexFEnable= enable
SipEp.UserAgent.Username[EpId=Phone-Fax1] = "1001"
SipEp.UserAgent[Phone-Fax2].FriendlyName = "Line \\"two\\""
Cli.WelcomeMessage = "Hi \\\\ there # not a comment" # a comment
"""
    result = run_script(cfg, script)
    assert result.ok and result.committed and result.applied == 6, result.errors
    assert cfg.get("SipEp.DefaultStaticProxyOutboundHost") == "proxy.example.com"
    assert cfg.get("Cwmp.ListeningPort") == 30005
    assert cfg.get("Cwmp.Tr069AnnexFEnable") == "Enable"
    assert cfg.get("SipEp.UserAgent[Phone-Fax1].Username") == "1001"
    assert cfg.get("SipEp.UserAgent.FriendlyName[EpId=Phone-Fax2]") == 'Line "two"'
    assert cfg.get("Cli.WelcomeMessage") == "Hi \\ there # not a comment"
    assert [ln.number for ln in result.lines] == [3, 4, 5, 6, 7, 8]


def test_enum_by_number_and_empty_value() -> None:
    cfg = make_config()
    assert run_script(cfg, "Web.HttpMode = 100\nHoc.StaticTimeZone =\n").ok
    assert cfg.get("Web.HttpMode") == "Secure"
    assert cfg.get("Hoc.StaticTimeZone") == ""


def test_dynamic_table_cell_creates_row() -> None:
    cfg = make_config()
    script = (
        'Aaa.Users.Password[UserName="bob smith"] = "pw"\n'
        "Aaa.Users.AccessRights[UserName=\"bob smith\"] = observer\n"
        "Nlm.Events.Criteria[Index=7] = 2300.*\n"
    )
    result = run_script(cfg, script)
    assert result.ok, result.errors
    assert ("bob smith",) in cfg.indexes("Aaa.Users")
    assert cfg.get('Aaa.Users[bob smith].AccessRights') == "Observer"
    assert cfg.get("Aaa.Users[bob smith].LockProtectionEnable") == "Enable"  # column default
    assert (7,) in cfg.indexes("Nlm.Events")
    assert cfg.get("Nlm.Events[7].Action") == "SendViaSyslog"


def test_static_table_unknown_index_is_an_error() -> None:
    cfg = make_config()
    before = cfg.to_doc()
    result = run_script(cfg, "SipEp.UserAgent.Username[EpId=Phone-Fax9] = 1\n")
    assert not result.ok and not result.committed
    err = result.errors[0].error or ""
    assert "Phone-Fax9" in err and "cannot be added" in err and "Phone-Fax1" in err
    assert cfg.to_doc() == before


def test_row_delete_long_and_short_forms() -> None:
    cfg = make_config()
    assert run_script(cfg, "Nlm.Events.Delete[Index=1] = Delete\nNlm.Events.Delete[Index=2]\n").ok
    assert cfg.indexes("Nlm.Events") == []
    cfg = make_config()
    assert run_script(cfg, "Nlm.Events[1].Delete = NoOp\n").ok
    assert cfg.indexes("Nlm.Events") == [(1,), (2,)]


def test_commands_run_after_commit_in_script_order() -> None:
    cfg = make_config()
    ran: list[Any] = []
    seen_port: list[Any] = []

    def restart_required() -> None:
        ran.append("restart-required")
        seen_port.append(cfg.get("Cwmp.ListeningPort"))

    cfg.on_command("Scm.ServiceCommands.Restart", lambda idx: ran.append(("restart", idx[0])))
    cfg.on_command("Scm.ServiceCommands.Stop", lambda idx: ran.append(("stop", idx[0])))
    script = """Scm.ServiceCommands.Restart[Name=SipEp]
scm.restartrequiredservices
Cwmp.ListeningPort = 7547
Scm.ServiceCommands.Stop[Name=Cwmp] = Stop
Scm.ServiceCommands.Restart[Name=Nlm] = NoOp
"""
    result = run_script(cfg, script, commands={"Scm.RestartRequiredServices": restart_required})
    assert result.ok and result.applied == 5, result.errors
    assert ran == [("restart", "SipEp"), "restart-required", ("stop", "Cwmp")]
    assert seen_port == [7547]  # the command saw the whole script's configuration


def test_commands_do_not_run_when_a_line_is_bad() -> None:
    cfg = make_config()
    ran: list[Any] = []
    cfg.on_command("Scm.ServiceCommands.Restart", lambda idx: ran.append(idx))
    script = "Scm.ServiceCommands.Restart[Name=SipEp]\nScm.RestartRequiredServices\nCwmp.ListeningPort = x\n"
    result = run_script(cfg, script, commands={"Scm.RestartRequiredServices": lambda: ran.append("rrs")})
    assert not result.ok
    assert [e.number for e in result.errors] == [3]
    assert ran == []


def test_row_command_checked_against_final_configuration() -> None:
    cfg = make_config()
    cfg.on_command("Scm.ServiceCommands.Restart", lambda idx: None)
    # a row command on a row deleted further down the script is refused
    script = "Nlm.Events.Delete[Index=2]\nScm.ServiceCommands.Restart[Name=Nope]\n"
    result = run_script(cfg, script)
    assert [e.number for e in result.errors] == [2]
    assert cfg.indexes("Nlm.Events") == [(1,), (2,)]


def test_command_without_handler_is_reported_and_nothing_changes() -> None:
    cfg = make_config()
    before = cfg.to_doc()
    result = run_script(cfg, "Cwmp.ListeningPort = 1\nEpAdm.Endpoint.Lock[EpId=Phone-Fax1]\n")
    assert not result.ok
    assert [e.number for e in result.errors] == [2]
    assert "not available" in (result.errors[0].error or "")
    assert cfg.to_doc() == before


def test_failing_command_after_commit_is_reported_on_its_line() -> None:
    cfg = make_config()

    def boom() -> None:
        raise RuntimeError("engine down")

    result = run_script(cfg, "Cwmp.ListeningPort = 1\nScm.RestartRequiredServices\n",
                        commands={"Scm.RestartRequiredServices": boom})
    assert result.committed and not result.ok
    assert cfg.get("Cwmp.ListeningPort") == 1
    assert [e.number for e in result.errors] == [2]
    assert "engine down" in (result.errors[0].error or "")


BAD_SCRIPT = """# one good line among bad ones: nothing may change
Cwmp.ListeningPort = 30005
Cwmp.Tr069AnnexFEnable = maybe
Cli.InactivityTimeOut = 91
Foo.Bar = 1
Dcm.UnitInfoProductName = mine
Cwmp.AcsStaticUrl = "unterminated
foo bar baz
Scm.RestartRequiredServices
SipEp.UserAgent.Username[EpId=Phone-Fax9] = 1
Nlm.Events.Delete[Index=9]
Cwmp.ListeningPort
Scm.ServiceCommands.Restart[Name=SipEp]
Aaa.Users.Password[UserName=new] = ok
Hoc.StaticTimeZone = not a zone
SipEp.UserAgent.Nope[EpId=Phone-Fax1] = 1
"""

BAD_LINES = {
    3: ["one of Disable, Enable"],
    4: ["91", "1..90"],
    5: ["Foo.Bar", "unknown parameter"],
    6: ["read-only"],
    7: ["unterminated"],
    8: ["malformed line"],
    9: ["unknown command"],
    10: ["no row Phone-Fax9"],
    11: ["no row 9"],
    12: ["missing '= value'"],
    13: ["not available"],
    15: ["Hoc.StaticTimeZone"],
    16: ["no column Nope"],
}


def test_bad_lines_change_nothing_and_are_all_reported() -> None:
    cfg = make_config()
    events: list[ChangeEvent] = []
    cfg.subscribe(events.append)
    before = cfg.to_doc()
    result = run_script(cfg, BAD_SCRIPT)
    assert not result.ok and not result.committed and result.applied == 0
    assert {e.number for e in result.errors} == set(BAD_LINES)
    for e in result.errors:
        for word in BAD_LINES[e.number]:
            assert word in (e.error or ""), (e.number, e.error)
    good = {ln.number for ln in result.lines if ln.ok}
    assert good == {2, 14}
    assert cfg.to_doc() == before
    assert cfg.get("Cwmp.ListeningPort") == 0
    assert ("new",) not in cfg.indexes("Aaa.Users")
    assert events == []
    assert cfg.restart_required() == []


def test_bad_script_does_not_persist(tmp_path: Any) -> None:
    from firmware_model.store import JsonStore

    store = JsonStore(tmp_path / "config.json", fsync=False)
    cfg = Config(CAT, factory_for(CAT, get_profile("4102")), store)
    run_script(cfg, "Cwmp.ListeningPort = 2\nFoo.Bar = 1\n")
    assert store.writes == 0
    result = run_script(cfg, "Cwmp.ListeningPort = 2\nCwmp.Tr069AnnexFEnable = Enable\n")
    assert result.ok and store.writes == 1  # one batch, one write
    again = Config(CAT, factory_for(CAT, get_profile("4102")), JsonStore(tmp_path / "config.json"))
    assert again.get("Cwmp.ListeningPort") == 2


def test_secret_values_are_masked_in_results() -> None:
    cfg = make_config()
    result = run_script(cfg, 'Cwmp.Password = "hunter2"\nAaa.Users.Password[UserName=public] = s3cret # c\n')
    assert result.ok
    assert all("hunter2" not in ln.text and "s3cret" not in ln.text for ln in result.lines)
    assert result.lines[0].text == "Cwmp.Password = ***"
    assert cfg.get("Cwmp.Password") == "hunter2"


def test_limits() -> None:
    cfg = make_config()
    too_many = "# x\n" * (MAX_SCRIPT_LINES + 1)
    result = run_script(cfg, too_many)
    assert not result.ok and result.errors[0].number == 0 and "lines" in (result.errors[0].error or "")
    too_big = "Cli.WelcomeMessage = " + "x" * MAX_SCRIPT_BYTES + "\n"
    result = run_script(cfg, too_big)
    assert not result.ok and "bytes" in (result.errors[0].error or "")
    assert run_script(cfg, "# x\n" * MAX_SCRIPT_LINES).ok


def test_result_to_dict() -> None:
    result = ScriptResult(False, [LineResult(1, "a", True), LineResult(2, "b", False, "bad")], 0)
    doc = result.to_dict()
    assert doc["ok"] is False and doc["applied"] == 0 and doc["committed"] is False
    assert doc["errors"] == [{"number": 2, "text": "b", "ok": False, "error": "bad"}]
    assert len(doc["lines"]) == 2
    assert result.errors == [result.lines[1]]


def test_empty_script_is_ok() -> None:
    result = run_script(make_config(), "\n# nothing\n\n")
    assert result.ok and result.applied == 0 and result.lines == []


# ------------------------------------------------------------------------------------ export
def apply_changes(cfg: Config) -> None:
    """A varied set of changes through the Config API (not through scripts)."""
    prof_eps = [i[0] for i in cfg.indexes("SipEp.UserAgent")]
    cfg.set("Cwmp.ListeningPort", 30005)  # uint
    cfg.set("Cwmp.Tr069AnnexFEnable", "enable")  # enum
    cfg.set("Web.HttpMode", "Secure")
    cfg.set("Cli.InactivityTimeOut", 90)
    cfg.set("SipEp.DefaultStaticProxyOutboundHost", "proxy.example.com:5060")  # hostport
    cfg.set("Cli.WelcomeMessage", ' Hi "there" \\ # not = a comment, [x] \\n ')
    cfg.set("Cwmp.AcsStaticUrl", "http://acs.example.com/cwmp?a=b#frag")
    cfg.set("Cwmp.Password", 'p"w\\#=')
    cfg.set("Hoc.StaticTimeZone", "")  # default is not empty
    cfg.add_row("Aaa.Users", {"UserName": 'bob "the" admin', "Password": "a b#c", "AccessRights": "User"})
    cfg.delete_row("Nlm.Events", (1,))
    cfg.add_row("Nlm.Events", {"Criteria": "2300.*,1400.300", "Action": "LogLocally"})
    cfg.set(f"SipEp.UserAgent[{prof_eps[0]}].Username", "1001")
    cfg.set(f"SipEp.UserAgent.FriendlyName[EpId={prof_eps[-1]}]", "Line, two")


def snapshot(cfg: Config) -> dict[str, Any]:
    scalars = {p.name: cfg.get(p.name) for p in CAT.scalars() if p.writable}
    tables = {t.name: cfg.rows(t.name) for t in CAT.tables.values() if not t.status}
    return {"doc": cfg.to_doc(), "scalars": scalars, "tables": tables}


@pytest.mark.parametrize("content", ["ModifiedConfig", "AllConfig"])
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_export_factory_reset_import_round_trip(profile: str, content: str) -> None:
    cfg = make_config(profile)
    apply_changes(cfg)
    want = snapshot(cfg)
    text = export_script(cfg, content=content)
    cfg.factory_reset()
    assert snapshot(cfg) != want
    result = run_script(cfg, text)
    assert result.ok, result.errors[:5]
    got = snapshot(cfg)
    assert got["doc"] == want["doc"]
    assert got["scalars"] == want["scalars"]
    assert got["tables"] == want["tables"]
    # and the export of the restored unit is the same text
    assert export_script(cfg, content=content) == text


def test_modified_export_contents() -> None:
    cfg = make_config()
    assert export_script(cfg).splitlines() == ["# DGW configuration script: ModifiedConfig, services All"]
    apply_changes(cfg)
    lines = export_script(cfg).splitlines()
    assert "Cwmp.ListeningPort = 30005" in lines
    assert "Cwmp.Tr069AnnexFEnable = Enable" in lines
    assert 'Cwmp.Password = "p\\"w\\\\#="' in lines  # secrets are exported (backup)
    assert 'Hoc.StaticTimeZone = ""' in lines
    assert "SipEp.UserAgent.Username[EpId=Phone-Fax1] = 1001" in lines
    assert 'Aaa.Users.Password[UserName="bob \\"the\\" admin"] = "a b#c"' in lines
    assert "Nlm.Events.Delete[Index=1] = Delete" in lines
    added = 'Nlm.Events.Criteria[Index=3] = "2300.*,1400.300"'
    assert lines.index("Nlm.Events.Delete[Index=1] = Delete") < lines.index(added)
    assert "Nlm.Events.Action[Index=3] = LogLocally" in lines
    assert not any(ln.startswith("Nlm.Events.Activation") for ln in lines)  # default of a new row
    assert not any(".Delete[" in ln and "Nlm.Events" not in ln for ln in lines)
    # nothing read-only, no status value, no command other than deletions
    for ln in lines:
        if ln.startswith("#"):
            continue
        name = split_assignment(ln)
        assert name is not None
        addr = make_config().catalog.param(name[0].split("[")[0])
        assert addr is not None and addr.writable
    # services in catalog order
    order = [ln[5:] for ln in lines if ln.startswith("# -- ")]
    assert order == [s for s in CAT.services if s in order]


def test_all_config_has_every_writable_scalar() -> None:
    cfg = make_config()
    lines = export_script(cfg, content="allconfig").splitlines()
    names = {split_assignment(ln)[0] for ln in lines if not ln.startswith("#")}  # type: ignore[index]
    writable = {p.name for p in CAT.scalars() if p.writable and not p.is_command and p.default is not None}
    assert writable <= names
    assert not any(CAT.params[n].access == "read-only" for n in names if n in CAT.params)
    assert "Dcm.UnitInfoProductName" not in names
    # every row of a configuration table: both endpoints of the 4102
    assert any(ln.startswith("SipEp.UserAgent.Username[EpId=Phone-Fax2] = ") for ln in lines)
    # importing AllConfig of a factory unit into a factory unit changes nothing
    before = cfg.to_doc()
    assert run_script(cfg, "\n".join(lines)).ok
    assert cfg.to_doc() == before


def test_export_service_filter_and_header() -> None:
    cfg = make_config()
    apply_changes(cfg)
    text = export_script(cfg, service="cwmp, Nlm", header="Mediatrix 4102 49.12.2941\nsecond line")
    lines = text.splitlines()
    assert lines[:2] == ["# Mediatrix 4102 49.12.2941", "# second line"]
    body = [ln for ln in lines if not ln.startswith("#")]
    assert body and all(ln.startswith(("Cwmp.", "Nlm.")) for ln in body)
    assert [ln for ln in lines if ln.startswith("# -- ")] == ["# -- Nlm", "# -- Cwmp"]
    assert export_script(cfg) == export_script(cfg)  # deterministic
    with pytest.raises(ConfigError, match="Nope"):
        export_script(cfg, service="Cwmp,Nope")
    with pytest.raises(ConfigError, match="Everything"):
        export_script(cfg, content="Everything")


def test_round_trip_recreated_factory_row_keeps_order() -> None:
    """Factory row 1 deleted then re-added after row 2: the export recreates it in the same place."""
    cfg = make_config()
    cfg.delete_row("Nlm.Events", (1,))
    cfg.add_row("Nlm.Events", {"Criteria": "x"}, index=(1,))
    # the factory row "public" deleted, a new row added, then "public" re-added identical to the factory row
    cfg.delete_row("Aaa.Users", ("public",))
    cfg.add_row("Aaa.Users", {"UserName": "zed"})
    cfg.add_row("Aaa.Users", {"UserName": "public", "Password": "", "AccessRights": "Admin"})
    assert cfg.indexes("Aaa.Users") == [("zed",), ("public",)]
    cfg.delete_row("Bni.NetworkInterfaces", (1,))
    cfg.add_row("Bni.NetworkInterfaces", {"ConnectionType": "IpStatic"}, index=(1,))  # InterfaceName left empty
    want = snapshot(cfg)
    for content in ("ModifiedConfig", "AllConfig"):
        text = export_script(cfg, content=content)
        fresh = make_config()
        result = run_script(fresh, text)
        assert result.ok, result.errors
        assert snapshot(fresh) == want, content


def test_import_performance_all_config_4102() -> None:
    cfg = make_config("4102")
    apply_changes(cfg)
    text = export_script(cfg, content="AllConfig")
    target = make_config("4102")
    t0 = time.perf_counter()
    result = run_script(target, text)
    elapsed = time.perf_counter() - t0
    assert result.ok
    print(f"\nimport AllConfig 4102: {len(result.lines)} statements, {len(text)} bytes, {elapsed * 1000:.1f} ms")
    t0 = time.perf_counter()
    export_script(cfg, content="AllConfig")
    print(f"export AllConfig 4102: {(time.perf_counter() - t0) * 1000:.1f} ms")


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
@example('a\\"b')
@example("x, y=z] [w")
@example(" lead and trail ")
def test_exported_index_values_read_back(user: str) -> None:
    """Any user name (quotes, backslashes, commas, '=', ']') survives export -> import as a row index."""
    cfg = make_config()
    cfg.add_row("Aaa.Users", {"UserName": user, "Password": "x"})
    text = export_script(cfg, service="Aaa")
    fresh = make_config()
    result = run_script(fresh, text)
    assert result.ok, result.errors
    assert (user,) in fresh.indexes("Aaa.Users")
