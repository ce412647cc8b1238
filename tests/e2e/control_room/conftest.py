"""One world for the control-room tests: two workers of one group and their users, started once for the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.tools.users import add_user
from tests.conftest import Deployment, WorkerProcess
from tests.web_client import PASSWORD


@pytest.fixture(scope="package")
def two_workers(broker_address: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Deployment, WorkerProcess, WorkerProcess]]:
    """Two workers sharing a session secret; ana (officer of VNHPH01) and sam (supervisor) can sign in.

    Tests add their own alerts and look only at those: the world is shared.
    """
    deployed = Deployment(broker_address, tmp_path_factory.mktemp("two-workers"), session_secret="one for all")
    add_user(deployed.settings, "ana", "officer", ["VNHPH01"], PASSWORD)
    add_user(deployed.settings, "sam", "supervisor", [], PASSWORD)
    try:
        first, second = deployed.start_workers(2)
        yield deployed, first, second
    finally:
        deployed.close()
