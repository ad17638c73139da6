#!/usr/bin/env bash
# Run a private Cyrus IMAP server on loopback as a test peer for imapspec.
#
#   tests/cyrus/cyrus.sh start DIR   # (re)start; prints IMAPSPEC_CYRUS_* lines
#   tests/cyrus/cyrus.sh stop DIR    # stop the instance started from DIR
#
# Needs, as root: `apt-get install --no-install-recommends cyrus-common sasl2-bin
# openssl python3` (these do not conflict with Dovecot; without
# --no-install-recommends, cyrus-common's "Recommends: cyrus-imapd | ..." installs
# cyrus-imapd too). imapd and idled come from the cyrus-imapd .deb, which is only
# unpacked, never installed: installing it would remove dovecot-imapd (both provide
# and conflict with imap-server). master, lmtpd and ctl_cyrusdb are cyrus-common's.
# Set CYRUS_IMAPD_ROOT to a folder where that .deb was already unpacked
# (`dpkg-deb -x cyrus-imapd_*.deb ROOT`) to reuse it; otherwise
# `apt-get download cyrus-imapd` (the version of cyrus-common) fetches it into
# DIR/pkg once.
#
# Everything (config, certificate, SASL users, mail, sockets) lives in DIR;
# /etc/imapd.conf, /etc/cyrus.conf and /var/lib/cyrus are neither read nor changed.
# Cyrus logs only to syslog (which may not exist); the master's own stdout/stderr go
# to DIR/master.log. Set CYRUS_TELEMETRY=1 to have imapd write every session's
# protocol lines to DIR/conf/log/USER/ (Cyrus "telemetry" logging).
#
# Users (SASL, in DIR/sasldb2): alice/alicepw, bob/bobpw, load/loadpw, and
# admin/adminpw, the Cyrus admin (may SETQUOTA, SETACL, see every user's mailboxes).
# After `start`, DIR/env holds (see tests/peers/common.sh):
#   IMAPSPEC_CYRUS_IMAP=imap://127.0.0.1:PORT     (plain, STARTTLS offered)
#   IMAPSPEC_CYRUS_IMAPS=imaps://127.0.0.1:PORT   (implicit TLS, self-signed)
#   IMAPSPEC_CYRUS_LMTP=lmtp://127.0.0.1:PORT     (delivery, no authentication)
#   IMAPSPEC_CYRUS_ADMIN_USER=admin, IMAPSPEC_CYRUS_ADMIN_PASSWORD=adminpw
#   IMAPSPEC_CYRUS_USERS=alice,bob,load, IMAPSPEC_CYRUS_PASSWORDS=alicepw,...
set -euo pipefail

START_TIMEOUT=30 # seconds to wait for the "* OK" greeting
STOP_TIMEOUT=10  # seconds to wait for the master to exit before SIGKILL
SERVERNAME=imapspec-cyrus # SASL realm of the test users = Cyrus servername
USERS="alice bob load admin"

export PEER=cyrus.sh # named in messages by common.sh
# shellcheck source-path=SCRIPTDIR source=../peers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../peers/common.sh"

do_stop() {
    # "It kills itself and all child processes when it receives a SIGTERM." (master(8))
    peer_stop_pid "$dir/run/master.pid" "-C $dir/imapd.conf" "$STOP_TIMEOUT"
}

# Prints the folder holding usr/lib/cyrus/bin/imapd from the cyrus-imapd .deb.
imapd_root() {
    if [[ -n ${CYRUS_IMAPD_ROOT:-} ]]; then
        [[ -x $CYRUS_IMAPD_ROOT/usr/lib/cyrus/bin/imapd ]] ||
            die "CYRUS_IMAPD_ROOT=$CYRUS_IMAPD_ROOT has no usr/lib/cyrus/bin/imapd"
        (cd "$CYRUS_IMAPD_ROOT" && pwd)
        return 0
    fi
    local pkg="$dir/pkg"
    if [[ ! -x $pkg/root/usr/lib/cyrus/bin/imapd ]]; then
        rm -rf "$pkg"
        mkdir -p "$pkg/root"
        # The same version as cyrus-common: imapd links its libcyrus*.so.
        local want
        want=$(dpkg-query -W -f '${Version}' cyrus-common)
        # apt-get download writes into the current folder; _apt must be able to
        # write there or apt warns and downloads unsandboxed (harmless).
        (cd "$pkg" && apt-get download "cyrus-imapd=$want") >"$pkg/download.log" 2>&1 ||
            die "apt-get download cyrus-imapd=$want failed, see $pkg/download.log"
        dpkg-deb -x "$pkg"/cyrus-imapd_*.deb "$pkg/root" ||
            die "dpkg-deb -x of $(echo "$pkg"/cyrus-imapd_*.deb) failed"
    fi
    echo "$pkg/root"
}

do_start() {
    [[ -x /usr/lib/cyrus/bin/master ]] ||
        missing "cyrus-common is not installed: apt-get install -y --no-install-recommends cyrus-common sasl2-bin"
    command -v saslpasswd2 >/dev/null ||
        missing "saslpasswd2 is not installed: apt-get install -y --no-install-recommends sasl2-bin"
    peer_need_tools openssl python3
    getent passwd cyrus >/dev/null || die "system user 'cyrus' missing (reinstall cyrus-common)"
    # The master drops to the compiled-in "cyrus" user after binding its sockets;
    # only root (or cyrus itself) can start it.
    local uid
    uid=$(id -u)
    [[ $uid == 0 || $uid == $(id -u cyrus) ]] || die "run as root or as the cyrus user"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd) # Cyrus wants absolute paths
    # Unix sockets (idle, lmtp) live under DIR: sun_path holds ~107 bytes.
    ((${#dir} <= 60)) || die "DIR path too long for Unix sockets (${#dir} > 60 chars): $dir"
    do_stop

    local root bin=/usr/lib/cyrus/bin
    root=$(imapd_root)
    local imapd="$root/usr/lib/cyrus/bin/imapd" idled="$root/usr/lib/cyrus/bin/idled"

    # A fresh server every start: the tests expect empty mailboxes and known users.
    rm -rf "$dir/conf" "$dir/spool" "$dir/run" "$dir/sasldb2" "$dir/env" "$dir/master.log"
    # The cyrus user must reach DIR (mktemp -d makes it 0700 root).
    chmod 755 "$dir"
    mkdir -p "$dir/run" "$dir/spool" "$dir/conf"/{db,socket,proc,lock,log,quota,user,sieve,msg,ptclient}

    peer_cert "$dir"

    local u
    for u in $USERS; do
        printf '%s' "${u}pw" | saslpasswd2 -p -c -f "$dir/sasldb2" -u "$SERVERNAME" "$u" ||
            die "saslpasswd2 failed for $u"
    done
    if [[ ${CYRUS_TELEMETRY:-0} == 1 ]]; then
        for u in $USERS; do mkdir -p "$dir/conf/log/$u"; done
    fi

    local imap_port imaps_port lmtp_port
    read -r imap_port imaps_port lmtp_port < <(peer_free_ports 3)
    [[ -n $imap_port && -n $imaps_port && -n $lmtp_port ]] || die "could not pick free ports"

    # altnamespace and unixhierarchysep are left at Cyrus's own defaults (both on
    # since 3.0: personal folders beside INBOX, "/" as separator); Debian's
    # /etc/imapd.conf turns both off, but that is a packaging choice.
    cat >"$dir/imapd.conf" <<EOF
# Generated by tests/cyrus/cyrus.sh; do not edit (rewritten on every start).
configdirectory: $dir/conf
defaultpartition: default
partition-default: $dir/spool
servername: $SERVERNAME
admins: admin

# Authentication: SASL users in a private sasldb, plain-text passwords over
# unencrypted connections allowed (loopback tests only).
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $dir/sasldb2
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
# Tests try bad passwords on purpose (the default pauses 3 s after each).
failedloginpause: 0
# Many concurrent sessions per user (0 = no limit; these are the defaults).
maxlogins_per_user: 0
maxlogins_per_host: 0

tls_server_cert: $dir/cert.pem
tls_server_key: $dir/key.pem

# DELETE then CREATE of the same name at once must work (the default "delayed"
# renames deleted mailboxes away and cleans up later). Expunge stays at Cyrus's
# default ("delayed": index records are kept for QRESYNC until cyr_expire).
delete_mode: immediate

# IDLE: imapd asks idled (DAEMON in cyrus.conf) for change notices; without it
# imapd would only poll every imapidlepoll (60 s).
idlesocket: $dir/conf/socket/idle
lmtpsocket: $dir/conf/socket/lmtp
notifysocket: $dir/conf/socket/notify

umask: 077
EOF

    cat >"$dir/cyrus.conf" <<EOF
# Generated by tests/cyrus/cyrus.sh; do not edit (rewritten on every start).
START {
  recover  cmd="$bin/ctl_cyrusdb -C $dir/imapd.conf -r"
}
SERVICES {
  imap   cmd="$imapd -C $dir/imapd.conf" listen="127.0.0.1:$imap_port" proto="tcp4" prefork=1 maxchild=600
  imaps  cmd="$imapd -C $dir/imapd.conf -s" listen="127.0.0.1:$imaps_port" proto="tcp4" prefork=1 maxchild=600
  lmtp   cmd="$bin/lmtpd -C $dir/imapd.conf -a" listen="127.0.0.1:$lmtp_port" proto="tcp4" prefork=0 maxchild=50
}
EVENTS {
}
DAEMON {
  idled  cmd="$idled -C $dir/imapd.conf"
}
EOF

    chown -R cyrus:mail "$dir/conf" "$dir/spool" "$dir/run" "$dir/sasldb2" "$dir/key.pem" "$dir/cert.pem"
    chmod 640 "$dir/sasldb2" "$dir/key.pem"
    chmod 644 "$dir/imapd.conf" "$dir/cyrus.conf" "$dir/cert.pem"

    # -d: daemon mode (detaches, closes stdin/stdout/stderr); -L: its own output;
    # -l: a listen backlog for scenarios that open hundreds of sessions at once.
    # Redirect anyway so a caller's $(...) or pipe sees EOF.
    if ! "$bin/master" -C "$dir/imapd.conf" -M "$dir/cyrus.conf" -p "$dir/run/master.pid" \
        -l 1024 -L "$dir/master.log" -d </dev/null >>"$dir/master.stdout" 2>&1; then
        cat "$dir/master.stdout" "$dir/master.log" >&2 2>/dev/null || true
        die "master failed to start (config $dir/imapd.conf, $dir/cyrus.conf)"
    fi

    if ! peer_wait_greeting "$imap_port" "$START_TIMEOUT"; then
        echo "cyrus.sh: no '* OK' greeting on 127.0.0.1:$imap_port within ${START_TIMEOUT}s" >&2
        tail -n 30 "$dir/master.stdout" "$dir/master.log" >&2 2>/dev/null || true
        do_stop
        exit 1
    fi

    # Each user's INBOX is created by the admin (as cyradm would), with the admin
    # also holding full rights so it can clean up.
    if ! python3 - "$imap_port" $USERS <<'EOF' >"$dir/mkusers.log" 2>&1; then
import imaplib, sys
port, users = int(sys.argv[1]), sys.argv[2:]
c = imaplib.IMAP4("127.0.0.1", port, timeout=20)
c.login("admin", "adminpw")
for u in users:
    if u == "admin":
        continue
    typ, data = c.create(f"user/{u}")
    if typ != "OK":
        sys.exit(f"CREATE user/{u}: {typ} {data}")
    print(f"CREATE user/{u}: OK")
c.logout()
EOF
        cat "$dir/mkusers.log" >&2
        do_stop
        die "creating the users' INBOXes failed"
    fi

    # The admin is not a test user of the scenarios: it is named apart.
    peer_env "$dir" CYRUS "$imap_port" "$imaps_port" "${USERS% admin}" \
        "IMAPSPEC_CYRUS_LMTP=lmtp://127.0.0.1:$lmtp_port" \
        IMAPSPEC_CYRUS_ADMIN_USER=admin IMAPSPEC_CYRUS_ADMIN_PASSWORD=adminpw
}

peer_main "$@"
