#!/usr/bin/env bash
# Run a private Courier-IMAP server on loopback as a test peer for imapspec.
#
#   tests/courier/courier.sh start DIR   # (re)start; prints IMAPSPEC_COURIER_* lines
#   tests/courier/courier.sh stop DIR    # stop the instance started from DIR
#
# Needs root (mount namespaces), util-linux (unshare, mount), perl-base, openssl,
# python3, and Debian's Courier packages, which are only unpacked, never installed
# (courier-imap conflicts with dovecot-imapd and cyrus-imapd: all provide
# imap-server). Set COURIER_ROOT to a folder where they were already unpacked
# (`dpkg-deb -x PKG.deb ROOT` for each of $PACKAGES below) to reuse it; otherwise
# `apt-get download` fetches them into DIR/pkg once.
#
# Courier's paths are compiled in (/etc/courier, /usr/lib/courier,
# /run/courier/authdaemon/socket). So authdaemond and couriertcpd run inside a
# private mount namespace (`unshare -m`) where /usr and /etc are read-only
# overlays of the unpacked packages over the real ones, /etc/courier is DIR/etc
# and /run is DIR/run; DIR/etc-top adds a "courier" user to passwd and group
# there (an alias of "nobody"). Nothing outside DIR changes; the namespace ends with its
# last process.
#
# Users (userdb, mail in DIR/mail/USER/Maildir, all owned by "nobody"):
# alice/alicepw, bob/bobpw, carol/carolpw. Debian's imapd defaults are kept
# (personal namespace "INBOX.", IDLE, QUOTA capability, no [UIDNEXT] on SELECT)
# except for loopback ports, more sessions per IP, and no TLS session cache.
# After `start`, DIR/env holds (see tests/peers/common.sh):
#   IMAPSPEC_COURIER_IMAP=imap://127.0.0.1:PORT     (plain, STARTTLS offered)
#   IMAPSPEC_COURIER_IMAPS=imaps://127.0.0.1:PORT   (implicit TLS, self-signed)
#   IMAPSPEC_COURIER_USERS=alice,bob,carol, IMAPSPEC_COURIER_PASSWORDS=alicepw,...
#   IMAPSPEC_COURIER_LOGIN_FAILURE_DELAY=5  (seconds imaplogin sleeps after a failed login)
# IDLE reports another session's change only at its next poll, every
# IMAP_IDLE_TIMEOUT (Debian's 60 s), although gam_server runs.
# Logs: DIR/authdaemond.log, DIR/imapd.log, DIR/imapd-ssl.log.
set -euo pipefail

START_TIMEOUT=20 # seconds to wait for the "* OK" greeting
STOP_TIMEOUT=10  # seconds to wait for the namespace's processes before SIGKILL
USERS="alice bob carol"
# What the daemons need from Debian 12 beyond a base system: the Courier
# packages, gam_server (without it every login gets "* OK [ALERT] Filesystem
# notification initialization error") and libraries a base system may lack.
PACKAGES="courier-imap courier-base courier-authlib courier-authlib-userdb
courier-authdaemon gamin libgamin0 libcourier-unicode4 libltdl7 libidn12
libgdbm6 libpcre3 libglib2.0-0"
# The system user owning the mail: Courier's imapd runs as the userdb's uid.
MAIL_USER=nobody

export PEER=courier.sh # named in messages by common.sh
# shellcheck source-path=SCRIPTDIR source=../peers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../peers/common.sh"

# Prints the folder where the packages are unpacked (fetching them if need be).
courier_root() {
    if [[ -n ${COURIER_ROOT:-} ]]; then
        [[ -x $COURIER_ROOT/usr/bin/imapd ]] ||
            die "COURIER_ROOT=$COURIER_ROOT has no usr/bin/imapd (unpack courier-imap there)"
        (cd "$COURIER_ROOT" && pwd)
        return 0
    fi
    local pkg="$dir/pkg" p deb
    if [[ ! -x $pkg/root/usr/bin/imapd || ! -x $pkg/root/usr/libexec/gam_server ]]; then
        command -v apt-get >/dev/null || missing "no COURIER_ROOT and no apt-get to fetch the Courier packages"
        rm -rf "$pkg"
        mkdir -p "$pkg/root"
        # Libraries already installed are taken from the system, not shadowed by
        # an unpacked copy; the Courier packages themselves always come unpacked.
        local want=()
        for p in $PACKAGES; do
            if [[ $p == lib* ]] &&
                dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
                continue
            fi
            want+=("$p")
        done
        (cd "$pkg" && apt-get download "${want[@]}") >"$pkg/download.log" 2>&1 ||
            die "apt-get download ${want[*]} failed, see $pkg/download.log (run apt-get update?)"
        for deb in "$pkg"/*.deb; do
            dpkg-deb -x "$deb" "$pkg/root" || die "dpkg-deb -x $deb failed"
        done
    fi
    echo "$pkg/root"
}

# The pid of the namespace's first process, if it still runs from DIR.
ns_pid() {
    peer_pid "$dir/run/ns.pid" "courier.sh inside $dir"
}

# Every process in the namespace whose first process is $1 (same mount namespace).
ns_members() {
    local ns p
    ns=$(readlink "/proc/$1/ns/mnt" 2>/dev/null) || return 0
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$ns" ]] && echo "${p#/proc/}"
    done
    return 0
}

do_stop() {
    local pid members i
    pid=$(ns_pid)
    [[ -n $pid ]] || {
        rm -f "$dir/run/ns.pid"
        return 0
    }
    # Only the processes of our own namespace: its first shell, authdaemond,
    # couriertcpd, the sessions, gam_server.
    members=$(ns_members "$pid")
    # shellcheck disable=SC2086
    kill -TERM $members 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        [[ -z $(ns_members "$pid") ]] && break
        sleep 0.1
    done
    members=$(ns_members "$pid")
    if [[ -n $members ]]; then
        echo "courier.sh: processes $members did not exit in ${STOP_TIMEOUT}s, killing them" >&2
        # shellcheck disable=SC2086
        kill -KILL $members 2>/dev/null || true
    fi
    rm -f "$dir/run/ns.pid"
}

# Runs inside the private mount namespace (`courier.sh inside DIR ROOT`): mounts,
# users, then the daemons; waits for them.
inside() {
    dir=$1
    local root=$2
    mount --make-rprivate /
    mount -t overlay overlay -o "lowerdir=$root/usr:/usr" /usr
    mount -t overlay overlay -o "lowerdir=$dir/etc-top:$root/etc:/etc" /etc
    mount --bind "$dir/etc" /etc/courier
    mount --bind "$dir/run" /run
    mkdir -p /run/courier/authdaemon

    makeuserdb >"$dir/makeuserdb.log" 2>&1 || die "makeuserdb failed, see $dir/makeuserdb.log"
    /usr/lib/courier/makedat -src=/etc/courier/imapaccess -file=/etc/courier/imapaccess.dat \
        -tmp=/etc/courier/imapaccess.tmp -cidr >"$dir/makedat.log" 2>&1 ||
        die "makedat imapaccess failed, see $dir/makedat.log"

    # authdaemond, as /usr/sbin/authdaemond would start it (minus courierlogger).
    (
        set -a
        # shellcheck source=/dev/null
        . /etc/courier/authdaemonrc
        exec /usr/lib/courier/courier-authlib/authdaemond
    ) </dev/null >>"$dir/authdaemond.log" 2>&1 &

    # couriertcpd for plain IMAP (STARTTLS offered) and for implicit TLS, with the
    # same environment as Debian's /usr/lib/courier/imapd and imapd-ssl scripts.
    env -i /bin/sh -c 'set -a; prefix=/usr; exec_prefix=/usr; sbindir=/usr/sbin; bindir=/usr/bin
        . /etc/courier/imapd; . /etc/courier/imapd-ssl; IMAP_STARTTLS=$IMAPDSTARTTLS
        exec /usr/sbin/couriertcpd -address=$ADDRESS -maxprocs=$MAXDAEMONS \
            -maxperip=$MAXPERIP -access=$IMAPACCESSFILE.dat $TCPDOPTS \
            $PORT /usr/lib/courier/courier/imaplogin /usr/bin/imapd $MAILDIRPATH' \
        </dev/null >>"$dir/imapd.log" 2>&1 &
    env -i /bin/sh -c 'set -a; prefix=/usr; exec_prefix=/usr; sbindir=/usr/sbin; bindir=/usr/bin
        . /etc/courier/imapd; . /etc/courier/imapd-ssl; IMAP_TLS=1
        exec /usr/sbin/couriertcpd -address=$SSLADDRESS -maxprocs=$MAXDAEMONS \
            -maxperip=$MAXPERIP -access=$IMAPACCESSFILE.dat $TCPDOPTS \
            $SSLPORT $COURIERTLS -server -tcpd -user=courier \
            /usr/lib/courier/courier/imaplogin /usr/bin/imapd $MAILDIRPATH' \
        </dev/null >>"$dir/imapd-ssl.log" 2>&1 &
    wait
}

do_start() {
    [[ $(id -u) == 0 ]] || die "run as root (it needs a private mount namespace)"
    peer_need_tools unshare mount setsid perl openssl python3 dpkg-deb
    getent passwd "$MAIL_USER" >/dev/null || die "system user '$MAIL_USER' missing"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    do_stop

    local root
    root=$(courier_root)

    # A fresh server every start: empty mailboxes, known users.
    rm -rf "${dir:?}/etc" "$dir/etc-top" "$dir/run" "$dir/mail" "$dir/env" "$dir"/*.log.old
    for f in authdaemond imapd imapd-ssl makeuserdb makedat; do
        [[ -f $dir/$f.log ]] && mv "$dir/$f.log" "$dir/$f.log.old"
    done
    # The mail user must reach DIR (mktemp -d makes it 0700 root).
    chmod 755 "$dir"
    mkdir -p "$dir/etc" "$dir/run" "$dir/mail"

    peer_cert "$dir"
    # Courier wants the key and the certificate in one file, readable by the user
    # couriertls drops to ("courier", see etc-top below).
    cat "$dir/key.pem" "$dir/cert.pem" >"$dir/courier.pem"
    chown "$MAIL_USER" "$dir/courier.pem"
    chmod 600 "$dir/courier.pem"

    local mail_uid mail_gid u hash
    mail_uid=$(id -u "$MAIL_USER")
    mail_gid=$(id -g "$MAIL_USER")
    : >"$dir/etc/userdb"
    chmod 600 "$dir/etc/userdb"
    for u in $USERS; do
        mkdir -p "$dir/mail/$u/Maildir"/{cur,new,tmp}
        hash=$(openssl passwd -6 "${u}pw")
        printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' "$u" "$mail_uid" "$mail_gid" \
            "$dir/mail/$u" "$dir/mail/$u/Maildir" "$hash" >>"$dir/etc/userdb"
    done
    chown -R "$MAIL_USER:$(id -gn "$MAIL_USER")" "$dir/mail"
    : >"$dir/etc/imapaccess"

    # couriertls drops to the compiled-in user "courier" (for STARTTLS too), which
    # the packages' postinst would add. Inside the namespace only, /etc/passwd and
    # /etc/group gain it, as an alias of the mail user (so it can read the key).
    mkdir -p "$dir/etc-top"
    {
        grep -v '^courier:' /etc/passwd
        echo "courier:x:$mail_uid:$mail_gid:Courier (imapspec test alias):/nonexistent:/usr/sbin/nologin"
    } >"$dir/etc-top/passwd"
    {
        grep -v '^courier:' /etc/group
        echo "courier:x:$mail_gid:"
    } >"$dir/etc-top/group"
    chmod 644 "$dir/etc-top/passwd" "$dir/etc-top/group"

    local imap_port imaps_port
    read -r imap_port imaps_port < <(peer_free_ports 2)
    [[ -n $imap_port && -n $imaps_port ]] || die "could not pick free ports"

    # The package's own files, then what differs for a private loopback instance.
    cp "$root/etc/courier/imapd" "$root/etc/courier/imapd-ssl" "$root/etc/courier/authdaemonrc" "$dir/etc/"
    cat >>"$dir/etc/imapd" <<EOF

# --- Added by tests/courier/courier.sh (rewritten on every start) ---
ADDRESS=127.0.0.1
PORT=$imap_port
# Tests open dozens of concurrent sessions per user from 127.0.0.1.
MAXDAEMONS=400
MAXPERIP=400
IMAPACCESSFILE=/etc/courier/imapaccess
IMAP_ULIMITD=
EOF
    cat >>"$dir/etc/imapd-ssl" <<EOF

# --- Added by tests/courier/courier.sh (rewritten on every start) ---
SSLADDRESS=127.0.0.1
SSLPORT=$imaps_port
TLS_CERTFILE=$dir/courier.pem
TLS_DHPARAMS=
TLS_CACHEFILE=
EOF
    cat >>"$dir/etc/authdaemonrc" <<EOF

# --- Added by tests/courier/courier.sh (rewritten on every start) ---
authmodulelist="authuserdb"
EOF

    # setsid: the namespace's first process leads its own session, detached from
    # the caller's terminal; its output never goes to the caller's pipes.
    setsid unshare -m bash "${BASH_SOURCE[0]}" inside "$dir" "$root" \
        </dev/null >>"$dir/ns.log" 2>&1 &
    echo $! >"$dir/run/ns.pid.tmp"
    # run/ is mounted over inside the namespace, but this is the outer run/.
    mv "$dir/run/ns.pid.tmp" "$dir/run/ns.pid"

    if ! peer_wait_greeting "$imap_port" "$START_TIMEOUT"; then
        echo "courier.sh: no '* OK' greeting on 127.0.0.1:$imap_port within ${START_TIMEOUT}s" >&2
        tail -n 30 "$dir/ns.log" "$dir/authdaemond.log" "$dir/imapd.log" >&2 2>/dev/null || true
        do_stop
        exit 1
    fi
    # imaplogin sleeps 5 s after a failed login (compiled in, no setting).
    peer_env "$dir" COURIER "$imap_port" "$imaps_port" "$USERS" IMAPSPEC_COURIER_LOGIN_FAILURE_DELAY=5
}

if [[ ${1:-} == inside && $# == 3 ]]; then
    inside "$2" "$3"
    exit 0
fi
peer_main "$@"
