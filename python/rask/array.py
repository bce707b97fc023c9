"""``rask.array``: chunked n-dimensional arrays on Rask's Rust engine.

Every operation is the Rust crate's (``rask::array``): a graph of built-in
per-chunk tasks, fused where possible, running on any client (worker
processes and clusters too) with no Python per chunk. NumPy arrays come in
with ``from_array`` (one copy, into the chunks) and results leave as NumPy
arrays (a single-chunk result without a copy). Dtypes: float64, int64, bool.

    import rask.array as ra
    x = ra.random.random((4000, 4000), chunks=1000, seed=0)
    r = (x + x.T).mean(axis=0).sum()
    print(r.compute())
"""
import types as _types

from rask._rask import array as _a

Array = _a.Array
from_array = _a.from_array
asarray = _a.from_array
zeros = _a.zeros
ones = _a.ones
full = _a.full
arange = _a.arange
linspace = _a.linspace
eye = _a.eye
concatenate = _a.concatenate
stack = _a.stack
where = _a.where
maximum = _a.maximum
minimum = _a.minimum
from_npy = _a.from_npy
from_store = _a.from_store
sqrt, exp, expm1, log, log1p, log10 = _a.sqrt, _a.exp, _a.expm1, _a.log, _a.log1p, _a.log10
sin, cos, tan, tanh = _a.sin, _a.cos, _a.tan, _a.tanh
floor, ceil, round, absolute, abs = _a.floor, _a.ceil, _a.round, _a.absolute, _a.absolute
square, sign, isnan, isfinite, reciprocal = _a.square, _a.sign, _a.isnan, _a.isfinite, _a.reciprocal
logical_not, negative = _a.logical_not, _a.negative


def _random(size=None, chunks=None, seed=0):
    """Seeded uniform numbers on [0, 1): the same values on every client."""
    return _a.uniform(0.0, 1.0, size, chunks, seed)


#: Seeded generators: ``random(size, chunks, seed)``, ``uniform(low, high,
#: size, chunks, seed)``, ``normal(loc, scale, size, chunks, seed)``. Chunk i
#: is drawn from a stream seeded by (seed, i): the same on every client.
random = _types.SimpleNamespace(random=_random, uniform=_a.uniform, normal=_a.normal)
