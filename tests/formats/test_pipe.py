"""Pipe layouts: what is written reads back; a wrong header or width is bad input naming the
file and line; a BOM and blank lines are tolerated; a pipe inside a field cannot split it."""
import io

import pytest

from formats.pipe import DPS_COUNTS, DPS_SEND, PipeLayout
from targets.errors import BadInputError


def test_round_trip_and_pipes_in_fields(tmp_path):
    buf = io.StringIO()
    assert DPS_SEND.write(buf, [["P1", "Smith|Jones", "Ana", "20100501", "F", "TRAVIS", "20260910"]]) == 1
    path = tmp_path / DPS_SEND.name
    path.write_text("\ufeff" + buf.getvalue() + "\n\n", encoding="utf-8")
    assert DPS_SEND.read(path) == [{"person_id": "P1", "last_name": "Smith Jones", "first_name": "Ana",
                                    "dob": "20100501", "sex": "F", "county": "TRAVIS", "runaway_date": "20260910"}]


def test_wrong_header_and_width_name_file_and_line(tmp_path):
    path = tmp_path / DPS_COUNTS.name
    path.write_text("COUNTY|EVENTS\nTRAVIS|1\n")
    with pytest.raises(BadInputError, match=r"counts\.txt, row 1: header must be COUNTY\|RUNAWAY_EVENTS"):
        DPS_COUNTS.read(path)
    path.write_text("county|runaway_events\nTRAVIS|1\nHARRIS\n")
    with pytest.raises(BadInputError, match=r"row 3: has 1 fields, expected 2"):
        DPS_COUNTS.read(path)
    with pytest.raises(ValueError, match="a record has 1 fields"):
        PipeLayout("x.txt", ("A", "B")).write(io.StringIO(), [["only one"]])
