"""The Dockerfile's image, built and run here without a daemon: podman (Debian's package) from a
debootstrapped Debian bookworm with Python 3.11, standing in for ``python:3.11-slim-bookworm``
(no registry of images is reachable; Debian's archive and the package index are).

    ./run.sh bench image [--keep]

1. ``debootstrap --variant=minbase bookworm`` with python3, python3-venv and ca-certificates,
   imported as ``localhost/python:3.11-slim-bookworm`` (cached under var/image/);
2. ``podman build`` of the repository's Dockerfile (a clean ``git archive`` of HEAD), chroot
   isolation, the host's network; behind a proxy that re-signs TLS, the host's CA bundle is
   lent to pip's step (``--build-arg PIP_CERT``), never kept in the image;
3. the embedded stack up on the host, then in a container of the image (buildah's chroot
   isolation: podman's runtime cannot set limits on this machine), as root (the stack's keys
   are mode 600) with the stack's var/ mounted at its own path: ``./run.sh feeds-db init``,
   ``./run.sh check`` (the doctor) and the ``DailyDigest`` slot (the ledger, the schedule, a
   mail).

Last lines: ``image_build_seconds=``, ``image_size_mb=``, ``image_check_exit=``,
``image_slot_exit=``. Needs root (apt-get installs podman and debootstrap when missing).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import stack
from stack import ROOT

WORK = Path(os.environ.get("ETL_IMAGE_DIR") or ROOT / "var" / "image")
BASE = "localhost/python:3.11-slim-bookworm"
IMAGE = "localhost/district-etl:latest"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def podman(*args: str, tool: str = "podman", **kw) -> subprocess.CompletedProcess:
    cmd = [tool, "--root", str(WORK / "storage"), "--runroot", str(WORK / "run"), "--storage-driver", "overlay", *args]
    return subprocess.run(cmd, text=True, **kw)


def _tools() -> None:
    missing = [p for p, exe in (("podman", "podman"), ("debootstrap", "debootstrap")) if shutil.which(exe) is None]
    if missing:
        if os.getuid() != 0:
            raise SystemExit(f"bench image needs {', '.join(missing)}: sudo apt-get install -y {' '.join(missing)}")
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def _base() -> None:
    if podman("image", "exists", BASE).returncode == 0:
        return
    rootfs = WORK / "rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                        "bookworm", str(rootfs), "http://deb.debian.org/debian"], check=True,
                       stdout=subprocess.DEVNULL)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    podman("import", "--change", 'CMD ["python3"]', "-", BASE, stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
    tar.wait()


def _build() -> float:
    context = WORK / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(context)], stdin=archive.stdout, check=True)
    archive.wait()
    lend = ["-v", f"{HOST_CA}:/etc/ssl/host-ca.pem:ro", "--build-arg", "PIP_CERT=/etc/ssl/host-ca.pem"] \
        if HOST_CA.exists() else []
    t0 = time.perf_counter()
    done = podman("build", "--isolation", "chroot", "--network", "host", "--pull=never", *lend, "-t", IMAGE,
                  "-f", "Dockerfile", ".", cwd=context, capture_output=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit(f"podman build failed (exit {done.returncode})")
    return time.perf_counter() - t0


def _in_image(container: str, var: Path, *args: str) -> subprocess.CompletedProcess:
    """``./run.sh ARGS`` in a container of the image. buildah's chroot isolation, as the build's
    own steps run: podman's OCI runtime (crun) may not set a container's limits on this machine
    (``setrlimit RLIMIT_NPROC: Operation not permitted``, itself a container)."""
    return podman("run", "--isolation", "chroot", "--network", "host", "--user", "0", "-v", f"{var}:{var}",
                  "--env", f"ETL_VAR={var}", container, "--", "./run.sh", *args, tool="buildah", capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="keep the images (var/image/storage) for another run")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    _tools()
    _base()
    seconds = _build()
    size = podman("image", "inspect", IMAGE, "--format", "{{.Size}}", capture_output=True, check=True).stdout
    print(f"built {IMAGE} in {seconds:.0f}s from a debootstrapped {BASE}, {int(size) / 1e6:.0f} MB")
    var = WORK / "stack"
    container = podman("from", "--pull=never", IMAGE, tool="buildah", capture_output=True,
                       check=True).stdout.strip().splitlines()[-1]
    try:
        stack.up(var, with_bigquery=True, dps_standin=False)
        init = _in_image(container, var, "feeds-db", "init")  # what a new installation does first (docs/feeds.md)
        print(f"./run.sh feeds-db init in the image: exit {init.returncode}")
        check = _in_image(container, var, "check")
        print(f"./run.sh check in the image: exit {check.returncode}")
        print("\n".join("  " + line for line in (check.stdout + check.stderr).strip().splitlines()[-12:]))
        slot = _in_image(container, var, "luigi", "--module", "pipelines.digest", "DailyDigest")
        print(f"./run.sh luigi --module pipelines.digest DailyDigest in the image: exit {slot.returncode}")
        print("\n".join("  " + line for line in (slot.stdout + slot.stderr).strip().splitlines()[-6:]))
    finally:  # a stack that did not come up ends the bench here, with its own error
        stack.down(var)
        podman("rm", container, tool="buildah", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not args.keep:
            podman("system", "reset", "-f", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"image_build_seconds={seconds:.0f}")
    print(f"image_size_mb={int(size) / 1e6:.0f}")
    print(f"image_check_exit={check.returncode}")
    print(f"image_slot_exit={slot.returncode}")
    return 0 if check.returncode == 0 and slot.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
