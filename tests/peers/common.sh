# shellcheck shell=bash
# Shared parts of the scripts that run a real IMAP server as a private test peer
# (tests/dovecot/dovecot.sh, tests/cyrus/cyrus.sh, tests/courier/courier.sh).
# Sourced, never run. Owns: the start|stop command line, free loopback ports,
# the self-signed certificate, waiting for the greeting, stopping a daemon by its
# pid file, and writing DIR/env. Each server script sets PEER (its name, used in
# messages) before sourcing this file, and defines do_start and do_stop.
#
# DIR/env is the contract with the tests and tests/peers/smoke.py: KEY=VALUE lines,
#   IMAPSPEC_<NAME>_IMAP=imap://127.0.0.1:PORT    (plain, STARTTLS offered)
#   IMAPSPEC_<NAME>_IMAPS=imaps://127.0.0.1:PORT  (implicit TLS, self-signed; optional)
#   IMAPSPEC_<NAME>_USERS=alice,bob,...           (test accounts, in order)
#   IMAPSPEC_<NAME>_PASSWORDS=alicepw,bobpw,...   (their passwords, same order)
# plus whatever else a server has (an LMTP address, an admin account).

die() {
    echo "$PEER: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

# Exits 3 (the "not installed" status the callers know) with a hint.
missing() {
    echo "$PEER: $*" >&2
    exit 3
}

# peer_need_tools CMD...: dies unless every command is on PATH.
peer_need_tools() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
    done
}

# peer_free_ports N: prints N distinct free loopback ports. Some servers do not
# accept port 0, so ask the kernel for ephemeral ports and release them; the tiny
# race is acceptable for tests.
peer_free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# peer_greets PORT: succeeds once 127.0.0.1:PORT sends a "* OK" greeting.
peer_greets() {
    local line=""
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
    [[ $line == "* OK"* ]]
}

# peer_wait_greeting PORT SECONDS: succeeds once the port greets, fails after SECONDS.
peer_wait_greeting() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        peer_greets "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# peer_cert DIR: a self-signed certificate for CN=localhost in DIR/cert.pem and
# DIR/key.pem (kept across restarts).
peer_cert() {
    if [[ ! -s $1/cert.pem || ! -s $1/key.pem ]]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
            -keyout "$1/key.pem" -out "$1/cert.pem" >"$1/openssl.log" 2>&1 ||
            die "openssl failed, see $1/openssl.log"
    fi
}

# peer_pid PIDFILE PATTERN: prints the pid in PIDFILE if that process still runs
# with PATTERN in its command line (a stale pid file may name a reused pid).
peer_pid() {
    local pid
    [[ -s $1 ]] || return 0
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
        echo "$pid"
    fi
}

# peer_stop_pid PIDFILE PATTERN SECONDS [GROUP]: SIGTERM to the process named by
# PIDFILE (see peer_pid), SIGKILL after SECONDS, then removes PIDFILE. With GROUP=1
# the signals go to its process group (a daemon started under setsid).
peer_stop_pid() {
    local pid i target
    pid=$(peer_pid "$1" "$2")
    if [[ -n $pid ]]; then
        target=$pid
        [[ ${4:-0} == 1 ]] && target=-$pid
        kill -TERM -- "$target" 2>/dev/null || true
        for ((i = 0; i < $3 * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$PEER: $pid did not exit in ${3}s, killing it" >&2
            kill -KILL -- "$target" 2>/dev/null || true
            # Children of a SIGKILLed master notice and exit on their own.
            sleep 1
        fi
    fi
    rm -f "$1"
}

# peer_env DIR NAME IMAP_PORT IMAPS_PORT USERS [KEY=VALUE...]: writes DIR/env
# (see the top of this file) and prints it. IMAPS_PORT may be "" (no implicit
# TLS); USERS is a space-separated list whose passwords are NAME + "pw".
peer_env() {
    local d=$1 name=$2 imap=$3 imaps=$4 users=$5 u ulist="" plist=""
    shift 5
    for u in $users; do
        ulist+=${ulist:+,}$u
        plist+=${plist:+,}${u}pw
    done
    {
        echo "IMAPSPEC_${name}_IMAP=imap://127.0.0.1:$imap"
        [[ -z $imaps ]] || echo "IMAPSPEC_${name}_IMAPS=imaps://127.0.0.1:$imaps"
        echo "IMAPSPEC_${name}_USERS=$ulist"
        echo "IMAPSPEC_${name}_PASSWORDS=$plist"
        for u in "$@"; do echo "$u"; done
    } >"$d/env.tmp"
    mv "$d/env.tmp" "$d/env"
    cat "$d/env"
}

# peer_main "$@": the start|stop DIR command line; calls do_start / do_stop with
# $dir set (absolute for stop; do_start makes it absolute after creating it).
peer_main() {
    [[ $# == 2 ]] || usage
    dir=$2
    case $1 in
    start) do_start ;;
    stop)
        [[ -d $dir ]] || exit 0
        dir=$(cd "$dir" && pwd)
        do_stop
        ;;
    *) usage ;;
    esac
}
