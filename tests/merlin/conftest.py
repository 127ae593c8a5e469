import pytest

import ydnn as mm
from tests.merlin.fixtures import write_sequence_testing


@pytest.fixture(params=["json", "pbtxt"])
def sequence_testing_data(request, tmp_path):
    """Merlin's `sequence_testing_data` fixture, from files in Merlin's formats."""
    return mm.Dataset(write_sequence_testing(str(tmp_path / "sequence_testing"), request.param))
