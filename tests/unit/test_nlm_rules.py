"""Nlm.Events criteria and routing, MinSeverity, local log, syslog framing, and the engine without
network (no remote host configured, or one the unit cannot reach without sending anything)."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.nlm_rules import (
    Criteria,
    CriteriaError,
    LocalLog,
    compile_rules,
    file_logging_supported,
    log_file_names,
    parse_criteria,
    parse_remote_host,
    passes_min_severity,
    rfc3164_timestamp,
    route,
    syslog_packet,
)
from firmware_model.notifications import NotificationEvent
from firmware_model.profiles import get_profile
from firmware_model.schema import load_catalog

SERVICES = {s.numkey for s in load_catalog().services.values()}
VENDOR_EXAMPLE = "1850.All,1600.200,1600.W,-1850.500,1600.300"


def ev(numkey: int, msg_id: int, severity: str = "Warning", service: str = "X") -> NotificationEvent:
    return NotificationEvent(service, numkey, service, msg_id, severity, "m", 0.0)


# ------------------------------------------------------------------ criteria
@pytest.mark.parametrize(
    ("numkey", "msg_id", "severity", "expected"),
    [
        (1850, 5, "Info", True),  # 1850.All
        (1850, 1, "Debug", True),
        (1850, 500, "Warning", False),  # -1850.500 (a notification id, exclusions win)
        (1600, 200, "Debug", True),  # 1600.200: notification 200, whatever its severity
        (1600, 300, "Error", True),  # 1600.300: notification 300
        (1600, 110, "Warning", True),  # 1600.W
        (1600, 110, "Error", False),  # W is exactly Warning
        (1600, 110, "Info", False),  # 200 is not "Info"
        (1400, 303, "Warning", False),  # another service
    ],
)
def test_vendor_example(numkey: int, msg_id: int, severity: str, expected: bool) -> None:
    assert parse_criteria(VENDOR_EXAMPLE, SERVICES).matches(numkey, msg_id, severity) is expected


def test_all_keyword_and_all_terms() -> None:
    for text in ("All", "all", "All.All", " All "):
        c = parse_criteria(text, SERVICES)
        assert c.matches(1400, 303, "Warning") and c.matches(40000, 1, "Debug")
    assert parse_criteria("All.E", SERVICES).matches(700, 1, "Error")
    assert not parse_criteria("All.E", SERVICES).matches(700, 1, "Critical")
    assert parse_criteria("1400.All", SERVICES).matches(1400, 1, "Debug")
    assert not parse_criteria("1400.All", SERVICES).matches(1600, 1, "Debug")


@pytest.mark.parametrize(("letter", "severity"), [("C", "Critical"), ("E", "Error"), ("W", "Warning"),
                                                  ("I", "Info"), ("D", "Debug"), ("w", "Warning")])
def test_severity_letters(letter: str, severity: str) -> None:
    c = parse_criteria(f"1400.{letter}", SERVICES)
    assert c.matches(1400, 1, severity)
    assert [s for s in ("Critical", "Error", "Warning", "Info", "Debug") if c.matches(1400, 1, s)] == [severity]


def test_exclusions_win_and_alone_match_nothing() -> None:
    c = parse_criteria("All,-1400.All,-1600.D", SERVICES)
    assert not c.matches(1400, 303, "Warning")
    assert not c.matches(1600, 110, "Debug")
    assert c.matches(1600, 110, "Error") and c.matches(700, 9001, "Info")
    assert not parse_criteria("-1400.All", SERVICES).matches(1600, 1, "Warning")
    assert not parse_criteria("1400.303,-1400.303", SERVICES).matches(1400, 303, "Warning")


def test_empty_criteria_never_match() -> None:
    for text in ("", "   "):
        c = parse_criteria(text, SERVICES)
        assert c == Criteria()
        assert not c.matches(1400, 303, "Critical")


@pytest.mark.parametrize(
    "text",
    ["1400 .All", "1400. All", "1400", "1400.X", "1400.All,", ",1400.All", "abc.All", "9999.All",
     "1400.W.E", "1400.-5", "--1400.All", "1400.All 1600.All", "All.All.All", "1400;1600"],
)
def test_invalid_criteria(text: str) -> None:
    with pytest.raises(CriteriaError):
        parse_criteria(text, SERVICES)


def test_unknown_service_accepted_without_a_service_list() -> None:
    assert parse_criteria("9999.All").matches(9999, 1, "Warning")


# ------------------------------------------------------------------ rules
def test_compile_rules_statuses_and_route() -> None:
    rows = [
        {"Index": 3, "Activation": "Enable", "Criteria": "1400.All", "Action": "SendViaSip"},
        {"Index": 1, "Activation": "Enable", "Criteria": "All", "Action": "SendViaSyslog"},
        {"Index": 2, "Activation": "Enable", "Criteria": "1400.Q", "Action": "LogLocally"},
        {"Index": 4, "Activation": "Disable", "Criteria": "All", "Action": "LogLocally"},
        {"Index": 5, "Activation": "Enable", "Criteria": "1400.All", "Action": "SendViaSyslog"},
        {"Index": 6, "Activation": "Enable", "Criteria": "1400.bad", "Action": "SendViaSip"},
        {"Index": 7, "Activation": "Enable", "Criteria": "1400.303", "Action": "LogToFile"},
    ]
    rules = compile_rules(rows, SERVICES)
    assert [(r.index, r.status) for r in rules] == [
        (1, "Valid"), (2, "Invalid"), (3, "NotSupported"), (4, "Valid"), (5, "Valid"), (6, "Invalid"), (7, "Valid"),
    ]
    assert "1400.Q" in rules[1].reason
    assert route(rules, ev(1400, 303)) == ["SendViaSyslog", "LogToFile"]  # once per action
    assert route(rules, ev(1600, 110)) == ["SendViaSyslog"]
    no_files = compile_rules(rows, SERVICES, supported={"SendViaSyslog", "LogLocally"})
    assert no_files[-1].status == "NotSupported"
    assert route(no_files, ev(1400, 303)) == ["SendViaSyslog"]


def test_file_logging_support_by_model() -> None:
    assert file_logging_supported("4100", "Mediatrix 4102")
    assert not file_logging_supported("C7", "Mediatrix C740")
    assert not file_logging_supported("4100", "Mediatrix 4102S")


@pytest.mark.parametrize(
    ("minimum", "allowed"),
    [
        ("Disable", []),
        ("Debug", ["Debug", "Info", "Warning", "Error", "Critical"]),
        ("Info", ["Info", "Warning", "Error", "Critical"]),
        ("Warning", ["Warning", "Error", "Critical"]),
        ("Error", ["Error", "Critical"]),
        ("Critical", ["Critical"]),
    ],
)
def test_min_severity(minimum: str, allowed: list[str]) -> None:
    sevs = ["Debug", "Info", "Warning", "Error", "Critical"]
    assert [s for s in sevs if passes_min_severity(minimum, s)] == allowed


# ------------------------------------------------------------------ local log
def test_local_log_is_bounded_and_counts() -> None:
    log = LocalLog(max_entries=5)
    for i in range(8):
        log.add(ev(1400, i, "Error" if i % 2 else "Info", "SipEp"), f"2024-01-01 00:00:0{i}")
    rows = log.rows()
    assert len(log) == 5 and [r["Index"] for r in rows] == [4, 5, 6, 7, 8]
    assert rows[0] == {
        "Index": 4, "LocalTime": "2024-01-01 00:00:03", "ServiceNumkey": 1400, "NotificationId": 3,
        "Severity": "Error", "ServiceTextkey": "SipEp", "Message": "m",
    }
    assert rows[1]["Severity"] == "Information"
    assert log.count("Error") == 3 and log.count("Critical") == 0
    log.add(ev(1400, 99, "Critical"), "t")
    assert log.count("Critical") == 1 and log.rows()[-1]["Index"] == 9


# ------------------------------------------------------------------ syslog framing
def test_remote_host_parsing() -> None:
    assert parse_remote_host("") is None and parse_remote_host("  ") is None
    assert parse_remote_host("192.168.10.10") == ("192.168.10.10", 514)
    assert parse_remote_host("syslog.example:0") == ("syslog.example", 514)
    assert parse_remote_host("127.0.0.1:1514") == ("127.0.0.1", 1514)
    assert parse_remote_host("[::1]:5140") == ("::1", 5140)


def test_rfc3164_framing() -> None:
    assert rfc3164_timestamp("2024-03-05 07:08:09") == "Mar  5 07:08:09"
    assert rfc3164_timestamp("2024-12-25 23:59:59") == "Dec 25 23:59:59"
    pkt = syslog_packet("Warning", "2024-03-05 07:08:09", "gw 1", "SipEp: 1400-x\nmore")
    assert pkt == b"<132>Mar  5 07:08:09 gw-1 SipEp: 1400-x more"
    assert syslog_packet("Critical", "2024-03-05 07:08:09", "h", "m").startswith(b"<130>")
    assert syslog_packet("Debug", "2024-03-05 07:08:09", "h", "m").startswith(b"<135>")
    assert syslog_packet("Info", "2024-03-05 07:08:09", "h", "m").startswith(b"<134>")
    long = syslog_packet("Error", "2024-03-05 07:08:09", "h", "é" * 2000)
    assert long.startswith(b"<131>") and len(long) <= 1024
    long.decode()  # never cut inside a character


def test_log_file_names() -> None:
    assert log_file_names("Notifications", 3) == ["Notifications.log", "Notifications.1.log", "Notifications.2.log"]
    assert log_file_names("../../etc/x", 1) == ["x.log"]
    assert log_file_names("", 0) == ["Notifications.log"]


# ------------------------------------------------------------------ engine (no network)
async def make_unit(tmp_path: Path, profile: str = "4102", start: bool = True) -> tuple[Unit, NlmEngine]:
    unit = Unit(name="u1", profile=get_profile(profile), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    if start:
        await unit.start()
    return unit, nlm


TLS = {"host": "10.5.128.14", "port": 5063, "gateway": "default"}


async def test_min_severity_filters_before_everything(tmp_path: Path) -> None:
    unit, _nlm = await make_unit(tmp_path)
    unit.config.set("SipEp.MinSeverity", "Error")
    assert unit.notify("SipEp", 303, **TLS) is None
    assert unit.config.rows("Nlm.LocalLogMessages") == [] and unit.notifications == []
    unit.config.set("SipEp.MinSeverity", "Warning")
    got = unit.notify("SipEp", 303, **TLS)
    assert got is not None and got.numkey == 1400 and got.service_name == "SIP Endpoint"
    unit.config.set("Mipt.MinSeverity", "Disable")
    assert unit.notify("Mipt", 110, call="1", endpoint="Phone-Fax1") is None  # Error, but Disable
    assert unit.notify("Scm", 9001, name="SipEp") is None  # Info < factory Warning
    assert [e.msg_id for e in unit.notifications] == [303]
    await unit.stop()


async def test_local_log_status_table_and_counters(tmp_path: Path) -> None:
    unit, _ = await make_unit(tmp_path)
    with capture_logs() as logs:
        unit.notify("Mipt", 110, call="42", endpoint="Phone-Fax2")
        unit.notify("SipEp", 303, **TLS)
    rows = unit.config.rows("Nlm.LocalLogMessages")
    assert [(r["ServiceNumkey"], r["NotificationId"], r["Severity"], r["ServiceTextkey"]) for r in rows] == [
        (1600, 110, "Error", "Mipt"), (1400, 303, "Warning", "SipEp"),
    ]
    assert rows[0]["Message"].startswith("The call 42 on endpoint Phone-Fax2 detected")
    assert rows[0]["LocalTime"] == unit.local_time(unit.notifications[0].time)
    assert unit.config.get("Nlm.LocalLogMaxNbEntries") == 200
    assert unit.config.get("Nlm.LocalLogNbErrorEntries") == 1
    assert unit.config.get("Nlm.LocalLogNbCriticalEntries") == 0
    notes = [e for e in logs if e["event"] == "notification"]
    assert [(e["service"], e["msg_id"], e["severity"]) for e in notes] == [("Mipt", 110, "Error"),
                                                                         ("SipEp", 303, "Warning")]
    assert notes[1]["message"] == unit.notifications[1].message
    await unit.stop()


async def test_local_log_is_bounded_in_the_engine(tmp_path: Path) -> None:
    unit, _nlm = await make_unit(tmp_path)
    for i in range(205):
        unit.notify("Mipt", 110, call=str(i), endpoint="Phone-Fax1")
    rows = unit.config.rows("Nlm.LocalLogMessages")
    assert len(rows) == 200 and rows[0]["Index"] == 6 and "call 5 " in rows[0]["Message"]
    assert unit.config.get("Nlm.LocalLogNbErrorEntries") == 200
    await unit.stop()


async def test_config_status_follows_the_rows(tmp_path: Path) -> None:
    unit, _ = await make_unit(tmp_path)
    c = unit.config
    assert [r["ConfigStatus"] for r in c.rows("Nlm.Events")] == ["Valid", "Valid"]
    c.set("Nlm.Events[2].Criteria", "1400 .All")
    assert c.get("Nlm.Events[2].ConfigStatus") == "Invalid"
    unit.notify("SipEp", 303, **TLS)
    assert c.rows("Nlm.LocalLogMessages") == []  # the invalid rule is ignored
    idx = c.add_row("Nlm.Events", {"Criteria": "All", "Action": "SendViaSip"})
    assert c.get(f"Nlm.Events[{idx[0]}].ConfigStatus") == "NotSupported"
    c.set("Nlm.Events[2].Criteria", "All,-1400.All")
    assert c.get("Nlm.Events[2].ConfigStatus") == "Valid"
    unit.notify("SipEp", 303, **TLS)
    unit.notify("Mipt", 110, call="1", endpoint="Phone-Fax1")
    assert [r["ServiceTextkey"] for r in c.rows("Nlm.LocalLogMessages")] == ["Mipt"]  # service excluded
    c.set("Nlm.Events[2].Activation", "Disable")
    unit.notify("Mipt", 110, call="2", endpoint="Phone-Fax1")
    assert len(c.rows("Nlm.LocalLogMessages")) == 1
    c.factory_reset()
    assert [r["ConfigStatus"] for r in c.rows("Nlm.Events")] == ["Valid", "Valid"]
    await unit.stop()


async def test_config_status_of_a_stored_invalid_row_at_boot(tmp_path: Path) -> None:
    unit, _ = await make_unit(tmp_path, start=False)
    unit.config.set("Nlm.Events[1].Criteria", "nonsense")
    unit2, _ = await make_unit(tmp_path, start=False)  # same state dir: the configuration is reloaded
    assert unit2.config.get("Nlm.Events[1].ConfigStatus") == "Invalid"


async def test_nothing_delivered_while_nlm_is_stopped(tmp_path: Path) -> None:
    unit, _nlm = await make_unit(tmp_path)
    await unit.stop_service("Nlm")
    got = unit.notify("SipEp", 303, **TLS)
    assert got is not None and unit.notifications[-1] == got  # the emulator's own outputs still see it
    # Scm's "service stopped" (raised while Nlm stops) and the 303 are not delivered locally.
    assert unit.config.rows("Nlm.LocalLogMessages") == []
    await unit.start_service("Nlm")
    assert unit.config.rows("Nlm.LocalLogMessages") == []  # not delivered later either
    unit.notify("SipEp", 303, **TLS)
    assert len(unit.config.rows("Nlm.LocalLogMessages")) == 1
    await unit.stop()


async def test_boot_notifications_wait_for_the_first_start(tmp_path: Path) -> None:
    unit, _nlm = await make_unit(tmp_path, start=False)
    unit.notify("SipEp", 310, **TLS)
    assert unit.config.rows("Nlm.LocalLogMessages") == []
    await unit.start()
    assert [r["NotificationId"] for r in unit.config.rows("Nlm.LocalLogMessages")] == [310]
    await unit.stop()


async def test_programming_errors_raise(tmp_path: Path) -> None:
    unit, _ = await make_unit(tmp_path)
    with pytest.raises(KeyError):
        unit.notify("SipEp", 12345)
    with pytest.raises(KeyError, match="gateway"):
        unit.notify("SipEp", 303, host="h", port=1)
    await unit.stop()


async def test_unreachable_syslog_destination_fails_quietly(tmp_path: Path) -> None:
    unit, nlm = await make_unit(tmp_path)
    unit.config.set("Nlm.SyslogRemoteHost", "[::1]:5514")  # IPv6 while the unit is on 127.0.0.1
    with capture_logs() as logs:
        for _ in range(3):
            unit.notify("SipEp", 303, **TLS)
    warnings = [e for e in logs if e["event"] == "syslog_unreachable"]
    assert len(warnings) == 1 and warnings[0]["destination"] == "[::1]:5514"
    assert nlm.stats["syslog_errors"] == 4 and nlm.stats["syslog_sent"] == 0  # 3 + the Nlm notification
    nlm_notes = [e for e in unit.notifications if e.service == "Nlm"]
    assert len(nlm_notes) == 1 and nlm_notes[0].msg_id == 9001 and "[::1]:5514" in nlm_notes[0].message
    unit.config.set("Nlm.SyslogRemoteHost", "")  # no remote syslog: nothing counted
    unit.notify("SipEp", 303, **TLS)
    assert nlm.stats["syslog_errors"] == 4
    unit.config.set("Nlm.SyslogRemoteHost", "[::1]:5515")  # a new destination is reported again
    unit.notify("SipEp", 303, **TLS)
    assert len([e for e in unit.notifications if e.service == "Nlm"]) == 2
    await unit.stop()


async def test_log_to_file_with_rotation(tmp_path: Path) -> None:
    unit, _nlm = await make_unit(tmp_path)
    c = unit.config
    c.set("Nlm.Events[2].Action", "LogToFile")
    assert c.get("Nlm.Events[2].ConfigStatus") == "Valid"
    c.set("Nlm.LogFileBaseName", "Events")
    c.set("Nlm.LogFileMaxSize", 1)
    c.set("Nlm.LogFileMaxNb", 3)
    for i in range(30):  # ~150 bytes each: several rotations of a 1 KB file
        unit.notify("Mipt", 110, call=str(i), endpoint="Phone-Fax1")
    logs = tmp_path / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["Events.1.log", "Events.2.log", "Events.log"]
    for p in logs.iterdir():
        assert p.stat().st_size <= 1024
    last = (logs / "Events.log").read_text().splitlines()[-1]
    assert last.endswith("Mipt: 1600-Media IP Transport: 110-The call 29 on endpoint Phone-Fax1 detected an "
                         "SRTP cryptographic error. The secured RTP stream is not properly decoded.")
    assert last.startswith(unit.local_time(unit.notifications[-1].time))
    older = (logs / "Events.1.log").read_text()
    assert "call 28 " in older or "call 28 " in (logs / "Events.log").read_text()
    c.set("Nlm.LogFileMaxNb", 1)
    for i in range(10):
        unit.notify("Mipt", 110, call=str(100 + i), endpoint="Phone-Fax1")
    assert sorted(p.name for p in logs.iterdir()) == ["Events.log"]
    assert c.rows("Nlm.LocalLogMessages") == []  # row 2 no longer logs locally
    await unit.stop()


async def test_log_to_file_not_supported_on_c7(tmp_path: Path) -> None:
    unit, _ = await make_unit(tmp_path, profile="C740")
    unit.config.set("Nlm.Events[2].Action", "LogToFile")
    assert unit.config.get("Nlm.Events[2].ConfigStatus") == "NotSupported"
    unit.notify("Isdn", 5)
    assert not (tmp_path / "logs").exists()
    await unit.stop()
