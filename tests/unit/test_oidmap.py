"""firmware_model.oidmap: vendor OIDs of scalars and cells, index encoding, GETNEXT order, SNMP values."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_model.config import Address, Config
from firmware_model.oidmap import (
    INTEGER,
    OCTETS,
    UNSIGNED,
    OidTree,
    SnmpValueError,
    decode_index,
    encode_index,
    format_oid,
    from_snmp,
    parse_oid,
    syntax_of,
    to_snmp,
)
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog

CAT = load_catalog()
SVC = "1.3.6.1.4.1.4935.1000.100.200.100"


def make_tree(profile: str = "4102") -> tuple[Config, OidTree]:
    config = Config(CAT, factory_for(CAT, get_profile(profile)))
    return config, OidTree(config)


def test_scalars_take_dot_zero_at_the_vendor_oid() -> None:
    # Field-verified OIDs (SNMP SET provisioning of DGW units): Conf.ScriptsTransferProtocol, Fpu.MfpUrl.
    _, tree = make_tree()
    addr = tree.lookup(parse_oid(f"{SVC}.800.1.100.400.100.0"))
    assert addr is not None and addr.param.name == "Conf.ScriptsTransferProtocol" and addr.index is None
    assert tree.lookup(parse_oid(f"{SVC}.1300.1.450.0")) == Address(CAT.params["Fpu.MfpUrl"])
    assert tree.lookup(parse_oid(f"{SVC}.1300.1.450")) is None  # without the instance
    assert tree.lookup(parse_oid(f"{SVC}.1300.1.450.1")) is None
    assert format_oid(tree.oid_of(Address(CAT.params["Snmp.Port"]))) == f"{SVC}.900.1.400.0"


def test_string_index_is_length_prefixed_bytes_integer_index_one_subid() -> None:
    users = CAT.tables["Aaa.Users"]
    assert encode_index(users, ("public",)) == (6, 112, 117, 98, 108, 105, 99)
    assert decode_index(users, (6, 112, 117, 98, 108, 105, 99)) == ("public",)
    hosts = CAT.tables["Hoc.StaticSntpServers"]
    assert encode_index(hosts, (3,)) == (3,)
    assert decode_index(hosts, (3,)) == (3,)
    # Malformed suffixes name nothing.
    assert decode_index(users, (6, 112, 117)) is None
    assert decode_index(users, (1, 300)) is None
    assert decode_index(hosts, (3, 1)) is None
    assert decode_index(hosts, ()) is None


@given(st.text(max_size=40))
def test_string_index_round_trip(text: str) -> None:
    users = CAT.tables["Aaa.Users"]
    sub = encode_index(users, (text,))
    assert sub[0] == len(text.encode("utf-8")) and all(0 <= b <= 255 for b in sub[1:])
    assert decode_index(users, sub) == (text,)


def test_multi_column_index_is_concatenated() -> None:
    table = next(t for t in CAT.tables.values() if len(t.index) == 2)
    kinds = [table.columns[c].type.kind for c in table.index]
    sample = tuple("ab" if k == "string" else 7 for k in kinds)
    sub = encode_index(table, sample)
    assert decode_index(table, sub) == sample
    assert len(sub) == sum(3 if k == "string" else 1 for k in kinds)


def test_enum_index_is_the_label_number() -> None:
    table = CAT.tables["TelIf.CountryCustomizationTone"]
    col = table.columns[table.index[0]]
    assert encode_index(table, ("Dial",)) == (col.type.number_of("Dial"),)
    assert decode_index(table, (400,)) == ("Dial",)
    assert decode_index(table, (401,)) is None


def test_cell_lookup_and_reverse() -> None:
    config, tree = make_tree()
    addr = config.resolve("Aaa.Users[public].AccessRights")
    oid = tree.oid_of(addr)
    assert format_oid(oid) == f"{SVC}.1000.1.100.1.250.6.112.117.98.108.105.99"
    assert tree.lookup(oid) == addr
    assert tree.row_exists(addr)
    ghost = tree.lookup((*oid[:-1], 100))
    assert ghost is not None and not tree.row_exists(ghost)


def test_next_is_lexicographic_and_covers_exactly_the_catalog() -> None:
    config, tree = make_tree()
    walked = list(tree.walk())
    oids = [o for o, _ in walked]
    assert oids == sorted(oids)
    assert len(set(oids)) == len(oids)
    vendor = [p for p in CAT.params.values() if not p.addition]
    scalars = [p for p in vendor if p.table is None]
    cells = sum(len(config.indexes(t.name)) * len(t.columns) for t in CAT.tables.values() if not t.addition)
    assert len(walked) == len(scalars) + cells
    assert walked == tree.instances()
    assert {a.param.name for _, a in walked if a.index is None} == {p.name for p in scalars}
    # Emulator additions have no vendor OID: not served.
    assert not any(a.param.addition for _, a in walked)


def test_next_from_arbitrary_points_matches_a_linear_scan() -> None:
    _, tree = make_tree("C740")
    instances = [o for o, _ in tree.instances()]
    rnd = random.Random(4935)
    probes: list[tuple[int, ...]] = [(), (1,), (1, 3, 6, 1, 4, 1, 4935), (2,)]
    for _ in range(300):
        base = rnd.choice(instances)
        cut = base[: rnd.randrange(1, len(base) + 1)]
        probes.append(cut + tuple(rnd.randrange(0, 300) for _ in range(rnd.randrange(0, 3))))
    for probe in probes:
        expected = next((o for o in instances if o > probe), None)
        hit = tree.next(probe)
        assert (hit[0] if hit else None) == expected, format_oid(probe)


def test_rows_added_and_deleted_are_seen_by_next() -> None:
    config, tree = make_tree()
    before = len(tree.instances())
    users = CAT.tables["Aaa.Users"]
    config.add_row("Aaa.Users", {"UserName": "zed", "Password": "x"})
    assert len(tree.instances()) == before + len(users.columns)
    col = parse_oid(users.columns["Password"].oid)
    hit = tree.next(col + encode_index(users, ("public",)))
    assert hit is not None and hit[1].index == ("zed",)
    config.delete_row("Aaa.Users", ("zed",))
    assert len(tree.instances()) == before
    config.factory_reset()
    assert len(tree.instances()) == before


def test_status_tables_are_reread_per_request() -> None:
    config, tree = make_tree()
    rows: list[dict[str, str | int]] = [{"Name": "Snmp", "Id": 900}]
    config.provide_rows("Scm.ServicesInfo", lambda: list(rows))
    table = CAT.tables["Scm.ServicesInfo"]
    col = parse_oid(table.columns["Name"].oid)
    tree.new_request()
    assert [a.index for o, a in tree.walk(col) if o[: len(col)] == col] == [("Snmp",)]
    rows.append({"Name": "Aaa", "Id": 1000})
    tree.new_request()
    assert [a.index for o, a in tree.walk(col) if o[: len(col)] == col] == [("Aaa",), ("Snmp",)]


def test_syntaxes_follow_the_vendor_mibs() -> None:
    assert syntax_of(CAT.params["Web.HttpMode"]) == INTEGER
    assert syntax_of(CAT.params["Snmp.Port"]) == UNSIGNED
    assert syntax_of(CAT.params["Snmp.Community"]) == OCTETS
    int_param = next(p for p in CAT.params.values() if p.type.kind == "int")
    assert syntax_of(int_param) == INTEGER
    u64 = next(p for p in CAT.params.values() if p.type.kind == "uint64")
    assert syntax_of(u64) == OCTETS  # MX-TC2 MxUInt64 is decimal text
    assert to_snmp(u64, 2**64 - 1) == b"18446744073709551615"
    assert from_snmp(u64, OCTETS, b"12") == "12"


def test_value_conversion_both_ways() -> None:
    mode = CAT.params["Web.HttpMode"]
    assert to_snmp(mode, "Secure") == 100
    assert from_snmp(mode, INTEGER, 300) == "Both"
    port = CAT.params["Snmp.Port"]
    assert to_snmp(port, 161) == 161
    assert to_snmp(port, None) == 0
    assert from_snmp(port, UNSIGNED, 1161) == 1161
    name = CAT.params["Hoc.SystemName"]
    assert to_snmp(name, "gw-é") == "gw-é".encode()
    assert from_snmp(name, OCTETS, b"lab") == "lab"


@pytest.mark.parametrize(
    ("name", "syntax", "raw", "status"),
    [
        ("Web.HttpMode", OCTETS, b"Secure", "wrongType"),
        ("Web.HttpMode", INTEGER, 7, "wrongValue"),
        ("Snmp.Port", INTEGER, 5, "wrongType"),
        ("Hoc.SystemName", UNSIGNED, 5, "wrongType"),
        ("Hoc.SystemName", OCTETS, b"\xff\xfe", "wrongValue"),
    ],
)
def test_set_value_refusals(name: str, syntax: str, raw: int | bytes, status: str) -> None:
    with pytest.raises(SnmpValueError) as info:
        from_snmp(CAT.params[name], syntax, raw)
    assert info.value.status == status


def test_tree_unsubscribes() -> None:
    config, tree = make_tree()
    n = len(config._listeners)
    tree.close()
    assert len(config._listeners) == n - 1
