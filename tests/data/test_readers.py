"""The streaming readers return exactly what json.load would, whatever the chunking."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swiftkit.data import readers

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
    | st.sampled_from(['}, {"a": ', "}\n,", "]"]),
    lambda c: (
        st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4) | st.sampled_from(["}", ","]), c, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(values, max_size=12),
    indent=st.sampled_from([None, 0, 1, 2]),
    chunk=st.sampled_from([1, 2, 3, 7, 64, 1 << 20]),
    ascii_only=st.booleans(),
)
def test_json_arrays_round_trip(tmp_path, monkeypatch, records, indent, chunk, ascii_only):
    monkeypatch.setattr(readers, "CHUNK", chunk)
    path = tmp_path / "d.json"
    path.write_text(json.dumps(records, indent=indent, ensure_ascii=ascii_only), encoding="utf-8")
    items = list(readers.read_records(path))
    assert [i for i in items if type(i) is readers.ReadError] == []
    assert [i[1] for i in items] == records
    assert [i[0] for i in items] == list(range(1, len(records) + 1))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(values, max_size=12))
def test_jsonl_round_trip(tmp_path, records):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    assert [i[1] for i in readers.read_records(path)] == records


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_utf8_split_across_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(readers, "CHUNK", chunk)
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"q": "你好，世界 🌍"}], ensure_ascii=False), encoding="utf-8")
    assert list(readers.read_records(path)) == [(1, {"q": "你好，世界 🌍"})]
