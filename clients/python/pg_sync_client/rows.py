"""Plain Python values from a Change: row dicts whose integers stay integers, and operation names.

``Change.value`` and ``Change.old_value`` are ``google.protobuf.Struct`` messages, which hold every
number as a double: read directly (or with ``MessageToDict``), an int4 ``id`` of 4 is ``4.0``.
:func:`row` turns every whole number up to 2**53 in magnitude into an ``int`` (a float column
holding a whole number comes back as an ``int`` too, since a Struct does not say which column
type a number came from). int8 and numeric columns arrive as strings with full precision and
stay strings: convert them with ``int()`` or ``decimal.Decimal()`` when you know the column.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from pg_sync_client.v1 import wake_pb2

__all__ = ["old_row", "operation_name", "plain", "row"]

_MAX_EXACT_INT = 2**53
_OPERATION_NAMES = {
    wake_pb2.OPERATION_INSERT: "insert",
    wake_pb2.OPERATION_UPDATE: "update",
    wake_pb2.OPERATION_DELETE: "delete",
}


def plain(value: struct_pb2.Struct | struct_pb2.ListValue | struct_pb2.Value) -> Any:
    """A Struct, ListValue or Value as plain Python: dict, list, str, bool, None, int or float."""
    if isinstance(value, struct_pb2.Struct):
        return {key: plain(item) for key, item in value.fields.items()}
    if isinstance(value, struct_pb2.ListValue):
        return [plain(item) for item in value.values]
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) <= _MAX_EXACT_INT else number
    if kind in ("struct_value", "list_value"):
        return plain(getattr(value, kind))
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None  # null_value, or no kind at all


def row(change: wake_pb2.Change) -> dict[str, Any] | None:
    """The change's column values (``Change.value``) as a plain dict, or None when unset.

    Inserts carry the full row; updates the primary key and the changed columns (the full row with
    replica ``"full"``); deletes the primary key (the full old row with replica ``"full"``).
    """
    return plain(change.value) if change.HasField("value") else None


def old_row(change: wake_pb2.Change) -> dict[str, Any] | None:
    """The previous values of the changed columns (``Change.old_value``: updates with replica
    ``"full"``) as a plain dict, or None when unset."""
    return plain(change.old_value) if change.HasField("old_value") else None


def operation_name(operation: int | wake_pb2.Change) -> str:
    """``"insert"``, ``"update"`` or ``"delete"`` for an Operation value (or a Change's operation).

    Raises ValueError for OPERATION_UNSPECIFIED or an unknown value.
    """
    value = operation.operation if isinstance(operation, wake_pb2.Change) else operation
    try:
        return _OPERATION_NAMES[value]
    except KeyError:
        raise ValueError(f"operation must be OPERATION_INSERT, OPERATION_UPDATE or OPERATION_DELETE, got {value!r}") from None
