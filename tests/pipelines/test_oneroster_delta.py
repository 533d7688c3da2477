"""A delta as pipelines/oneroster.py makes it from two snapshots in sourcedId order: new and
changed rows active, gone rows tobedeleted with their last values, all stamped; a snapshot
out of order, or with another header, is refused with what to do."""
import pytest

from pipelines.oneroster import write_delta
from targets.errors import BadInputError

HEADER = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\r\n"
STAMP = "2026-12-08T11:00:00Z"


def _file(path, *rows):
    path.write_text(HEADER + "".join(r + "\r\n" for r in rows), encoding="utf-8", newline="")
    return path


def test_new_changed_and_gone_rows(tmp_path):
    before = _file(tmp_path / "a.csv", "sch-1,,,One,school,1,dist-9", "sch-2,,,Two,school,2,dist-9",
                   "sch-3,,,Three,school,3,dist-9")
    now = _file(tmp_path / "b.csv", "sch-1,,,One,school,1,dist-9", "sch-2,,,Deux,school,2,dist-9",
                "sch-4,,,Four,school,4,dist-9")
    out = tmp_path / "delta.csv"
    assert write_delta(before, now, out, STAMP) == (1, 1, 1)
    assert out.read_text(encoding="utf-8").splitlines() == [
        HEADER.strip(), f"sch-2,active,{STAMP},Deux,school,2,dist-9", f"sch-3,tobedeleted,{STAMP},Three,school,3,dist-9",
        f"sch-4,active,{STAMP},Four,school,4,dist-9"]
    assert write_delta(now, now, out, STAMP) == (0, 0, 0)
    assert out.read_text(encoding="utf-8").splitlines() == [HEADER.strip()]


def test_a_snapshot_out_of_order_or_with_another_header_is_refused(tmp_path):
    good = _file(tmp_path / "a.csv", "sch-1,,,One,school,1,", "sch-2,,,Two,school,2,")
    unsorted = _file(tmp_path / "b.csv", "sch-2,,,Two,school,2,", "sch-1,,,One,school,1,")
    with pytest.raises(BadInputError, match=r"row 3: sourcedId sch-1 is not after sch-2: the export is not in "
                                            r"sourcedId order.*push with --bulk"):
        write_delta(good, unsorted, tmp_path / "d.csv", STAMP)
    other = tmp_path / "c.csv"
    other.write_text("sourcedId,status,dateLastModified,name\r\nsch-1,,,One\r\n", encoding="utf-8", newline="")
    with pytest.raises(BadInputError, match=r"its header is not today's"):
        write_delta(other, good, tmp_path / "d.csv", STAMP)
