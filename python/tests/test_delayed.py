"""rask.delayed and rask.compute in this process (sync and threads)."""
import operator
import threading
import traceback

import pytest

import rask
from tasks import add, fail, inc, tree


def test_w1_tree_on_every_local_executor(local_client):
    assert tree(1000).compute(scheduler=local_client) == 1000 * 1001 // 2


def test_compute_several_shares_what_they_share(local_client):
    calls = []
    lock = threading.Lock()

    def counted(x):
        with lock:
            calls.append(x)
        return x * 2

    shared = rask.delayed(counted)(21)
    a = rask.delayed(add)(shared, 1)
    b = rask.delayed(add)(shared, 2)
    assert rask.compute(a, b, 7, scheduler=local_client) == (43, 44, 7)
    assert calls == [21]


def test_delayed_inside_lists_tuples_and_dicts(local_client):
    x = rask.delayed(inc)(1)
    y = rask.delayed(inc)(2)
    got = rask.delayed(lambda a, b, c: (a, b, c))([x, 5, (y, x)], {"k": y, "z": [1]}, c=[x])
    assert got.compute(scheduler=local_client) == ([2, 5, (3, 2)], {"k": 3, "z": [1]}, [2])
    assert rask.compute([x, {"y": y}], scheduler=local_client) == ([2, {"y": 3}],)


def test_decorator_keys_and_names(local_client):
    @rask.delayed
    def double(x):
        return 2 * x

    d = double(4)
    assert d.key.startswith("double#")
    assert double(5, dask_key_name="five").key == "five"
    assert double(5, dask_key_name=("five", 3)).key == "five[3]"
    assert rask.delayed(inc, name="plus_one")(1).key.startswith("plus_one#")
    assert d.compute(scheduler=local_client) == 8
    assert double.__wrapped__(3) == 6


def test_operators_items_attributes_and_calls(local_client):
    x = rask.delayed(inc)(4)  # 5
    exprs = [x + 1, 1 + x, x - 2, 10 - x, x * 3, x / 2, x // 2, x % 3, x ** 2, 2 ** x,
             -x, abs(-x), x == 5, x < 3, x & 4, x | 8]
    want = [6, 6, 3, 5, 15, 2.5, 2, 2, 25, 32, -5, 5, True, False, 4, 13]
    assert list(rask.compute(*exprs, scheduler=local_client)) == want
    s = rask.delayed("hello world")
    assert s.upper().compute(scheduler=local_client) == "HELLO WORLD"
    assert s[0:5].compute(scheduler=local_client) == "hello"
    first, second = rask.delayed(divmod, nout=2)(17, 5)
    assert rask.compute(first, second, scheduler=local_client) == (3, 2)
    with pytest.raises(TypeError):
        bool(x)
    with pytest.raises(TypeError):
        iter(x)


def test_by_name_targets(local_client):
    f = rask.by_name("tasks:add")
    assert f(1, 2).compute(scheduler=local_client) == 3
    assert rask.by_name("operator:mul")(6, 7).compute(scheduler=local_client) == 42
    with pytest.raises(ValueError, match="module:function"):
        rask.by_name("nocolon")


def test_a_failure_names_the_task_and_chains_the_exception(local_client):
    bad = rask.delayed(fail)(7, dask_key_name="load")
    after = rask.delayed(add)(bad, 1, dask_key_name="total")
    other = rask.delayed(inc)(1)
    with pytest.raises(rask.TaskError) as info:
        rask.compute(after, other, scheduler=local_client)
    e = info.value
    assert "task `total` did not run because its dependency `load` failed" in str(e)
    assert "ValueError: bad input 7" in str(e)
    assert e.key == "total" and e.root_key == "load" and e.kind == "failed"
    assert isinstance(e.__cause__, ValueError)
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    assert 'raise ValueError(f"bad input {x}")' in text
    # What did not depend on the failure still ran.
    assert other.compute(scheduler=local_client) == 2


def test_values_pass_by_reference_in_process(local_client):
    obj = object()
    same = rask.delayed(lambda o: o)(obj)
    assert same.compute(scheduler=local_client) is obj


def test_default_client_and_scheduler_names():
    x = rask.delayed(inc)(1)
    assert x.compute() == 2
    assert x.compute(scheduler="sync") == 2
    assert rask.compute(x, scheduler="threads") == (2,)
    with pytest.raises(ValueError):
        x.compute(scheduler="gpu")
    with rask.Client(executor="sync") as c:
        assert rask.default_client() is c
        assert x.compute() == 2
    assert rask.default_client() is not c


def test_nested_compute_inside_a_task(threads):
    def outer(n):
        return sum(rask.compute(*[rask.delayed(inc)(i) for i in range(n)], scheduler=threads))

    assert rask.delayed(outer)(50).compute(scheduler=threads) == sum(range(1, 51))


def test_a_wide_graph_and_progress_bar(threads, capsys):
    xs = [rask.delayed(operator.mul)(i, i) for i in range(2000)]
    with rask.ProgressBar():
        total = rask.delayed(sum)(xs).compute(scheduler=threads)
    assert total == sum(i * i for i in range(2000))
