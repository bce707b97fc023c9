"""The safe encoding: what crosses to worker processes, and what is refused."""
import math

import numpy as np
import pyarrow as pa
import pandas as pd
import pytest

from rask import _rask


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 2**63 - 1, -2**63, 2**200, -(3**100), 1.5, math.inf, -0.0,
    "", "héllo ✓", b"", b"\x00\xff", [], [1, [2, [3]]], (), (1, "a", None), {"a": 1, 2: [3]},
    {1, 2, 3}, frozenset({"x"}), {"nested": ({"deep": [1.0, b"x"]},)},
])
def test_plain_values_round_trip(value):
    back = _rask.decode(_rask.encode(value))
    assert back == value and type(back) is type(value)


def test_nan_and_bytearray():
    assert math.isnan(_rask.decode(_rask.encode(math.nan)))
    assert _rask.decode(_rask.encode(bytearray(b"ab"))) == b"ab"


@pytest.mark.parametrize("arr", [
    np.arange(12, dtype=np.int64).reshape(3, 4),
    np.linspace(0, 1, 7, dtype=np.float32),
    np.array([True, False]),
    np.zeros((0, 5)),
    np.array(["ab", "c"]),
    np.arange(20.0).reshape(4, 5).T,  # not contiguous
    np.array(["2024-01-01"], dtype="datetime64[D]"),
    np.array([1 + 2j]),
])
def test_numpy_arrays_round_trip(arr):
    back = _rask.decode(_rask.encode(arr))
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_arrow_tables_and_pandas_round_trip():
    t = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]})
    assert _rask.decode(_rask.encode(t)).equals(t)
    b = t.to_batches()[0]
    assert _rask.decode(_rask.encode(b)).equals(b)
    df = pd.DataFrame({"a": [1.0, 2.5], "b": ["p", "q"]})
    pd.testing.assert_frame_equal(_rask.decode(_rask.encode(df)), df)


class Point:
    pass


@pytest.mark.parametrize("value,where", [
    (Point(), "the value is a `test_wire.Point`"),
    ([1, {"k": Point()}], "the value[1]['k'] is a `test_wire.Point`"),
    (lambda: 1, "is a `function`"),
    (np.array([object()]), "dtype `|O`"),
])
def test_other_types_are_refused_with_where_they_are(value, where):
    with pytest.raises(TypeError, match="cannot cross to another process") as info:
        _rask.encode(value)
    assert where in str(info.value)


def test_malformed_bytes_are_errors():
    good = _rask.encode([1, "abc", {"k": 2.0}])
    for cut in range(len(good)):
        with pytest.raises(ValueError, match="rask: malformed"):
            _rask.decode(good[:cut])
    with pytest.raises(ValueError, match="unknown tag"):
        _rask.decode(b"\xee")
    with pytest.raises(ValueError, match="left over"):
        _rask.decode(good + b"\x00")
    # A forged length allocates nothing.
    with pytest.raises(ValueError):
        _rask.decode(b"\x08" + (2**60).to_bytes(8, "little"))
    # An object array's bytes are never read as pointers.
    arr = bytearray(_rask.encode(np.zeros(2, dtype=np.int64)))
    arr[1:4] = b"|O8"
    with pytest.raises(ValueError, match="dtype"):
        _rask.decode(bytes(arr))


def test_nesting_is_limited_both_ways():
    deep = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        _rask.encode(deep)
    with pytest.raises(ValueError, match="nested deeper"):
        _rask.decode((b"\x08" + (1).to_bytes(8, "little")) * 150 + b"\x00")
