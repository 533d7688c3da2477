"""Reading dba.tDataLoads in tests (a fresh connection each time, so nothing is cached)."""


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
