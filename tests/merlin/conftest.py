import pytest

import ydnn as mm
from tests.merlin.fixtures import write_sequence_testing


@pytest.fixture(params=["json", "pbtxt"])
def sequence_testing_data(request, tmp_path):
    """Merlin's `sequence_testing_data` fixture, from files in Merlin's formats."""
    return mm.Dataset(write_sequence_testing(str(tmp_path / "sequence_testing"), request.param))


@pytest.fixture
def data_dir(tmp_path):
    """A Merlin sequence-testing directory: 103 rows, 3 files, row groups of 7."""
    return write_sequence_testing(
        str(tmp_path / "d"), "json", num_rows=103, files=3, row_group_size=7
    )
