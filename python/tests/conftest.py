import pytest

import rask


@pytest.fixture(params=["sync", "threads"])
def local_client(request):
    """An in-process client of each kind."""
    c = rask.Client(executor=request.param, n_workers=2, set_as_default=False)
    yield c
    c.close()


@pytest.fixture
def threads():
    c = rask.Client(executor="threads", n_workers=2, set_as_default=False)
    yield c
    c.close()
