"""source_ref against the shared vectors in test/vectors/source-ref.json (every vector)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pg_sync_client.source_ref import canonical_json, fnv1a64, is_source_ref, source_ref

VECTORS_PATH = Path(__file__).resolve().parents[3] / "test" / "vectors" / "source-ref.json"
VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def test_vectors_file_has_vectors() -> None:
    assert len(VECTORS["vectors"]) >= 10


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])
def test_vector(vector: dict) -> None:
    assert canonical_json(vector["options"]) == vector["canonical"]
    assert source_ref(vector["options"]) == vector["source_ref"]
    assert fnv1a64(vector["canonical"]) == vector["source_ref"]


def test_empty_string_hash() -> None:
    assert fnv1a64("") == VECTORS["empty_string_hash"]


def test_upstream_v1_metadata_differs() -> None:
    # We follow #4576: the #4421 ref (which hashed ephemeral keys) must not come out.
    v1 = VECTORS["upstream_v1_only"]
    assert source_ref(v1["options"]) != v1["source_ref"]


def test_none_is_absent_and_empty_columns_are_absent() -> None:
    base = source_ref({"table": "todos"})
    assert source_ref({"table": "todos", "where": None, "url": None, "replica": None}) == base
    assert source_ref({"table": "todos", "columns": []}) == base
    assert source_ref({"table": "todos", "params": []}) != base


def test_js_escaping_and_key_order() -> None:
    assert canonical_json({"table": "a\u2028/\x01\ud800"}) == '{"table":"a\u2028/\\u0001\\ud800","replica":"default"}'
    got = canonical_json({"table": "t", "metadata": {"b": "1", "10": "x", "2": "y", "01": "z", "a": "w"}})
    assert got == '{"table":"t","replica":"default","metadata":{"2":"y","10":"x","01":"z","a":"w","b":"1"}}'


def test_sort_is_by_utf16_code_units() -> None:
    # U+FF5E sorts after U+1F600 in code points but before it in UTF-16 (0xD83D < 0xFF5E).
    got = canonical_json({"table": "t", "metadata": {"\uff5e": "1", "\U0001f600": "2"}})
    assert got == '{"table":"t","replica":"default","metadata":{"\U0001f600":"2","\uff5e":"1"}}'


def test_rejects_bad_options() -> None:
    with pytest.raises(ValueError):
        source_ref({"table": "t", "replica": "partial"})
    with pytest.raises(ValueError):
        source_ref({"table": "t", "tabel": "x"})
    with pytest.raises(TypeError):
        source_ref({"where": "x"})


def test_is_source_ref() -> None:
    assert is_source_ref("61b724fea24ae3c5")
    assert not is_source_ref("61B724FEA24AE3C5")
    assert not is_source_ref("61b724fea24ae3c")
