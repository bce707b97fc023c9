"""rask.array against NumPy, on every kind of client."""
import numpy as np
import pytest

import rask
import rask.array as ra


@pytest.fixture(scope="module", params=["sync", "threads", "processes"])
def client(request):
    c = rask.Client(executor=request.param, n_workers=2, set_as_default=False)
    yield c
    c.close()


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_w2_expression_matches_numpy(client):
    x = ra.random.random((600, 600), chunks=150, seed=3)
    xn = x.compute(scheduler=client)
    assert xn.shape == (600, 600) and xn.dtype == np.float64
    assert 0 <= xn.min() and xn.max() < 1
    r = (x + x.T).mean(axis=0).sum()
    close(r.compute(scheduler=client), (xn + xn.T).mean(axis=0).sum())
    # Seeded: the same values on every client.
    np.testing.assert_array_equal(xn, x.compute(scheduler="sync"))


def test_from_numpy_operations_and_reductions(client):
    a = np.arange(120, dtype=np.float64).reshape(10, 12) / 7.0
    x = ra.from_array(a, chunks=(4, 5))
    assert x.shape == (10, 12) and x.chunks == ((4, 4, 2), (5, 5, 2)) and x.dtype == "float64"
    exprs = [x + 1, 2 * x, x - x.T.T, x / 3, x ** 2, -x, abs(x - 5), ra.sqrt(x), ra.exp(x / 20),
             ra.where(x > 5, x, 0.0), ra.maximum(x, 3.0), x % 2]
    want = [a + 1, 2 * a, a - a, a / 3, a ** 2, -a, np.abs(a - 5), np.sqrt(a), np.exp(a / 20),
            np.where(a > 5, a, 0.0), np.maximum(a, 3.0), a % 2]
    got = rask.compute(*exprs, scheduler=client)
    for g, w in zip(got, want):
        close(g, w)
    reds = [x.sum(), x.sum(axis=0), x.mean(axis=1), x.var(ddof=1), x.std(axis=0), x.min(), x.max(axis=1),
            x.argmax(), x.argmin(axis=0), x.prod(axis=1) > 0, (x > 3).any(), (x > -1).all(axis=0)]
    want = [a.sum(), a.sum(axis=0), a.mean(axis=1), a.var(ddof=1), a.std(axis=0), a.min(), a.max(axis=1),
            a.argmax(), a.argmin(axis=0), a.prod(axis=1) > 0, (a > 3).any(), (a > -1).all(axis=0)]
    for g, w in zip(rask.compute(*reds, scheduler=client), want):
        close(g, w)


def test_shapes_slices_and_linear_algebra(client):
    a = np.arange(60, dtype=np.int64).reshape(5, 12)
    x = ra.from_array(a, chunks=3)
    cases = [
        (x[1:4, ::-2], a[1:4, ::-2]), (x[-1], a[-1]), (x[:, 3], a[:, 3]),
        (x.T, a.T), (x.reshape(6, 10), a.reshape(6, 10)), (x.rechunk(4), a),
        (ra.concatenate([x, x], axis=1), np.concatenate([a, a], axis=1)),
        (ra.stack([x, x + 1]), np.stack([a, a + 1])),
        (x.astype("float64") / 2, a / 2),
        (x.astype(float) @ x.T.astype(float), (a @ a.T).astype(float)),
    ]
    got = rask.compute(*[c[0] for c in cases], scheduler=client)
    for g, (_, w) in zip(got, cases):
        np.testing.assert_array_equal(g, w)
    assert x.astype("float64").dtype == "float64" and (x > 3).dtype == "bool"


def test_creation_functions():
    assert (ra.zeros((3, 4), chunks=2).compute() == 0).all()
    np.testing.assert_array_equal(ra.full(5, 7, chunks=2).compute(), np.full(5, 7))
    np.testing.assert_array_equal(ra.arange(10, chunks=3).compute(), np.arange(10.0))
    np.testing.assert_allclose(ra.linspace(0, 1, 11, chunks=4).compute(), np.linspace(0, 1, 11))
    np.testing.assert_array_equal(ra.eye(4, chunks=2).compute(), np.eye(4))
    n = ra.random.normal(0, 1, (20000,), chunks=5000, seed=1).compute()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    assert ra.from_array([1, 2, 3]).dtype == "int64"
    assert ra.from_array(np.float32([1.5])).dtype == "float64"
    np.testing.assert_array_equal(np.asarray(ra.ones(3)), np.ones(3))


def test_results_and_inputs_share_memory_where_they_can():
    a = np.arange(1000.0)
    x = ra.from_array(a, chunks=1000)
    a[0] = 99  # the chunk was copied in: later changes do not show
    assert x.compute()[0] == 0.0
    out = (x * 2).compute()
    assert out.flags.owndata or out.base is not None  # a NumPy array over Rask's buffer
    assert out.flags.writeable


def test_arrays_mix_with_delayed_and_files(tmp_path, client):
    x = ra.from_array(np.arange(6.0).reshape(2, 3), chunks=2)
    total = rask.delayed(np.sum)(x)
    both = rask.compute(total, x.sum(), scheduler="threads")
    assert both == (15.0, 15.0)
    x.to_npy(str(tmp_path / "x.npy"))
    np.testing.assert_array_equal(ra.from_npy(str(tmp_path / "x.npy")).compute(), x.compute())
    x.to_store(str(tmp_path / "store"))
    np.testing.assert_array_equal(ra.from_store(str(tmp_path / "store")).compute(scheduler=client), x.compute())


def test_errors_are_clear():
    x = ra.zeros((3, 4), chunks=2)
    with pytest.raises(ValueError, match="not compatible"):
        x + ra.zeros((5,), chunks=2)
    with pytest.raises(TypeError, match="float64, int64 or bool"):
        ra.from_array(np.array(["a"]))
    with pytest.raises(TypeError, match="operand"):
        x + "s"
    with pytest.raises(TypeError, match="ints and slices"):
        x[[1, 2]]
