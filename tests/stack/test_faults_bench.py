"""``./run.sh bench faults --quick``: the suite's short version of the kill matrix, the network
faults and the bad-input corpus on a private stack (the full matrix: ./run.sh bench faults).
A clean quarter-opening Monday night lists its kill points; the next night is killed (kill -9)
once at each kind of point (a start, mid-upload, after a remote rename, before a ledger commit,
after a BigQuery load, before a local rename, mid-COPY, after an archive upload), each rerun and
checked; a cut and a refused connection for each server;
all 65 bad inputs. The invariants themselves are proven to catch a torn file, debris and a
touched file in the same run."""
import re

from tests.tools import run_tool


def test_quick_faults_bench_survives_every_kill_fault_and_bad_input(tmp_path):
    run = run_tool(["bench", "faults", "--quick", "--students", "40", "--var", str(tmp_path / "var")],
                   timeout=280, log=tmp_path / "var" / "bench.log")
    out = run.stdout
    assert run.returncode == 0, out[-6000:] + run.stderr[-3000:]
    assert "invariant checks proven: 3/3" in out
    kills = re.search(r"^kills_survived=(\d+)/(\d+)$", out, re.M)
    faults = re.search(r"^faults_survived=(\d+)/(\d+)$", out, re.M)
    bad = re.search(r"^bad_inputs_handled=(\d+)/(\d+)$", out, re.M)
    assert kills and kills.group(1) == kills.group(2) and int(kills.group(2)) >= 5, out[-3000:]
    assert faults and faults.group(1) == faults.group(2) == "10", out[-3000:]
    assert bad and bad.group(1) == bad.group(2) and int(bad.group(2)) >= 60, out[-3000:]
    for kind in ("start:CleverPush", "sftp.put.mid:", "sftp.put.renamed:", "pg.commit:", "bq.loaded:", "local.write:",
                 "pg.copy.mid:", "gcs.put:"):  # one kill of each kind, on the one kill night
        assert re.search(rf"^  2025-12-01 \w+ +{re.escape(kind)}\S* +ok$", out, re.M), (kind, out[-3000:])
    assert "no work on any kill night" not in out
