"""Generate ``firmware_model/catalog/dgw_catalog.json`` from the vendor parameter list.

Inputs (not part of the repository; a developer runs this once when the vendor data changes):
  --params  ../shared/spec/dgw-params.json  (names, access, syntax, enums, defaults, OID suffixes)
  --mibs    ../shared/mibs                   (to resolve each OID suffix to a full numeric OID)

Output: our own committed catalog.  Names, enum labels and numbers, defaults and OIDs are facts and are
copied exactly; the help text of every parameter is composed here, in our words, from its type.
The emulator additions (``firmware_model/catalog/additions.json``) are merged at load time, not here.

    python tools/gen_catalog.py --params ../shared/spec/dgw-params.json --mibs ../shared/mibs
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOTS = {
    "iso": "1",
    "org": "1.3",
    "dod": "1.3.6",
    "internet": "1.3.6.1",
    "private": "1.3.6.1.4",
    "enterprises": "1.3.6.1.4.1",
}

_DEF = re.compile(
    r"^\s*([a-zA-Z][\w-]*)\s+(?:OBJECT-TYPE|OBJECT IDENTIFIER|MODULE-IDENTITY|OBJECT-IDENTITY)\b"
    r"(?:(?!^\s*[a-zA-Z][\w-]*\s+(?:OBJECT-TYPE|OBJECT IDENTIFIER|MODULE-IDENTITY|OBJECT-IDENTITY)\b).)*?"
    r"::=\s*\{\s*([a-zA-Z][\w-]*)\s+(\d+)\s*\}",
    re.S | re.M,
)


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def parse_mib(path: Path) -> dict[str, tuple[str, int]]:
    """Return {name: (parent, number)} for every OID assignment in one MIB module."""
    text = _strip_comments(path.read_text(errors="replace"))
    # DESCRIPTION strings may contain '::='; drop quoted text first.
    text = re.sub(r'"[^"]*"', '""', text)
    return {m.group(1): (m.group(2), int(m.group(3))) for m in _DEF.finditer(text)}


class OidResolver:
    def __init__(self, mib_dir: Path) -> None:
        self.modules = {p.name: parse_mib(p) for p in sorted(mib_dir.iterdir()) if p.is_file()}
        self.shared: dict[str, tuple[str, int]] = {}
        for name in ("MX-SMI", "MX-SMI2"):
            self.shared.update(self.modules.get(name, {}))

    def resolve(self, module: str, name: str) -> str:
        local = self.modules.get(module, {})
        parts: list[str] = []
        seen = 0
        while name not in ROOTS:
            entry = local.get(name) or self.shared.get(name)
            if entry is None:
                raise KeyError(f"{module}: cannot resolve {name}")
            name, num = entry
            parts.append(str(num))
            seen += 1
            if seen > 64:
                raise ValueError(f"OID loop at {module}:{name}")
        return ".".join([ROOTS[name], *reversed(parts)])


_RANGE = re.compile(r"(-?\d+)\s*\.\.\s*(-?\d+)|(-?\d+)")

# Textual conventions: (kind, extra) from MX-TC / MX-TC2.
TC_TYPES: dict[str, dict[str, Any]] = {
    "MxIpHostName": {"kind": "hostname", "max": 255},
    "MxIpAddress": {"kind": "ipaddress", "max": 255},
    "MxIpAddr": {"kind": "ipv4", "max": 15},
    "MxIpHostNamePort": {"kind": "hostport", "max": 255},
    "MxIpAddrMask": {"kind": "ipmask", "max": 255},
    "MxIpPort": {"kind": "uint", "ranges": [[1, 65535]]},
    "MxAdvancedIpPort": {"kind": "uint", "ranges": [[0, 65535]]},
    "MxUInt64": {"kind": "uint64"},
    "MxDigitMap": {"kind": "string", "min": 0, "max": 1024},
    "MxActivationState": {"kind": "enum", "values": [["Inactive", 0], ["Active", 1]]},
}


def _ranges(spec: str) -> list[list[int]]:
    out = []
    for m in _RANGE.finditer(spec):
        if m.group(3) is not None:
            v = int(m.group(3))
            out.append([v, v])
        else:
            out.append([int(m.group(1)), int(m.group(2))])
    return out


def parse_syntax(syntax: str, enum: list[list[Any]] | None) -> dict[str, Any]:
    if enum:
        return {"kind": "enum", "values": [[str(label), int(num)] for label, num in enum]}
    s = syntax.strip()
    if s in TC_TYPES:
        return dict(TC_TYPES[s])
    m = re.fullmatch(r"OCTET STRING\s*(?:\(\s*SIZE\s*\((.*)\)\s*\))?", s)
    if m:
        if m.group(1):
            r = _ranges(m.group(1))
            return {"kind": "string", "min": r[0][0], "max": r[-1][1]}
        return {"kind": "string", "min": 0, "max": 65535}
    m = re.fullmatch(r"(Unsigned32|Integer32)\s*(?:\((.*)\))?", s)
    if m:
        kind = "uint" if m.group(1) == "Unsigned32" else "int"
        if m.group(2):
            return {"kind": kind, "ranges": _ranges(m.group(2))}
        lo, hi = (0, 4294967295) if kind == "uint" else (-2147483648, 2147483647)
        return {"kind": kind, "ranges": [[lo, hi]]}
    raise ValueError(f"unknown syntax {syntax!r}")


def _default(raw: str | None, typ: dict[str, Any]) -> Any:
    if raw is None:
        return None
    if raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1]
    if typ["kind"] in ("uint", "int"):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


_KIND_HELP = {
    "hostport": "Host name or IP address, optionally followed by :port (0 = protocol default).",
    "hostname": "Host name (FQDN) or IP address.",
    "ipaddress": "IPv4 or IPv6 address.",
    "ipv4": "IPv4 address in dotted form.",
    "ipmask": "IP address with its prefix length, as a.b.c.d/nn.",
    "uint64": "Counter (64-bit).",
}


def help_text(title: str, typ: dict[str, Any], access: str, table: str | None) -> str:
    """A short description written by us from the parameter's type (never vendor prose)."""
    kind = typ["kind"]
    if kind == "enum":
        what = "Choice among " + ", ".join(label for label, _ in typ["values"]) + "."
    elif kind in ("uint", "int"):
        spans = ", ".join(f"{a}" if a == b else f"{a} to {b}" for a, b in typ["ranges"])
        what = f"Whole number, {spans}."
    elif kind == "string":
        what = f"Text of up to {typ['max']} characters."
    else:
        what = _KIND_HELP.get(kind, "")
    where = f" Column of the {table} table." if table else ""
    ro = " Status value, read-only." if access == "read-only" else ""
    return f"{title}.{where} {what}{ro}".replace("..", ".").strip()


def build(params_path: Path, mib_dir: Path) -> dict[str, Any]:
    data = json.loads(params_path.read_text())
    resolver = OidResolver(mib_dir)
    services = []
    for svc in sorted(data, key=lambda s: s["numkey"]):
        module = svc["mib"]
        name = svc["textkey"]
        tables: dict[str, dict[str, Any]] = {}
        params = []
        for p in svc["params"]:
            typ = parse_syntax(p["syntax"], p["enum"])
            entry, _, col = p["oidsuffix"].rpartition(".")
            oid = f"{resolver.resolve(module, entry)}.{col}"
            table = p["table"]
            cli = p["cli"]
            rec: dict[str, Any] = {
                "name": cli,
                "access": p["access"],
                "type": typ,
                "default": _default(p["default"], typ),
                "oid": oid,
                "title": p["title"],
                "help": help_text(p["title"], typ, p["access"], table),
            }
            if table:
                rec["table"] = table
                if table not in tables:
                    idx_mib = [c.strip() for c in svc["tables"].get(table, "").split(",") if c.strip()]
                    tables[table] = {
                        "name": table,
                        "entry_oid": resolver.resolve(module, entry),
                        "index_mib": idx_mib,
                        "index": [],
                    }
                if p["mibname"] in tables[table]["index_mib"]:
                    tables[table]["index"].append(cli.rsplit(".", 1)[1])
            params.append(rec)
        for t in tables.values():
            # Keep the MIB's index order.
            order = {m: i for i, m in enumerate(t.pop("index_mib"))}
            by_mib = {
                p_["cli"].rsplit(".", 1)[1]: p_["mibname"]
                for p_ in svc["params"]
                if p_["table"] == t["name"]
            }
            t["index"].sort(key=lambda c: order.get(by_mib[c], 99))
            cols = [p_["cli"].rsplit(".", 1)[1] for p_ in svc["params"] if p_["table"] == t["name"]]
            t["dynamic"] = "Delete" in cols
        try:
            svc_oid = resolver.resolve(module, next(iter(resolver.modules[module])))
        except Exception:
            svc_oid = None
        services.append(
            {
                "name": name,
                "numkey": svc["numkey"],
                "display": svc["display"],
                "mib": module,
                "oid": svc_oid,
                "tables": list(tables.values()),
                "params": params,
            }
        )
    return {
        "source": "Media5 MX-*-MIB files, LAST-UPDATED 1910210000Z (facts only; help texts are ours)",
        "services": services,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("../shared/spec/dgw-params.json"))
    ap.add_argument("--mibs", type=Path, default=Path("../shared/mibs"))
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "firmware_model/catalog/dgw_catalog.json"
    )
    args = ap.parse_args()
    cat = build(args.params, args.mibs)
    args.out.write_text(json.dumps(cat, indent=1, sort_keys=False) + "\n")
    n = sum(len(s["params"]) for s in cat["services"])
    print(f"wrote {args.out}: {len(cat['services'])} services, {n} parameters")


if __name__ == "__main__":
    main()
