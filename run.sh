#!/usr/bin/env bash
# The one entry point for operators, cron and CI. See README.md.
#
#   ./run.sh                         the commands, from their table (ops/commands.py)
#   ./run.sh COMMAND [ARGS] [--district NAME]
#
# This file keeps what must be shell: the venv from the locks (bootstrap), the config and
# secrets (load_config), luigi runs with their locks and logs, the tests, the stack and the
# locks; every other command is a row of ops/commands.py, run with its errors in one line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
# The embedded stack's state folder (tests point it elsewhere).
export ETL_VAR="${ETL_VAR:-$ROOT/var}"
PY="$VENV/bin/python"

die() { echo "run.sh: $*" >&2; exit 2; }

bootstrap() {
    # .venv from the hash-pinned locks: requirements.txt (runtime: what a server needs) and, for
    # "dev" (tests, the embedded stack, benches, the lock tool), requirements-dev.txt on top, each
    # package exactly as locked (ops/install_lock.sh); then the project itself, editable, so the
    # card's plain `luigi --module pipelines.X Task` finds it from any folder (pyproject.toml).
    # Reinstalled only when a lock changed (fast otherwise); ./run.sh install forces it. Locks:
    # ./run.sh lock.
    local kind="${1:-runtime}" files=(requirements.txt) want have=""
    [ "$kind" = dev ] && files+=(requirements-dev.txt)
    want="$(cat "${files[@]}" pyproject.toml | sha256sum | cut -d' ' -f1)"
    [ -f "$VENV/.$kind.sha256" ] && have="$(cat "$VENV/.$kind.sha256")"
    if [ -x "$PY" ] && [ "$want" = "$have" ] && [ "${2:-}" != force ]; then
        return 0
    fi
    local sys_py="${PYTHON:-python3}"
    "$sys_py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        || die "Python 3.11 or newer is required (found $("$sys_py" --version 2>&1))"
    echo "run.sh: preparing .venv ($kind; first use or a lock changed)..." >&2
    PYTHON="$sys_py" "$ROOT/ops/install_lock.sh" "$VENV" "${files[@]}" >&2
    PYTHONWARNINGS=ignore "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index \
        -e "$ROOT" >&2
    echo "$want" > "$VENV/.$kind.sha256"
    [ "$kind" = dev ] && cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1 > "$VENV/.runtime.sha256"
    return 0
}

load_config() {
    # Production: ETL_SECRETS_ENV names the secrets file (outside the repo, mode 600) and the
    # repository's luigi.cfg (plus LUIGI_CONFIG_PATH, if set) is the config.
    # Otherwise the embedded stack's generated config under var/ is used, when it exists.
    if [ -n "${ETL_SECRETS_ENV:-}" ]; then
        [ -f "$ETL_SECRETS_ENV" ] || die "ETL_SECRETS_ENV=$ETL_SECRETS_ENV does not exist"
        local perms
        perms="$(stat -c %a "$ETL_SECRETS_ENV")"
        case "$perms" in
            600|400) ;;
            *) die "$ETL_SECRETS_ENV has mode $perms; secrets files must be mode 600 (chmod 600 $ETL_SECRETS_ENV)" ;;
        esac
        set -a; # shellcheck disable=SC1090
        . "$ETL_SECRETS_ENV"; set +a
    elif [ -f "$ETL_VAR/luigi.cfg" ]; then
        export LUIGI_CONFIG_PATH="${LUIGI_CONFIG_PATH:-$ETL_VAR/luigi.cfg}"
        set -a; # shellcheck disable=SC1091
        . "$ETL_VAR/secrets.env"; set +a
    else
        die "no configuration: set ETL_SECRETS_ENV to your secrets file (see secrets.env.example), or run './run.sh stack up' for the embedded stack"
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
}

system_packages() {
    # What the tests and the demo run against besides Python: OpenSSH's sshd and sftp, ProFTPD's
    # mod_sftp and gesftpserver, headless Chromium and its chromedriver (Debian's packages;
    # nothing is downloaded at run time); as
    # root also nftables, with which the network-fault tests drop a port's packets.
    # Installed when running as root, else the one command to type is printed.
    local need=()
    [ "$(id -u)" = 0 ] && [ ! -x /usr/sbin/nft ] && need+=(nftables)
    [ -x /usr/sbin/sshd ] || need+=(openssh-server)
    command -v sftp >/dev/null || need+=(openssh-client)
    [ -x /usr/bin/chromium ] || need+=(chromium)
    [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
    # independent SFTP servers the uploads are tested against (docs/sftp.md)
    [ -x /usr/sbin/proftpd ] || need+=(proftpd-core)
    [ -f /usr/lib/proftpd/mod_sftp.so ] || need+=(proftpd-mod-crypto)
    [ -x /usr/libexec/gesftpserver ] || need+=(gesftpserver)
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "run.sh: installing ${need[*]} for the tests and the demo..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    else
        echo "run.sh: the tests and the demo need Debian packages that are missing; install them with:" >&2
        echo "  sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    fi
}

scheduler_answers() {
    # Does anything accept a connection at the URL's host and port (within 3 s)?
    local hostport="${1#*://}" host port
    hostport="${hostport%%/*}"
    host="${hostport%:*}" port="${hostport##*:}"
    [ "$host" != "$hostport" ] || port=80
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

run_luigi() {
    # One copy per task: the lock is keyed by the module, task and parameters given.
    mkdir -p "$ETL_VAR/locks" "$ROOT/logs"
    local key task="" arg prev=""
    for arg in "$@"; do
        if [ -z "$task" ] && [[ "$arg" != -* ]] && [ "$prev" != "--module" ]; then task="$arg"; fi
        prev="$arg"
    done
    task="${task:-luigi}"
    [ -z "${ETL_DISTRICT:-}" ] || task="$ETL_DISTRICT-$task"
    key="$(printf '%s\0' "$@" | sha256sum | cut -c1-16)"
    local lock="$ETL_VAR/locks/${task//[^A-Za-z0-9_.-]/_}-$key.lock"
    local logdir
    logdir="$ROOT/logs/$(date +%F)"
    mkdir -p "$logdir"
    local log="$logdir/${task//[^A-Za-z0-9_.-]/_}-$(date +%H%M%S)-$$.log"
    # The central scheduler: ETL_SCHEDULER_URL, or ./run.sh scheduler's when it runs, or (the plain
    # `luigi` form, which asks for one by default) Luigi's own default address. One that does not
    # answer is said in one line and the run goes on with the local scheduler (Luigi would retry
    # for a minute and fail with tracebacks).
    local sched=(--local-scheduler) url="" why=""
    if [ -n "${ETL_SCHEDULER_URL:-}" ]; then
        url="$ETL_SCHEDULER_URL" why="ETL_SCHEDULER_URL"
    elif [ -f "$ETL_VAR/luigid.pid" ] && [ -f "$ETL_VAR/luigid.url" ] \
            && kill -0 "$(cat "$ETL_VAR/luigid.pid")" 2>/dev/null; then
        url="$(cat "$ETL_VAR/luigid.url")" why="./run.sh scheduler"
    elif [ -n "${ETL_PLAIN_LUIGI:-}" ]; then
        url="http://localhost:8082/" why="luigi's default"
    fi
    for arg in "$@"; do
        case "$arg" in --local-scheduler|--scheduler-host|--scheduler-url) sched=() url="" ;; esac
    done
    if [ -n "$url" ]; then
        if scheduler_answers "$url"; then
            sched=(--scheduler-url "$url")
        else
            echo "run.sh: no central scheduler answers at $url ($why); running with the local scheduler instead" \
                | tee -a "$log" >&2
        fi
    fi
    exec 9>"$lock"
    if ! flock -n 9; then
        echo "run.sh: $task is already running with these parameters (lock $lock); not starting a second copy" >&2
        exit 3
    fi
    echo "run.sh: log: $log" >&2
    # The run log gets every line; the console only warnings, errors and Luigi's summary.
    set +e
    ETL_RUN_LOG="$log" "$PY" -m pipelines "${sched[@]}" "$@" 2>&1
    local rc=$?
    set -e
    sed -n '/^===== Luigi Execution Summary =====$/,/^===== Luigi Execution Summary =====$/p' "$log"
    return "$rc"
}

range_luigi() {
    # --from D1 --to D2: one run per day, each with --date and its own log and lock, each
    # taking that day's data (see README); the exit status is the worst of them.
    local from="" to="" args=() arg
    while [ $# -gt 0 ]; do
        case "$1" in
            --from) from="$2"; shift 2 ;;
            --to) to="$2"; shift 2 ;;
            *) args+=("$1"); shift ;;
        esac
    done
    if [ -z "$from" ] && [ -z "$to" ]; then run_luigi "${args[@]}"; return; fi
    [ -n "$from" ] && [ -n "$to" ] || die "--from and --to go together (YYYY-MM-DD)"
    for arg in "${args[@]}"; do [ "$arg" != "--date" ] || die "give either --date or --from/--to"; done
    local day worst=0 rc
    day="$(date -d "$from" +%F)" || die "--from $from is not a date"
    date -d "$to" +%F >/dev/null || die "--to $to is not a date"
    while [ "$(date -d "$day" +%s)" -le "$(date -d "$to" +%s)" ]; do
        echo "run.sh: $day" >&2
        set +e
        ( run_luigi "${args[@]}" --date "$day" )
        rc=$?
        set -e
        [ "$rc" -gt "$worst" ] && worst=$rc
        day="$(date -d "$day + 1 day" +%F)"
    done
    return "$worst"
}

cmd="${1:-}"
[ -n "$cmd" ] || { "${PYTHON:-python3}" -S "$ROOT/ops/commands.py" usage; exit 2; }
shift

# --district NAME (anywhere after the command): this process serves that district. Python reads
# the overlay (targets/config.py, ETL_DISTRICT); the locks and run logs are the district's own.
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        # (the visualiser's re-run command of a one-district installation has "--district" alone)
        --district) if [ $# -ge 2 ] && [[ "$2" != -* ]]; then export ETL_DISTRICT="$2"; shift; fi; shift ;;
        --district=*) export ETL_DISTRICT="${1#--district=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
set -- ${args[@]+"${args[@]}"}
if [ -n "${ETL_DISTRICT:-}" ]; then
    [[ "$ETL_DISTRICT" =~ ^[a-z0-9][a-z0-9_-]{0,39}$ ]] \
        || die "--district $ETL_DISTRICT: a district's name is lower-case letters, digits, '-' and '_'"
    overlay="${ETL_DISTRICTS_DIR:-$ROOT/districts}/$ETL_DISTRICT.cfg"
    [ -f "$overlay" ] || die "--district $ETL_DISTRICT: no overlay $overlay (copy districts/example.cfg)"
fi

case "$cmd" in
    test)
        bootstrap dev
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        if [ "${1:-}" = "--fast" ]; then  # the fast loop: no stack, no servers, under a minute
            shift
            exec "$PY" -m pytest -m "not stack" "$@"
        fi
        system_packages
        exec "$PY" -m pytest "$@"
        ;;
    stack)
        bootstrap dev
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        exec "$PY" -m stack "$@"
        ;;
    demo)
        bootstrap dev
        system_packages
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        "$PY" -m stack up >/dev/null
        load_config
        exec "$PY" -m stack.demo "$@"
        ;;
    luigi)
        bootstrap
        load_config
        range_luigi "$@"
        ;;
    prune)
        bootstrap
        load_config
        if [ "${1:-}" = "--dry-run" ]; then exec "$PY" -m ops.verbs prune; fi
        range_luigi --module pipelines.prune Prune "$@"
        ;;
    resend)
        bootstrap
        load_config
        [ -n "${1:-}" ] || die "resend needs a vendor: ./run.sh resend VENDOR"
        vendor_name="$1"; shift
        range_luigi --module pipelines.vendors ResendVendorPush --vendor "$vendor_name" --at "$(date +%H%M%S)" "$@"
        ;;
    install)
        # What bootstrap does when a lock changed, now: after a package was changed by hand (the
        # doctor's "venv" line), or to prepare a server's venv ahead of the first run.
        case "${1:-}" in
            "") bootstrap runtime force ;;
            --dev) bootstrap dev force ;;
            *) die "install takes --dev or nothing" ;;
        esac
        echo "run.sh: .venv installed from the locks" >&2
        ;;
    lock)
        # Regenerate the hash-pinned locks from the .in files (pip-tools); existing pins are kept
        # unless --upgrade / -P NAME asks for newer ones. Needs the package index.
        bootstrap dev
        # requirements.txt is requirements-dev.in's constraint file, which may not name extras;
        # the emulators' lock keeps them (uvicorn[standard]): pip refuses an extra in hash mode
        # when its package's pin lacks it.
        for name in requirements:--strip-extras requirements-dev:--strip-extras requirements-bqemu:--no-strip-extras; do
            CUSTOM_COMPILE_COMMAND="./run.sh lock" "$VENV/bin/pip-compile" --quiet --generate-hashes \
                --allow-unsafe "${name#*:}" --no-emit-index-url --no-emit-find-links \
                -o "${name%%:*}.txt" "$@" "${name%%:*}.in"
        done
        ;;
    simulate)
        bootstrap dev
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        exec "$PY" -m stack.simulate "$@"
        ;;
    bench)
        bootstrap dev
        name="${1:-}"; shift || true
        name="${name//-/_}"
        [ -f "$ROOT/bench/$name.py" ] || die "unknown benchmark '$name' (have: $(cd bench && ls [a-z]*.py | sed 's/\.py$//; s/_/-/g' | tr '\n' ' '))"
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        exec "$PY" -m "bench.$name" "$@"
        ;;
    *)
        # a row of ops/commands.py: its venv and config, then the command with one-line errors
        spec="$("${PYTHON:-python3}" -S "$ROOT/ops/commands.py" need "$cmd")" || exit 2
        bootstrap "${spec% *}"
        case "${spec#* }" in
            required) load_config ;;
            optional) if [ -n "${ETL_SECRETS_ENV:-}" ] || [ -f "$ETL_VAR/luigi.cfg" ]; then load_config; fi ;;
        esac
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        exec "$PY" -m ops.commands run "$cmd" "$@"
        ;;
esac
