"""CSV → PostgreSQL: our loader (COPY + ledger row in one transaction) vs ``psql \\copy`` of
the same file into the same table, on a private embedded PostgreSQL.

    ./run.sh bench copy [--rows 1000000] [--repeat 5] [--pandas-rows 20000]

Prints medians and a pandas.to_sql reference on a sample (run in a throwaway venv under
var/, since pandas needs SQLAlchemy 2 and Luigi's task history needs 1.4); the last line is
``copy_ratio=X`` (our rows/s / psql's; goal ≥ 0.9).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import private_postgres
from stack import ROOT
from targets.ledger import Ledger, LedgerEntry
from targets.postgres import PostgresClient, PostgresSettings

DDL = ("DROP TABLE IF EXISTS bench.students; CREATE SCHEMA IF NOT EXISTS bench;"
       "CREATE TABLE bench.students (student_id bigint, last_name text, first_name text, grade text,"
       " school_id integer, birth_date date, gpa numeric(4,2), email text)")
PANDAS_VENV_REQS = ["pandas==3.1.1", "SQLAlchemy==2.0.49", "psycopg2-binary==2.9.13"]


def _write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    last = ["García", "O'Brien", "Nguyen", "Smith", "Müller", "Johnson"]
    first = ["Ana", "Liam", "Zoë", "Noah", "Mia", "José"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("student_id,last_name,first_name,grade,school_id,birth_date,gpa,email\n")
        base = dt.date(2008, 1, 1).toordinal()
        for i in range(rows):
            ln, fn = rng.choice(last), rng.choice(first)
            fh.write(f'{100000 + i},"{ln}",{fn},{rng.randint(0, 12):02d},{rng.randint(1, 40)},'
                     f'{dt.date.fromordinal(base + rng.randint(0, 4000))},{rng.randint(0, 400) / 100:.2f},'
                     f's{100000 + i}@students.example.org\n')


def _pandas_reference(settings: PostgresSettings, csv_path: Path, rows: int) -> str:
    venv = Path(os.environ.get("ETL_BENCH_PANDAS_VENV") or ROOT / "var" / "bench-pandas-venv")
    stamp = venv / ".reqs"
    if not stamp.exists() or stamp.read_text() != "\n".join(PANDAS_VENV_REQS):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        *PANDAS_VENV_REQS], check=True, stdout=subprocess.DEVNULL)
        stamp.write_text("\n".join(PANDAS_VENV_REQS))
    script = (
        "import sys, time, pandas as pd, sqlalchemy as sa\n"
        "df = pd.read_csv(sys.argv[1], nrows=int(sys.argv[2]), dtype=str)\n"
        "eng = sa.create_engine(sys.argv[3])\n"
        "t = time.perf_counter(); df.to_sql('students_pandas', eng, schema='bench', if_exists='replace',"
        " index=False); print(len(df) / (time.perf_counter() - t))\n")
    url = (f"postgresql+psycopg2://{settings.user}:{settings.password}@{settings.host}:{settings.port}/"
           f"{settings.dbname}")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(csv_path), str(rows), url],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pandas-rows", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp:
        tmp = Path(tmp)
        with private_postgres(tmp) as (settings, psql, env):
            client = PostgresClient(settings)
            client.migrate()
            ledger = Ledger(client)
            csv_path = tmp / "students.csv"
            _write_csv(csv_path, args.rows)
            mb = csv_path.stat().st_size / 1e6
            def run_psql():
                subprocess.run(psql + ["-c", f"\\copy bench.students FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"],
                               check=True, env=env)

            def run_ours(i):
                res = ledger.copy_csv(csv_path, "bench.students", LedgerEntry("bench_copy", f"run{i}", dt.date.today()))
                assert res.rows == args.rows

            def timed(fn):
                with client.transaction() as cur:
                    cur.execute(DDL)
                t0 = time.perf_counter()
                fn()
                return time.perf_counter() - t0
            # One untimed run of each warms the server; then alternate who goes first, since a
            # fresh server's timings drift from run to run.
            timed(run_psql)
            timed(lambda: run_ours("warm-up"))
            t_psql, t_ours = [], []
            for i in range(args.repeat):
                if i % 2:
                    t_ours.append(timed(lambda: run_ours(i)))
                    t_psql.append(timed(run_psql))
                else:
                    t_psql.append(timed(run_psql))
                    t_ours.append(timed(lambda: run_ours(i)))
            psql_rate = args.rows / statistics.median(t_psql)
            ours_rate = args.rows / statistics.median(t_ours)
            print(f"{args.rows:,} rows ({mb:.0f} MB CSV), median of {args.repeat}")
            print(f"psql \\copy:            {psql_rate:12,.0f} rows/s")
            print(f"ours (COPY + ledger):  {ours_rate:12,.0f} rows/s  (sha256 and byte count included)")
            try:
                pandas_rate = float(_pandas_reference(settings, csv_path, args.pandas_rows))
                print(f"pandas.to_sql ({args.pandas_rows:,}-row sample): {pandas_rate:10,.0f} rows/s "
                      f"({pandas_rate / psql_rate:.3f}x psql)")
            except (subprocess.CalledProcessError, OSError) as e:
                print(f"pandas.to_sql reference not measured: {e}")
            client.close()
            print(f"copy_ratio={ours_rate / psql_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
