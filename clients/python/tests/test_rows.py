"""Row helpers: plain values from Change.value (integers stay integers) and operation names."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from pg_sync_client import old_row, operation_name, row, wake_pb2


def _struct(values: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


def test_row_keeps_integers_integers_and_exact_strings_strings() -> None:
    change = wake_pb2.Change(
        operation=wake_pb2.OPERATION_INSERT,
        value=_struct({"id": 4, "big": "9007199254740993", "price": "12.50", "ratio": 0.25, "done": True,
                       "note": None, "tags": ["a", 2], "doc": {"n": 3}}),
    )
    assert change.value["id"] == 4.0 and isinstance(change.value["id"], float)  # what a Struct gives
    got = row(change)
    assert got == {"id": 4, "big": "9007199254740993", "price": "12.50", "ratio": 0.25, "done": True,
                   "note": None, "tags": ["a", 2], "doc": {"n": 3}}
    assert type(got["id"]) is int and type(got["tags"][1]) is int and type(got["doc"]["n"]) is int
    assert type(got["ratio"]) is float


def test_numbers_beyond_exact_integers_stay_floats() -> None:
    got = row(wake_pb2.Change(value=_struct({"n": 2.0**60, "neg": -7})))
    assert type(got["n"]) is float and got["neg"] == -7 and type(got["neg"]) is int


def test_unset_values_are_none() -> None:
    change = wake_pb2.Change(operation=wake_pb2.OPERATION_UPDATE, old_value=_struct({"title": "before"}))
    assert row(change) is None
    assert old_row(change) == {"title": "before"}
    assert old_row(wake_pb2.Change()) is None


def test_operation_names() -> None:
    assert [operation_name(op) for op in (wake_pb2.OPERATION_INSERT, wake_pb2.OPERATION_UPDATE, wake_pb2.OPERATION_DELETE)] == [
        "insert", "update", "delete"]
    assert operation_name(wake_pb2.Change(operation=wake_pb2.OPERATION_DELETE)) == "delete"
    with pytest.raises(ValueError, match="OPERATION_UNSPECIFIED|got 0"):
        operation_name(wake_pb2.OPERATION_UNSPECIFIED)
