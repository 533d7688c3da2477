#!/usr/bin/env bash
# Installs hash-pinned locks into a venv exactly: every package at its locked version and hash,
# whatever the package index publishes later and whichever pip the machine's Python brings.
#
#   ops/install_lock.sh VENV LOCK [LOCK...]     (the venv is made with $PYTHON or python3 if missing)
#
# Used by run.sh (the runtime and dev venvs), the embedded stack (the emulators' venv), the
# Dockerfile and tests/ops/test_install_lock.py; one way to install, so every install is the same.
#
# --no-deps: a lock already names every package (pip-compile resolved them), so pip never
#   resolves and never looks at newer releases. Without it, pip 23.2 (what Python 3.11.7's venv
#   brings) resolves an extra such as google-cloud-bigquery's google-auth[pyopenssl] against the
#   newest release on the index, and hash mode then refuses it as unpinned: the install broke the
#   day google-auth 2.63.1 was published, though the lock pinned 2.63.0.
# --only-binary :all:: building an sdist would fetch its build tools from the index, unpinned.
# pip check afterwards: a lock that is missing a package fails here, naming it, not at run time.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: ops/install_lock.sh VENV LOCK [LOCK...]" >&2; exit 2; }
venv="$1"; shift
py="$venv/bin/python"
if [ ! -x "$py" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
args=()
for lock in "$@"; do
    [ -f "$lock" ] || { echo "install_lock: no lock file $lock" >&2; exit 2; }
    args+=(-r "$lock")
done
"$py" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes "${args[@]}"
if ! problems="$("$py" -m pip check 2>&1)"; then
    echo "install_lock: the lock ($*) is not complete; pip check says:" >&2
    echo "$problems" >&2
    exit 1
fi
