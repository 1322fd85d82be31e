"""source_ref: the deterministic reference of a source's options.

A port of the TypeScript reference (clients/ts-runtime/src/source-ref.ts), itself upstream's
``sourceRefForPgSync`` with the #4576 metadata rule:

* the canonical form is a JSON object built in upstream's field order (url, table, columns,
  where, params, replica, metadata), absent fields left out, ``replica`` always present;
* it is serialised exactly as JavaScript's ``JSON.stringify`` would (no spaces, JS string
  escaping, JS own-property order: integer-like keys first in numeric order);
* the hash is 64-bit FNV-1a over the string's UTF-16 code units, as 16 lowercase hex digits.

Options use upstream's ``pgSync()`` shape, as a dict::

    {"url": str?, "table": str, "columns": [str]?, "where": str?,
     "params": [str] | {str: str}?, "replica": "default" | "full"?, "metadata": {str: str}?}

``None`` values count as absent (like JavaScript ``undefined``).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

__all__ = [
    "EPHEMERAL_METADATA_KEYS",
    "canonical_json",
    "canonical_options",
    "fnv1a64",
    "identity_metadata",
    "is_source_ref",
    "source_ref",
]

#: Metadata keys that identify a request, not a source: never hashed (upstream #4576).
EPHEMERAL_METADATA_KEYS = frozenset({"wakeId", "runtimeConsumerId", "streamPath"})

_FNV_OFFSET_BASIS = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK_64 = 0xFFFFFFFFFFFFFFFF
_KNOWN_FIELDS = ("url", "table", "columns", "where", "params", "replica", "metadata")
_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")
_SOURCE_REF = re.compile(r"^[0-9a-f]{16}$")
_SHORT_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def _utf16_units(value: str) -> list[int]:
    """The UTF-16 code units of ``value`` (a lone surrogate code point stays one unit)."""
    units: list[int] = []
    for ch in value:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            units.append(0xD800 + (cp >> 10))
            units.append(0xDC00 + (cp & 0x3FF))
        else:
            units.append(cp)
    return units


def _from_units(units: Iterable[int]) -> str:
    data = b"".join(u.to_bytes(2, "little") for u in units)
    return data.decode("utf-16-le", errors="surrogatepass")


def fnv1a64(value: str) -> str:
    """64-bit FNV-1a over the UTF-16 code units of ``value``, as 16 lowercase hex digits."""
    h = _FNV_OFFSET_BASIS
    for unit in _utf16_units(value):
        h ^= unit
        h = (h * _FNV_PRIME) & _MASK_64
    return format(h, "016x")


def _js_string(value: str) -> str:
    """``JSON.stringify(value)`` for a string (well-formed JSON.stringify, ES2019+)."""
    units = _utf16_units(value)
    out: list[str] = ['"']
    i, n = 0, len(units)
    while i < n:
        u = units[i]
        if u in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[u])
        elif u < 0x20:
            out.append("\\u%04x" % u)
        elif 0xD800 <= u <= 0xDBFF:
            if i + 1 < n and 0xDC00 <= units[i + 1] <= 0xDFFF:
                out.append(_from_units((u, units[i + 1])))
                i += 1
            else:
                out.append("\\u%04x" % u)
        elif 0xDC00 <= u <= 0xDFFF:
            out.append("\\u%04x" % u)
        else:
            out.append(chr(u))
        i += 1
    out.append('"')
    return "".join(out)


def _is_array_index(key: str) -> bool:
    return bool(_ARRAY_INDEX.match(key)) and int(key) <= 0xFFFFFFFE


def _js_key_order(keys: Iterable[str]) -> list[str]:
    """JavaScript own-property order: array-index keys ascending, then the rest as given."""
    keys = list(keys)
    indexes = sorted((k for k in keys if _is_array_index(k)), key=int)
    return indexes + [k for k in keys if not _is_array_index(k)]


def _js_sorted(keys: Iterable[str]) -> list[str]:
    """``Array.prototype.sort()`` with no comparator: by UTF-16 code units."""
    return sorted(keys, key=_utf16_units)


def _js_stringify(value: Any) -> str:
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_js_stringify(v) for v in value) + "]"
    if isinstance(value, dict):
        # Callers build dicts in JS property order already.
        return "{" + ",".join(_js_string(k) + ":" + _js_stringify(v) for k, v in value.items()) + "}"
    raise TypeError(f"cannot stringify {type(value).__name__}")


def _require_str(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"options.{field} must be a string, got {type(value).__name__}")
    return value


def _str_map(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"options.{field} must be a mapping of strings, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        _require_str(f"{field} key", k)
        if v is not None:
            _require_str(f"{field}[{k!r}]", v)
        out[k] = v
    return out


def identity_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Identity metadata: keys sorted, ephemeral keys and ``None`` values dropped; None when empty."""
    if metadata is None:
        return None
    md = _str_map("metadata", metadata)
    keys = _js_sorted(k for k in _js_key_order(md) if k not in EPHEMERAL_METADATA_KEYS and md[k] is not None)
    if not keys:
        return None
    return {k: md[k] for k in _js_key_order(keys)}


def canonical_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical options, as an insertion-ordered dict in JavaScript property order."""
    if not isinstance(options, Mapping):
        raise TypeError("options must be a mapping")
    unknown = [k for k in options if k not in _KNOWN_FIELDS]
    if unknown:
        raise ValueError(f"unknown source option(s): {', '.join(sorted(map(str, unknown)))}")
    out: dict[str, Any] = {}
    if options.get("url") is not None:
        out["url"] = _require_str("url", options["url"])
    out["table"] = _require_str("table", options.get("table"))
    columns = options.get("columns")
    if columns is not None:
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
            raise TypeError("options.columns must be a list of strings")
        cols = [_require_str("columns[]", c) for c in columns]
        if cols:
            out["columns"] = cols
    if options.get("where") is not None:
        out["where"] = _require_str("where", options["where"])
    params = options.get("params")
    if params is not None:
        if isinstance(params, Mapping):
            named = _str_map("params", params)
            keys = _js_sorted(_js_key_order(named))
            out["params"] = {k: named[k] for k in _js_key_order(keys) if named[k] is not None}
        elif isinstance(params, (list, tuple)):
            out["params"] = [_require_str("params[]", p) for p in params]
        else:
            raise TypeError("options.params must be a list of strings or a mapping of strings")
    replica = options.get("replica")
    if replica is None:
        replica = "default"
    if replica not in ("default", "full"):
        raise ValueError(f"options.replica must be 'default' or 'full', got {replica!r}")
    out["replica"] = replica
    metadata = identity_metadata(options.get("metadata"))
    if metadata:
        out["metadata"] = metadata
    return out


def canonical_json(options: Mapping[str, Any]) -> str:
    """The exact string upstream hashes: ``JSON.stringify`` of the canonical options."""
    return _js_stringify(canonical_options(options))


def source_ref(options: Mapping[str, Any]) -> str:
    """The deterministic source_ref of ``options``: 16 lowercase hex digits."""
    return fnv1a64(canonical_json(options))


def is_source_ref(value: str) -> bool:
    """True when ``value`` has the shape of a source_ref."""
    return isinstance(value, str) and bool(_SOURCE_REF.match(value))
