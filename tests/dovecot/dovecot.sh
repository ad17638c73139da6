#!/usr/bin/env bash
# Run a private Dovecot IMAP server on loopback as a test peer for imapspec.
#
#   tests/dovecot/dovecot.sh start DIR   # (re)start; prints IMAPSPEC_DOVECOT_* lines
#   tests/dovecot/dovecot.sh stop DIR    # stop the instance started from DIR
#
# Everything (config, certificate, users, mail, sockets, logs) lives in DIR;
# /etc/dovecot is neither read nor changed. Users: alice/alicepw, bob/bobpw,
# carol/carolpw, all sharing one system uid: the caller's, or the "dovecot" user
# when run as root (Dovecot refuses to serve mail as root).
# After `start`, DIR/env holds:
#   IMAPSPEC_DOVECOT_IMAP=imap://127.0.0.1:PORT     (plain, STARTTLS offered)
#   IMAPSPEC_DOVECOT_IMAPS=imaps://127.0.0.1:PORT   (implicit TLS, self-signed)
set -euo pipefail

START_TIMEOUT=15 # seconds to wait for the "* OK" greeting
STOP_TIMEOUT=10  # seconds to wait for the master to exit before SIGKILL

die() {
    echo "dovecot.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

# Prints the pid of the running master started from $dir, or nothing. The pid must
# still be a dovecot using our config (a stale pid file may name a reused pid).
master_pid() {
    local pidfile="$dir/run/master.pid" pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $dir/dovecot.conf"; then
        echo "$pid"
    fi
}

do_stop() {
    local pid i
    pid=$(master_pid)
    [[ -n $pid ]] || return 0
    # SIGTERM makes the master stop all its children before it exits.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "dovecot.sh: master $pid did not exit in ${STOP_TIMEOUT}s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        # Children of a SIGKILLed master notice and exit on their own; give them a moment.
        sleep 1
    fi
    rm -f "$dir/run/master.pid"
}

# Two distinct free loopback ports. Dovecot does not accept port 0, so ask the kernel
# for ephemeral ports and release them; the tiny race is acceptable for tests.
free_ports() {
    python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# Succeeds once 127.0.0.1:$1 sends a "* OK" greeting.
greets() {
    local line=""
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
    [[ $line == "* OK"* ]]
}

do_start() {
    if ! command -v dovecot >/dev/null 2>&1 && [[ ! -x /usr/sbin/dovecot ]]; then
        echo "dovecot is not installed: apt-get install -y dovecot-imapd" >&2
        exit 3
    fi
    local dovecot_bin
    dovecot_bin=$(command -v dovecot || echo /usr/sbin/dovecot)
    command -v openssl >/dev/null || die "openssl is not installed"
    command -v python3 >/dev/null || die "python3 is not installed"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd) # dovecot wants absolute paths
    do_stop

    # Dovecot's unprivileged processes (auth as $default_internal_user, login as
    # $default_login_user) must be able to reach DIR and read the users file.
    chmod 755 "$dir"
    mkdir -p "$dir/mail" "$dir/state"

    # Which system users the processes run as. Unprivileged: everything runs as the
    # caller. As root: Dovecot's imap process refuses to run as uid 0 ("Mail access
    # not allowed for root", no setting changes that), so mail is owned by the
    # package's own "dovecot" user, and logins run as "dovenull" (dovecot-core
    # creates both); no system user is added or changed.
    local uid mail_uid mail_gid internal_user internal_group login_user
    uid=$(id -u)
    if [[ $uid == 0 ]]; then
        getent passwd dovecot >/dev/null || die "system user 'dovecot' missing (reinstall dovecot-core)"
        getent passwd dovenull >/dev/null || die "system user 'dovenull' missing (reinstall dovecot-core)"
        internal_user=dovecot
        internal_group=$(id -gn dovecot)
        login_user=dovenull
        mail_uid=$(id -u dovecot)
        mail_gid=$(id -g dovecot)
    else
        internal_user=$(id -un)
        internal_group=$(id -gn)
        login_user=$internal_user
        mail_uid=$uid
        mail_gid=$(id -g)
    fi

    if [[ ! -s $dir/cert.pem || ! -s $dir/key.pem ]]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" >"$dir/openssl.log" 2>&1 ||
            die "openssl failed, see $dir/openssl.log"
    fi

    # passwd-file: user:password:uid:gid:gecos:home:shell. uid/gid/home come from
    # mail_uid/mail_gid and the userdb's override_fields instead.
    local u
    : >"$dir/users"
    for u in alice bob carol; do
        mkdir -p "$dir/mail/$u"
        echo "$u:{PLAIN}${u}pw:::::" >>"$dir/users"
    done
    # carol is the load-test user: mdbox storage files got corrupted here under
    # concurrent APPEND + EXPUNGE ("msg header has bad magic value"), so carol
    # keeps her mail in maildir (one file per message).
    sed -i "s|^carol:.*|carol:{PLAIN}carolpw::::::userdb_mail=maildir:$dir/mail/carol/Maildir|" "$dir/users"
    chmod 644 "$dir/users"
    chown -R "$mail_uid:$mail_gid" "$dir/mail"

    local imap_port imaps_port
    read -r imap_port imaps_port < <(free_ports)
    [[ -n $imap_port && -n $imaps_port ]] || die "could not pick free ports"

    # imap-login and anvil chroot by default, which only root can do.
    local chroot_off=""
    [[ $uid == 0 ]] || chroot_off="chroot ="

    cat >"$dir/dovecot.conf" <<EOF
# Generated by tests/dovecot/dovecot.sh; do not edit (rewritten on every start).
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
instance_name = imapspec-$imap_port

protocols = imap
listen = 127.0.0.1

default_internal_user = $internal_user
default_internal_group = $internal_group
default_login_user = $login_user
# The mail uid may be a low system uid (the "dovecot" user when started as root).
first_valid_uid = 1
first_valid_gid = 1

ssl = yes
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_cache_size = 0

mail_location = mdbox:$dir/mail/%u
# Test data is throwaway: skip fsync to keep the 2-core CI machine fast.
mail_fsync = never
# Tests open ~20+ concurrent sessions per user from 127.0.0.1 (default 10).
mail_max_userip_connections = 100
# Room for many concurrent sessions (each IMAP session is one imap process; the
# default limit is 100).
default_process_limit = 500
verbose_proctitle = yes

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
  override_fields = home=$dir/mail/%u
}
# All users' mail belongs to one system uid/gid (see the start of do_start).
mail_uid = $mail_uid
mail_gid = $mail_gid

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
  $chroot_off
}
service imap {
  process_limit = 500
}
# Tests try bad passwords on purpose: turn off anvil's per-IP auth penalty, which
# otherwise delays every failure (and success) from 127.0.0.1 after the first one
# by 2..15 s. (login_trusted_networks does not exempt clients from it in 2.3.)
service anvil {
  $chroot_off
  # Must cover imap-login + imap-urlauth-login process limits (2 x 500) + auth.
  client_limit = 1100
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF

    # A stale anvil-auth-penalty socket left in run/ would make the auth process retry
    # connecting to it for 5 s (ECONNREFUSED) instead of giving up at once (ENOENT).
    rm -rf "$dir/run"
    rm -f "$dir/dovecot.log" "$dir/dovecot.stdout" "$dir/dovecot.stderr" "$dir/env"
    # The master keeps its caller's stdout/stderr open: always redirect them, or a
    # caller using $(...) or a pipe would never see EOF.
    if ! "$dovecot_bin" -c "$dir/dovecot.conf" </dev/null >"$dir/dovecot.stdout" 2>"$dir/dovecot.stderr"; then
        cat "$dir/dovecot.stderr" "$dir/dovecot.log" >&2 2>/dev/null || true
        die "dovecot failed to start (config $dir/dovecot.conf)"
    fi

    local i
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if greets "$imap_port" 2>/dev/null; then
            {
                echo "IMAPSPEC_DOVECOT_IMAP=imap://127.0.0.1:$imap_port"
                echo "IMAPSPEC_DOVECOT_IMAPS=imaps://127.0.0.1:$imaps_port"
            } >"$dir/env"
            cat "$dir/env"
            return 0
        fi
        sleep 0.1
    done
    echo "dovecot.sh: no '* OK' greeting on 127.0.0.1:$imap_port within ${START_TIMEOUT}s" >&2
    tail -n 30 "$dir/dovecot.stderr" "$dir/dovecot.log" >&2 2>/dev/null || true
    do_stop
    exit 1
}

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
