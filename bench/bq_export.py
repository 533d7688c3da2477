"""BigQuery export: our exporter (the Storage Read API's Arrow batches → atomic CSV in a dialect;
for reference also through the REST pages, ``storage_api = false``) vs iterating the same
query with the bare google-cloud-bigquery client into a csv.writer, against the emulator.

    ./run.sh bench bq-export [--rows 500000] [--repeat 5]

Each measurement runs in its own process, so its peak RSS is its own. Last lines:
``bq_export_ratio=X`` (our rows/s / bare rows/s; goal ≥ 1.2), ``bq_export_front_cpu_share=Z``
(the CPU the stack's identity front spent on our export, over the export's wall time) and
``bq_export_peak_rss_mb=Y`` (our process; goal ≤ 300). Every call goes through the front, as
the stack's least-privilege account, as the demo and the suite do.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASET = "bench_export"


def _settings(var: Path, storage_api: bool = True):
    """As the stack's config has it: through the identity front (REST and gRPC), as the
    least-privilege account with its key."""
    from stack import BQ_PROJECT, StackState, google_stack
    from targets.bigquery import BigQuerySettings
    state = StackState.load(var)
    return BigQuerySettings(project=BQ_PROJECT, api_endpoint=google_stack.front_url(state),
                            storage_endpoint=f"127.0.0.1:{state.ports['bigquery_grpc_front']}",
                            credentials=str(google_stack.key_file(var, google_stack.ETL)), storage_api=storage_api)


def _front_cpu(var: Path) -> float:
    """CPU seconds the stack's identity front has used so far (its REST and gRPC fronts: one process)."""
    import psutil

    from stack.state import read_pid
    times = psutil.Process(read_pid(var / "run" / "google-front.pid")).cpu_times()
    return times.user + times.system


def _seed(var: Path, rows: int, tmp: Path) -> str:
    from stack.google_stack import grant_dataset
    from targets.bigquery import BigQueryClient
    grant_dataset(var, DATASET)  # the administrator's dataset, granted to the account
    client = BigQueryClient(_settings(var))
    src = tmp / "students.csv"
    rng = random.Random(5)
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "last_name", "first_name", "grade", "school_id", "dob", "gpa", "active"])
        base = dt.date(2008, 1, 1).toordinal()
        for i in range(rows):
            w.writerow([100000 + i, rng.choice(["García", "O'Brien, Jr.", "Nguyen", "Smith"]), rng.choice(["Ana", "Zoë"]),
                        rng.randint(-1, 12), rng.randint(100, 400), dt.date.fromordinal(base + rng.randint(0, 4000)),
                        round(rng.random() * 4, 2), rng.random() < 0.9])
    client.load_file(src, f"{DATASET}.students", schema=[
        ("id", "INT64"), ("last_name", "STRING"), ("first_name", "STRING"), ("grade", "INT64"), ("school_id", "INT64"),
        ("dob", "DATE"), ("gpa", "FLOAT64"), ("active", "BOOL")])
    view = f"{DATASET}.Clever_students_bench"
    client.deploy_view(view, f"SELECT CAST(school_id AS STRING) AS School_id, CAST(id AS STRING) AS Student_id, "
                             f"last_name AS Last_name, first_name AS First_name, grade AS Grade, "
                             f"FORMAT_DATE('%m/%d/%Y', dob) AS DOB, gpa AS Gpa, active AS Active "
                             f"FROM `{client.settings.project}.{DATASET}.students`")
    cols = ["School_id", "Student_id", "Last_name", "First_name", "Grade", "DOB", "Gpa", "Active"]
    return f"SELECT {', '.join(f'{c} AS {c}' for c in cols)} FROM `{client.settings.project}.{view}`"


def _child(kind: str, var: Path, sql: str, out: Path) -> None:
    from targets.bigquery import BigQueryClient
    client = BigQueryClient(_settings(var, storage_api=kind != "pages"))
    t0 = time.perf_counter()
    if kind in ("ours", "pages"):
        rows = client.export(sql, out).rows
    else:
        rows = 0
        with open(out, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            result = client.bq.query(sql).result()
            w.writerow([f.name for f in result.schema])
            for row in result:
                w.writerow(list(row.values()))
                rows += 1
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0}))


def _measure(kind: str, var: Path, sql: str, out: Path) -> tuple[float, int, float, float]:
    """Seconds, rows and peak RSS of one export in a process of its own, and the CPU seconds
    the front spent meanwhile."""
    front = _front_cpu(var)
    proc = subprocess.Popen([sys.executable, "-m", "bench.bq_export", "--child", kind, "--var", str(var),
                             "--sql", sql, "--out", str(out)], stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{kind} export failed")
    result = json.loads(stdout.strip().splitlines()[-1])
    return result["seconds"], result["rows"], usage.ru_maxrss / 1024, _front_cpu(var) - front


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--child", choices=["ours", "pages", "bare"])
    ap.add_argument("--var", type=Path)
    ap.add_argument("--sql")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.var, args.sql, args.out)
        return 0
    import stack
    with tempfile.TemporaryDirectory(prefix="bench-bq-") as tmp:
        tmp = Path(tmp)
        var = tmp / "var"
        stack.up(var, with_bigquery=True)
        try:
            sql = _seed(var, args.rows, tmp)
            t_ours, t_bare, t_pages, rss_ours, rss_bare, rss_pages = [], [], [], [], [], []
            front: dict[str, list[float]] = {"bare": [], "ours": [], "pages": []}
            for i in range(args.repeat):
                kinds = (("bare", t_bare, rss_bare), ("ours", t_ours, rss_ours), ("pages", t_pages, rss_pages))
                for kind, times, rss in kinds[:: 1 if i % 2 else -1]:
                    seconds, rows, peak, cpu = _measure(kind, var, sql, tmp / f"{kind}.csv")
                    assert rows == args.rows, (kind, rows)
                    times.append(seconds)
                    rss.append(peak)
                    front[kind].append(cpu)
            ours, bare = args.rows / statistics.median(t_ours), args.rows / statistics.median(t_bare)
            print(f"{args.rows:,}-row view, median of {args.repeat} (alternating order), BigQuery emulator behind the "
                  "stack's identity front, as its least-privilege account")
            print(f"bare client + csv.writer: {bare:10,.0f} rows/s  peak RSS {max(rss_bare):6.0f} MB")
            pages = args.rows / statistics.median(t_pages)
            print(f"ours, REST pages:         {pages:10,.0f} rows/s  peak RSS {max(rss_pages):6.0f} MB")
            print(f"our exporter (Storage):   {ours:10,.0f} rows/s  peak RSS {max(rss_ours):6.0f} MB")
            share = statistics.median(front["ours"]) / statistics.median(t_ours)
            print("the identity front's CPU per export (one Python process, REST and gRPC): "
                  + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in front.items())
                  + f"; {share:.0%} of our export's wall time")
            print(f"bq_export_ratio={ours / bare:.2f}")
            print(f"bq_export_front_cpu_share={share:.2f}")
            print(f"bq_export_peak_rss_mb={max(rss_ours):.0f}")
        finally:
            stack.down(var)
    return 0


if __name__ == "__main__":
    sys.exit(main())
