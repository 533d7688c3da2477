"""``./run.sh bench faults --quick``: the suite's short version of the kill matrix, the network
faults and the bad-input corpus on a private stack (the full matrix: ./run.sh bench faults).
A clean quarter-opening Monday night lists its kill points; the next night is killed (kill -9)
at a start, mid-upload, after a remote rename, before a ledger commit, after a BigQuery load and
before a local rename, each rerun and checked; a cut and a refused connection for each server;
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
    assert re.search(r"sftp.put.mid:\S+ +ok", out) and re.search(r"start:CleverPush\S* +ok", out)
