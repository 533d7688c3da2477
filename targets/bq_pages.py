"""A query's result pages as the REST API sends them (``jobs.getQueryResults``): rows as lists
of BigQuery's JSON values. The library's rows convert every cell to a Python value through
the schema (90% of an export's time at 500,000 students); an export writes most values as
the strings BigQuery sends, so it reads the pages itself and converts only the columns its
CSV dialect formats (``python_value``). Memory: one page.
"""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Callable, Iterator

import google.api_core.exceptions as gexc

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def raw_pages(session, endpoint: str, project: str, job_id: str, location: str | None, page_size: int,
              retry: Callable) -> Iterator[list[list]]:
    """The rows of a finished query job, a page at a time; each call is retried by ``retry``
    (a google.api_core Retry: a server that does not answer, a 5xx, a rate limit)."""
    url = f"{endpoint.rstrip('/')}/bigquery/v2/projects/{project}/queries/{job_id}"
    params = {"maxResults": page_size, "formatOptions.useInt64Timestamp": "true", "prettyPrint": "false"}
    if location:
        params["location"] = location
    token = None
    while True:
        body = retry(_get)(session, url, dict(params, **({"pageToken": token} if token else {})))
        yield [[cell.get("v") for cell in row["f"]] for row in body.get("rows") or ()]
        token = body.get("pageToken")
        if not token:
            return


def _get(session, url: str, params: dict) -> dict:
    response = session.get(url, params=params)
    if response.status_code >= 400:
        raise gexc.from_http_response(response)
    return response.json()


def python_value(field_type: str) -> Callable[[str | None], object] | None:
    """How a JSON value of this type becomes the Python value a CSV dialect formats; None
    where the text BigQuery sends is already what is written (strings, integers)."""
    if field_type in ("BOOL", "BOOLEAN"):
        return lambda v: None if v is None else v == "true"
    if field_type == "DATE":
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if field_type == "DATETIME":
        return lambda v: None if v is None else dt.datetime.fromisoformat(v)
    if field_type == "TIMESTAMP":  # microseconds since the epoch (useInt64Timestamp)
        return lambda v: None if v is None else _EPOCH + dt.timedelta(microseconds=int(v))
    if field_type in ("FLOAT", "FLOAT64"):
        return lambda v: None if v is None else float(v)
    if field_type in ("NUMERIC", "BIGNUMERIC"):
        return lambda v: None if v is None else decimal.Decimal(v)
    return None
