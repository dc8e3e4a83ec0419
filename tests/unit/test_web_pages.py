"""The page definitions are data: every field must bind to a real parameter with the hardware's label."""

from __future__ import annotations

import pytest

from firmware_model.schema import load_catalog
from web_ui.pages import CODEC_COLUMNS, CODECS, MENU, PAGES, Choices, page_by_path

CAT = load_catalog()


def _bound() -> list[tuple[str, str, str]]:
    """(page, label, parameter) of every field."""
    out = []
    for page in PAGES:
        for sec in page.sections:
            for f in sec.fields:
                if sec.kind in ("grid", "endpoint") and "." not in f.param:
                    assert sec.table is not None
                    name = f"{sec.table}.{f.param}"
                else:
                    name = f.param
                out.append((page.title, f.label or "", name))
                if f.default:
                    out.append((page.title, f.label or "", f.default))
    return out


@pytest.mark.parametrize(("page", "label", "name"), _bound())
def test_every_field_binds_to_a_catalog_parameter(page: str, label: str, name: str) -> None:
    p = CAT.param(name)
    assert p is not None, f"{page}: {label!r} -> {name} is not in the catalog"


def test_choices_cover_exactly_the_enum_labels() -> None:
    for page in PAGES:
        for sec in page.sections:
            for f in sec.fields:
                if f.choices is None:
                    continue
                name = f.param if "." in f.param else f"{sec.table}.{f.param}"
                p = CAT.param(name)
                assert p is not None and p.type.is_enum
                assert sorted(v for v, _ in f.choices.pairs) == sorted(p.type.labels()), name
                if f.default:
                    d = CAT.param(f.default)
                    assert d is not None and sorted(d.type.labels()) == sorted(p.type.labels())


def test_display_labels_round_trip() -> None:
    c = Choices((("SecureWithFallback", "Secure with fallback"), ("Sdes", "SDES")))
    assert c.shown("SecureWithFallback") == "Secure with fallback" and c.value("Secure with fallback") == (
        "SecureWithFallback")
    assert c.value("nonsense") == "nonsense"  # passed on for the configuration to refuse


def test_menu_and_page_names_are_the_hardware_ones() -> None:
    titles = {p.title for p in PAGES}
    for t in ("System/Services", "System/Event Log", "Network/Host", "SIP/Gateways", "SIP/Servers",
              "SIP/Registrations", "SIP/Authentications", "SIP/Transport", "SIP/Interop", "Media/Security",
              "Media/Codecs", "Management/Certificates", "Management/Configuration Scripts",
              "Management/Access Control", "Management/SNMP", "Reboot"):
        assert t in titles, t
    assert [m for m, _ in MENU] == ["System", "Network", "POTS", "SIP", "Media", "Telephony", "Call Router",
                                    "Management"]
    for t in ("Telephony/DTMF Maps", "Call Router/Status", "Call Router/Auto-routing"):  # documented page names
        assert t in titles, t
    assert page_by_path("/Management/Configuration_Scripts") is not None
    servers = page_by_path("/SIP/Servers")
    assert servers is not None
    labels = {f.label for s in servers.sections for f in s.fields}
    assert {"Gateway Specific", "Registrar Host", "Proxy Host"} <= labels
    assert {s.title for s in servers.sections} >= {"Registrar Servers", "Proxy Servers"}
    transport = page_by_path("/SIP/Transport")
    assert transport is not None
    labels = {f.label for s in transport.sections for f in s.fields}
    assert {"TLS", "Add SIP Transport in Registration", "Add SIP Transport in Contact Header"} <= labels


def test_codec_matrix_has_real_parameters() -> None:
    found = sum(1 for key, _ in CODECS for col, _ in CODEC_COLUMNS if CAT.param(f"Mipt.DefaultCodec{key}{col}"))
    assert found >= 40
