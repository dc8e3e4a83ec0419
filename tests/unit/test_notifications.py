"""Notification catalog, message rendering and the Nlm.SyslogMessageFormat macros."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_model.notifications import (
    NOTIFICATIONS,
    SEVERITIES,
    NotificationEvent,
    compile_format,
    format_line,
    get_notification,
    render_message,
    template_fields,
)
from firmware_model.schema import load_catalog

DEFAULT_FORMAT = "%servicetextkey: %serviceid-%servicename: %msgid-%message"
MACROS = {
    "mac": "0090f8a1b2c3",
    "serial": "41020001234",
    "version": "49.12.2941",
    "product": "Mediatrix 4102",
    "productseries": "4100",
    "profile": "4102",
    "mfpname": "DGW 49.12.2941",
}


def event(service: str, msg_id: int, **fields: object) -> NotificationEvent:
    """An event built the way the Nlm engine builds it (catalog numkey and display name)."""
    defn = get_notification(service, msg_id)
    svc = load_catalog().services[defn.service]
    return NotificationEvent(
        service=svc.name, numkey=svc.numkey, service_name=svc.display, msg_id=msg_id,
        severity=defn.severity, message=render_message(defn, fields), time=0.0, fields=dict(fields),
    )


def tls_ready() -> NotificationEvent:
    return event("SipEp", 303, host="10.5.128.14", port=5063, gateway="default")


# ------------------------------------------------------------------ hardware lines, exactly
def test_default_format_gives_the_hardware_tls_line() -> None:
    assert format_line(DEFAULT_FORMAT, tls_ready(), MACROS) == (
        "SipEp: 1400-SIP Endpoint: 303-TLS connection with remote host 10.5.128.14:5063 "
        "is now ready to be used for SIP gateway default."
    )


def test_default_format_gives_the_hardware_reachable_line() -> None:
    ev = event("SipEp", 310, host="10.5.128.14", port=5063, gateway="default")
    assert format_line(DEFAULT_FORMAT, ev, MACROS) == (
        "SipEp: 1400-SIP Endpoint: 310-Server 10.5.128.14:5063 is now reachable for SIP gateway default."
    )


def test_default_format_gives_the_hardware_srtp_line() -> None:
    ev = event("Mipt", 110, call="1234", endpoint="Phone-Fax1")
    assert format_line(DEFAULT_FORMAT, ev, MACROS) == (
        "Mipt: 1600-Media IP Transport: 110-The call 1234 on endpoint Phone-Fax1 detected an SRTP "
        "cryptographic error. The secured RTP stream is not properly decoded."
    )


def test_isdn_and_wrong_key_management_texts() -> None:
    assert render_message(get_notification("Isdn", 5), {}) == "Physical link state changed to up"
    assert get_notification("Isdn", 5).addition is False
    wrong = get_notification("Mipt", 9001)
    text = "SdpTools [D3A2] Received the wrong key management protocol. Secure stream disabled."
    assert render_message(wrong, {}) == text


# ------------------------------------------------------------------ macros
@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%10.5message", "     TLS c"),
        ("%-10.5message|", "TLS c     |"),
        ("%.3servicename", "SIP"),
        ("%6msgid", "   303"),
        ("%-6msgid|", "303   |"),
        ("%2serviceid", "1400"),  # width is a minimum, never cuts
        ("%.0message|", "|"),
        ("100%% %msgid", "100% 303"),
        ("%%message", "%message"),
        ("%%%msgid", "%303"),
        ("%messages", "TLS connection with remote host 10.5.128.14:5063 is now ready to be used "
                      "for SIP gateway default.s"),
        ("%servicetextkeyX", "SipEpX"),
        ("%foo %", "%foo %"),  # unknown macro and a trailing percent stay as written
        ("%Message", "%Message"),  # macro names are lower case
        ("%mac %serial %version %profile %mfpname", "0090f8a1b2c3 41020001234 49.12.2941 4102 DGW 49.12.2941"),
        ("%product/%productseries", "Mediatrix 4102/4100"),
        ("1 - %mac DGW-2.0 %servicetextkey %msgid %.3message",
         "1 - 0090f8a1b2c3 DGW-2.0 SipEp 303 TLS"),
    ],
)
def test_macros_width_and_precision(fmt: str, expected: str) -> None:
    assert format_line(fmt, tls_ready(), MACROS) == expected


def test_a_unit_macro_missing_from_the_mapping_renders_empty() -> None:
    assert format_line("[%serial]", tls_ready(), {}) == "[]"


def test_compile_format_segments() -> None:
    segs = compile_format("a%-10.5message%%b")
    assert segs[0] == "a" and segs[2] == "%b"
    macro = segs[1]
    assert not isinstance(macro, str)
    assert (macro.name, macro.width, macro.precision, macro.left) == ("message", 10, 5, True)


@given(st.text(alphabet=st.characters(blacklist_characters="%"), max_size=60))
def test_text_without_percent_is_copied(text: str) -> None:
    assert format_line(text, tls_ready(), MACROS) == text


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=200))
def test_width_and_precision_follow_printf(width: int, precision: int) -> None:
    ev = tls_ready()
    # the reference is C printf's %s, i.e. Python's %-formatting
    assert format_line(f"%{width}.{precision}message", ev, MACROS) == "%*.*s" % (width, precision, ev.message)  # noqa: UP031
    assert format_line(f"%-{width}message", ev, MACROS) == "%-*s" % (width, ev.message)  # noqa: UP031


# ------------------------------------------------------------------ catalog
def test_missing_field_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="gateway"):
        render_message(get_notification("SipEp", 303), {"host": "h", "port": 1})


def test_unknown_notification_raises_key_error() -> None:
    with pytest.raises(KeyError, match="SipEp 9999"):
        get_notification("SipEp", 9999)
    assert get_notification("sipep", 303) is NOTIFICATIONS[("SipEp", 303)]


def test_template_fields_in_order() -> None:
    assert template_fields(get_notification("SipEp", 303)) == ("host", "port", "gateway")


def test_catalog_is_consistent_with_the_parameter_catalog() -> None:
    catalog = load_catalog()
    hardware = {k for k, d in NOTIFICATIONS.items() if not d.addition}
    assert hardware == {("SipEp", 303), ("SipEp", 310), ("Mipt", 110), ("Isdn", 5)}
    for (service, msg_id), d in NOTIFICATIONS.items():
        assert service in catalog.services, service
        assert d.severity in SEVERITIES
        if d.addition:
            assert 9000 <= msg_id <= 9999, (service, msg_id)
        assert not {"service", "msg_id"} & set(template_fields(d)), "would clash with notify()'s arguments"
        filled = render_message(d, {name: f"<{name}>" for name in template_fields(d)})
        assert "{" not in filled and "}" not in filled


def test_required_additions_exist() -> None:
    wanted = {
        "Scm": 3, "Conf": 3, "Aaa": 2, "Cli": 2, "Nlm": 1, "Snmp": 1, "Hoc": 3, "Cert": 6, "SipEp": 2, "Mipt": 1,
    }
    for service, n in wanted.items():
        count = sum(1 for (s, _), d in NOTIFICATIONS.items() if s == service and d.addition)
        assert count >= n, service
    cert_texts = " ".join(d.template for (s, _), d in NOTIFICATIONS.items() if s == "Cert")
    for word in ("expired", "not valid yet", "issuer", "revoked", "time", "does not name"):
        assert word in cert_texts
