"""The tests' own settings: the results database of any sweep or report a test runs is a temporary
file, never ./bitweight-results.sqlite in the checkout."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _results_database(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BITWEIGHT_DB", str(tmp_path_factory.mktemp("results") / "bitweight-results.sqlite"))
    yield
    mp.undo()
