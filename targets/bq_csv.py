"""An export's rows written into its CSV file (targets/bigquery.py ``export`` opens the
atomic file and reads the rows): Arrow record batches written by Arrow's kernels where they
write what csv.writer writes (formats/arrow_csv.py ``csv_text``), else rows of Python values
formatted by the dialect and written by csv.writer. The next page or batch is fetched in a
thread meanwhile.
"""
from __future__ import annotations

import csv
import queue
import threading
from typing import IO, Callable

from formats.csv_dialect import CsvDialect
from targets.bq_pages import python_value

_PLAIN_TYPES = {"STRING", "INTEGER", "INT64"}
ARROW_TEXT = True  # exports through the Storage Read API written by Arrow where it can (tests turn it off)


def arrow_text(schema, dialect: CsvDialect) -> bool:
    """Are this export's rows written from Arrow record batches by Arrow's kernels (strings,
    integers, booleans and dates, byte for byte what csv.writer writes), rather than turned
    into Python values and written by csv.writer?"""
    from formats.arrow_csv import writes
    return ARROW_TEXT and writes([f.field_type for f in schema], dialect)


def write_rows(fh: IO[str], batches, schema, columns: list[str], dialect: CsvDialect, storage: bool,
               page_size: int, total: int, progress: Callable[[int, int], None] | None) -> int:
    """The header and every row of ``batches`` (record batches when ``arrow_text``, else lists
    of rows: the Storage Read API's Python values, or the REST pages' JSON text when not
    ``storage``) written to ``fh``; the number of rows."""
    arrow = storage and arrow_text(schema, dialect)
    if arrow:
        from formats.arrow_csv import csv_text
    quoting = csv.QUOTE_ALL if dialect.quoting == "all" else csv.QUOTE_MINIMAL
    # only the columns whose text depends on the dialect (booleans, dates, floats,
    # numerics) are formatted; strings and integers are written as they come
    convert = [(i, fmt) for i, fmt in ((i, _formatter(dialect, f.field_type, raw=not storage))
                                       for i, f in enumerate(schema) if f.field_type not in _PLAIN_TYPES)]
    types = [f.field_type for f in schema]
    rows = 0
    writer = csv.writer(fh, delimiter=dialect.delimiter, quoting=quoting, lineterminator=dialect.line_ending)
    if dialect.header:
        head_quoting = quoting if dialect.quote_header is None else (
            csv.QUOTE_ALL if dialect.quote_header else csv.QUOTE_MINIMAL)
        csv.writer(fh, delimiter=dialect.delimiter, quoting=head_quoting,
                   lineterminator=dialect.line_ending).writerow(columns)
    for batch in _prefetched(batches, depth=1 if storage else 2):
        if arrow:  # ``page_size`` rows at a time, as the pages: the progress moves as often
            for start in range(0, batch.num_rows, page_size):
                part = batch.slice(start, page_size)
                fh.write(csv_text(part, types, dialect))
                rows += part.num_rows
                if progress is not None:
                    progress(rows, total)
            continue
        if convert:
            for values in batch:
                for i, fmt in convert:
                    values[i] = fmt(values[i])
        writer.writerows(batch)
        rows += len(batch)
        if progress is not None:
            progress(rows, total)
    return rows


def _formatter(dialect: CsvDialect, field_type: str, raw: bool) -> Callable[[object], str]:
    """The dialect's formatter for a column; from BigQuery's JSON text first when ``raw``."""
    fmt, value = dialect.converter(field_type), python_value(field_type) if raw else None
    return fmt if value is None else (lambda v: fmt(value(v)))


def _prefetched(pages, depth: int = 2):
    """Fetch the next result page in a thread while the caller turns this one into CSV: the
    server's time and the network overlap with our parsing. At most ``depth`` pages wait."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def fetch():
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        q.put(page, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer, which raises it
            q.put(e)

    worker = threading.Thread(target=fetch, name="bq-page-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
