"""Python tasks in worker processes and on a local cluster: functions by
importable name, values in the safe encoding, never pickle."""
import os

import numpy as np
import pyarrow as pa
import pytest

import rask
import tasks
from tasks import add, describe, fail, inc, pid, tree


@pytest.fixture(scope="module", params=["processes", "cluster"])
def remote(request):
    c = rask.Client(executor=request.param, n_workers=2, set_as_default=False)
    yield c
    c.close()


def test_graphs_run_in_the_workers(remote):
    assert tree(500).compute(scheduler=remote) == 500 * 501 // 2
    pids = set(rask.compute(*[rask.delayed(pid)(i) for i in range(40)], scheduler=remote))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_arguments_templates_and_kwargs_cross(remote):
    x = rask.delayed(inc)(1)
    got = rask.delayed(describe)([x, {"k": (x, b"b")}], 2.5, None, flag=True, items={1, 2})
    assert got.compute(scheduler=remote) == {
        "args": [[2, {"k": (2, b"b")}], 2.5, None],
        "kwargs": {"flag": True, "items": {1, 2}},
    }


def test_arrays_and_tables_cross(remote):
    a = np.arange(100_000, dtype=np.float64).reshape(100, 1000)
    doubled = rask.delayed(np.multiply)(a, 2.0)
    total = rask.delayed(np.sum)(doubled)
    assert total.compute(scheduler=remote) == a.sum() * 2
    np.testing.assert_array_equal(doubled.compute(scheduler=remote), a * 2)
    t = pa.table({"x": [1, 2, 3]})
    assert rask.by_name("pyarrow:concat_tables")([t, t]).compute(scheduler=remote).num_rows == 6


def test_futures_in_workers(remote):
    xs = remote.map(inc, range(20))
    total = remote.submit(tasks.total, xs)
    assert total.result() == sum(range(1, 21))
    assert remote.gather(xs) == list(range(1, 21))
    assert remote.submit("tasks:add", 1, 2).result() == 3
    f = remote.submit(add, remote.submit(inc, 1), 10, key="chained")
    assert f.key == "chained" and f.result() == 12


def test_failures_carry_the_remote_traceback(remote):
    with pytest.raises(rask.TaskError) as info:
        rask.delayed(add)(rask.delayed(fail)(5, dask_key_name="boom"), 1).compute(scheduler=remote)
    e = info.value
    assert "dependency `boom` failed" in str(e) and "ValueError: bad input 5" in str(e)
    assert isinstance(e.__cause__, rask.RemoteTraceback)
    assert 'raise ValueError(f"bad input {x}")' in str(e.__cause__)
    with pytest.raises(rask.TaskError, match="ValueError: bad input 9"):
        remote.submit(fail, 9).result()


def test_what_cannot_cross_is_refused_clearly(remote):
    with pytest.raises(rask.RaskError, match="lambda"):
        rask.delayed(lambda x: x)(1).compute(scheduler=remote)

    def local(x):
        return x

    with pytest.raises(rask.RaskError, match="defined inside a function"):
        remote.submit(local, 1).result()

    class Thing:
        pass

    with pytest.raises(rask.RaskError, match="cannot cross to another process"):
        rask.delayed(inc)(Thing()).compute(scheduler=remote)
    # A worker's result that cannot cross back fails that task only.
    with pytest.raises(rask.TaskError, match="cannot cross to another process"):
        rask.delayed(tasks.make_object)().compute(scheduler=remote)
    assert rask.delayed(inc)(1).compute(scheduler=remote) == 2


def test_unimportable_names_fail_the_task(remote):
    with pytest.raises(rask.TaskError, match="No module named 'no_such_module'"):
        rask.by_name("no_such_module:f")(1).compute(scheduler=remote)
    with pytest.raises(rask.TaskError, match="has no attribute 'nope'"):
        rask.by_name("tasks:nope")(1).compute(scheduler=remote)


def test_a_dying_worker_process_is_replaced():
    with rask.Client(executor="processes", n_workers=1, set_as_default=False) as c:
        with pytest.raises(rask.TaskError, match="exited with status 3") as info:
            c.submit(tasks.crash).result()
        assert info.value.kind == "worker_died"
        assert c.submit(inc, 1).result() == 2


def test_workers_join_a_scheduler_by_address(monkeypatch, tmp_path):
    import subprocess
    import sys

    monkeypatch.setenv("RASK_SECRET", "test-secret-0123456789")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(tasks.__file__))
    with rask.Scheduler() as s:
        worker = subprocess.Popen(
            [sys.executable, "-m", "rask.worker", f"tcp://{s.address}", "--nthreads", "1", "--name", "w1"],
            env=env, cwd=tmp_path)
        try:
            with rask.Client(f"tcp://{s.address}", set_as_default=False) as c:
                assert c.executor == "cluster"
                assert c.submit(add, 2, 3).result(timeout=30) == 5
                assert tree(100).compute(scheduler=c) == 5050
        finally:
            worker.kill()
            worker.wait()
    # A wrong secret is refused.
    monkeypatch.setenv("RASK_SECRET", "another-secret-456789")
    with rask.Scheduler() as s:
        monkeypatch.setenv("RASK_SECRET", "test-secret-0123456789")
        with pytest.raises(rask.RaskError, match="could not connect"):
            rask.Client(s.address, set_as_default=False)


def test_functions_of_a_main_script_run_in_workers(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "job.py"
    script.write_text(
        "import rask\n"
        "def square(x):\n"
        "    return x * x\n"
        "if __name__ == '__main__':\n"
        "    with rask.Client(executor='processes', n_workers=2) as c:\n"
        "        print(sum(c.gather(c.map(square, range(10)))))\n"
        "        print(rask.delayed(square)(7).compute(scheduler=c))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["285", "49"]
