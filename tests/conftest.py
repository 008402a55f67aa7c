"""Shared test set-up: hypothesis profiles, the scratch directory, the integration marker."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=200)
# tox -e unit, the fast loop: as ci with half the examples where a test does
# not set its own count (tox -e tests, the full loop, runs ci).
settings.register_profile("unit", settings.get_profile("ci"), max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _run_in_scratch_directory(tmp_path_factory):
    """
    Run the tests in a scratch directory, as trial does (_trial_temp), so
    files made with relative paths (TestCase.mktemp, twistd.pid, logs) never
    land in the checkout. Use absolute paths (tests.support.servers.ROOT) for repo files.
    """
    scratch = tmp_path_factory.mktemp("cwd")
    before = os.getcwd()
    os.chdir(scratch)
    yield
    os.chdir(before)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: needs real servers from Debian packages (ngircd, mpd, redis-server, "
        "redis-sentinel, chromium), or runs the real reactor in real time for long (the hostile IRC "
        "server); everything under tests/integration/ has it. "
        "tox -e unit leaves these out (-m 'not integration').")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in item.path.parts[-2:-1]:
            item.add_marker(pytest.mark.integration)
