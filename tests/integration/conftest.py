import pytest

from tests.integration.harness import Lab


@pytest.fixture
def lab(tmp_path, request):
    """Processes started by one test; each is stopped by PID when the test ends."""
    lab = Lab(tmp_path)
    request.addfinalizer(lab.close)
    return lab
