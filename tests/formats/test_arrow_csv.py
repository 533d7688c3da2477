"""formats/arrow_csv.py: Arrow's reader trusted only where it reads as Python's csv does, and
Arrow's kernels writing exactly what csv.writer writes."""
import csv
import datetime as dt
import io
import random

import pyarrow as pa
import pytest

from formats.arrow_csv import CanonicalReader, NotCanonical, csv_text, writes
from formats.csv_dialect import CsvDialect

READ_ALIKE = {  # bytes -> the rows both readers read
    b'a,b\n"x""y",1\n': [["x\"y", "1"]],
    b'a,b\n"x\ny",1\n': [["x\ny", "1"]],
    b'a,b\n1,2': [["1", "2"]],
    b'a,b\r\n1,2\r\n': [["1", "2"]],
    b'"a","b"\n"1","2"\n"3",""\n': [["1", "2"], ["3", ""]],
    b'a,b\n"1,2",3\n4,5\n': [["1,2", "3"], ["4", "5"]],
    b'a\n1\n""\n2\n': [["1"], [""], ["2"]],
    b"a,b\n": [],
    b'a,b\n "x",1\n': [[' "x"', "1"]],  # not how a writer writes it, but a quote after a space is text to both
    b'a,b\nx"y,1\n': [['x"y', "1"]],
}
NOT_ALIKE = [  # Arrow reads these otherwise than csv.reader(strict=True), or not at all
    b'a,b\n"x"y,1\n', b'a,b\n"x,1\n', b"a,b\n\n1,2\n", b"a,b\n1,2\r\n3,4\r5,6\n",
    b"\xef\xbb\xbfa,b\n1,2\n", b"a,b\n1,\xff\n", b"a,b\n1,2,3\n", b"a,b\n1\n", b'a,b\n1,"2"\n\n', b'a\n1\n\n2\n',
    b"a,b\n1,2\x00\n", b'a,b\n"1","2"\n3,4\n', b"a,b\n1,2\n3", b"a,b\n1,2\r\n", b"a,a\n1,2\n", b"",
]


@pytest.mark.parametrize("data", list(READ_ALIKE))
def test_a_canonical_file_is_read_as_python_reads_it(tmp_path, data):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    reader = CanonicalReader(path)
    rows = [list(r.values()) for t in reader.tables() for r in t.to_pylist()]
    assert rows == READ_ALIKE[data] == list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
    assert reader.rows == len(rows)


@pytest.mark.parametrize("data", NOT_ALIKE)
def test_anything_else_is_left_to_the_exact_reader(tmp_path, data):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(NotCanonical):
        list(CanonicalReader(path).tables())


def test_csv_text_writes_what_csv_writer_writes():
    rng = random.Random(3)
    chars = ["a", "b", ",", '"', "\r", "\n", "\t", "|", ";", " ", "é", "😀"]

    def text():
        r = rng.random()
        return None if r < 0.1 else "" if r < 0.2 else "".join(rng.choice(chars) for _ in range(rng.randint(1, 6)))
    kinds = {"s": ("STRING", pa.string(), text),
             "i": ("INTEGER", pa.int64(), lambda: None if rng.random() < .1 else rng.randint(-10**12, 10**12)),
             "b": ("BOOLEAN", pa.bool_(), lambda: None if rng.random() < .1 else rng.random() < .5),
             "d": ("DATE", pa.date32(), lambda: None if rng.random() < .1 else dt.date(1900, 1, 1)
                   + dt.timedelta(days=rng.randint(0, 60000)))}
    dialects = [CsvDialect(), CsvDialect(quoting="all"), CsvDialect(line_ending="\r\n"), CsvDialect(delimiter="\t"),
                CsvDialect(delimiter="|", date_format="%m/%d/%Y", true="Y", false="N"),
                CsvDialect(quoting="all", line_ending="\r\n", delimiter=";")]
    for dialect in dialects:
        for names in (["s"], ["i"], ["b"], ["s", "i", "b", "d"], ["d", "s"]):
            data = {k: [kinds[k][2]() for _ in range(300)] for k in names}
            batch = pa.RecordBatch.from_arrays([pa.array(data[k], kinds[k][1]) for k in names], names=names)
            types = [kinds[k][0] for k in names]
            assert writes(types, dialect)
            want = io.StringIO()
            writer = csv.writer(want, delimiter=dialect.delimiter, lineterminator=dialect.line_ending,
                                quoting=csv.QUOTE_ALL if dialect.quoting == "all" else csv.QUOTE_MINIMAL)
            convert = [dialect.converter(t) if t in ("BOOLEAN", "DATE") else (lambda v: v) for t in types]
            writer.writerows([c(v) for c, v in zip(convert, row)] for row in zip(*(data[k] for k in names)))
            assert csv_text(batch, types, dialect) == want.getvalue(), (dialect, names)
    assert not writes(["STRING", "FLOAT"], CsvDialect())  # Python's repr of a float is not Arrow's
    assert not writes(["DATE"], CsvDialect(date_format="%-m/%d/%Y"))
