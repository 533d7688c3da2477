"""The ledger in tests: one over a client of its own (``open_ledger``: a process's view, whose
cache knows only its own rows), and reading dba.tDataLoads (``ledger_rows``: a fresh connection
each time, so nothing is cached)."""
from targets.ledger import Ledger
from targets.postgres import PostgresClient


def open_ledger(settings, migrate: bool = False) -> Ledger:
    """A ledger over a client of its own for ``settings`` (migrated first when asked)."""
    db = PostgresClient(settings)
    if migrate:
        db.migrate()
    return Ledger(db)


def ledger_rows(settings, columns: str = "item, status", job: str | None = None, succeeded_only: bool = False):
    """Rows of the ledger in insertion order, as tuples of ``columns``."""
    where, params = [], []
    if job is not None:
        where.append("job_name = %s")
        params.append(job)
    if succeeded_only:
        where.append("status = 'succeeded'")
    query = f"SELECT {columns} FROM dba.tdataloads" + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY load_id"
    conn = settings.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()
