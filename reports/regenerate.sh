#!/usr/bin/env bash
# Regenerates the published server × scenario matrix, reports/matrix.md and
# reports/matrix.html: every bundled scenario against the bundled reference
# server, Dovecot, Cyrus and Courier, each real server started privately on
# loopback by its own test script (tests/{dovecot,cyrus,courier}/*.sh; see
# ../shared/REAL-SERVERS.md for what they need). Run as root on Debian 12 with
# dovecot-imapd, cyrus-common and sasl2-bin installed, as .ci/run installs them:
#
#   bash reports/regenerate.sh            # about 10 minutes
#
# The runs are those CI does (.ci/run regenerates the matrix from them and
# fails when the statuses differ from the committed reports/matrix.md):
# Dovecot every scenario with --max-wait 700ms (tests/dovecot_scenarios.rs),
# Cyrus and Courier every scenario but iplanet/large-inbox-100k with
# --max-wait 20s (tests/real_peers.rs: the 100,000-message fill takes ~15 min
# on Cyrus and hours on Courier; reports/notes.toml says so in those cells).
# Capped waits make the 28- and 35-minute IDLE scenarios inconclusive, and
# the cell says so; the embedded server runs them in full on its compressed
# clock. Every cell that is not `passed` carries the reason the run gave; each
# real-server deviation was checked by hand against the RFC (the tables in
# tests/real_peers.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

# IMAPSPEC=path/to/imapspec uses that binary instead of building one.
if [[ -n ${IMAPSPEC:-} ]]; then
    BIN=$IMAPSPEC
else
    cargo build --release --quiet
    BIN=$PWD/target/release/imapspec
fi
WORK=$(mktemp -d)
# The servers run as their own users (dovecot, cyrus, courier): they must reach it.
chmod 755 "$WORK"
cleanup() {
    tests/dovecot/dovecot.sh stop "$WORK/dovecot" >/dev/null 2>&1 || true
    tests/cyrus/cyrus.sh stop "$WORK/cyrus" >/dev/null 2>&1 || true
    tests/courier/courier.sh stop "$WORK/courier" >/dev/null 2>&1 || true
    # KEEP_RUNS=DIR keeps the four JSON reports (to re-render with new notes:
    # imapspec report merge DIR/*.json --notes reports/notes.toml ...).
    if [[ -n ${KEEP_RUNS:-} ]]; then
        mkdir -p "$KEEP_RUNS" && cp "$WORK"/*.json "$KEEP_RUNS"/ 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# run_peer NAME PREFIX MAX_WAIT [SCENARIO...]: the suite against one started server.
run_peer() {
    local name=$1 prefix=$2 max_wait=$3
    shift 3
    local env=$WORK/$name/env imap imaps users passwords admin args=()
    imap=$(sed -n "s/^IMAPSPEC_${prefix}_IMAP=//p" "$env")
    imaps=$(sed -n "s/^IMAPSPEC_${prefix}_IMAPS=//p" "$env")
    users=$(sed -n "s/^IMAPSPEC_${prefix}_USERS=//p" "$env")
    passwords=$(sed -n "s/^IMAPSPEC_${prefix}_PASSWORDS=//p" "$env")
    admin=$(sed -n "s/^IMAPSPEC_${prefix}_ADMIN_USER=//p" "$env")
    [[ -n $imaps ]] && args+=(--imaps "$imaps")
    IFS=, read -r -a u <<<"$users"
    IFS=, read -r -a p <<<"$passwords"
    for i in 0 1; do
        args+=(--user "${u[$i]}" --password "${p[$i]}")
    done
    if [[ -n $admin ]]; then
        args+=(--admin "$admin:$(sed -n "s/^IMAPSPEC_${prefix}_ADMIN_PASSWORD=//p" "$env")")
    fi
    echo "--- $name ($imap)"
    "$BIN" run -q --server "$imap" --server-name "$name" --insecure --max-wait "$max_wait" \
        "${args[@]}" --report-json "$WORK/$name.json" "$@" || true
}

echo "--- reference (embedded)"
"$BIN" run -q --server-name reference --report-json "$WORK/reference.json" || true

tests/dovecot/dovecot.sh start "$WORK/dovecot" >/dev/null
run_peer dovecot DOVECOT 700ms
tests/dovecot/dovecot.sh stop "$WORK/dovecot" >/dev/null

mapfile -t chosen < <(find scenarios -name '*.toml' ! -path '*/iplanet/large-inbox-100k.toml' | sort)
tests/cyrus/cyrus.sh start "$WORK/cyrus" >/dev/null
run_peer cyrus CYRUS 20s "${chosen[@]}"
tests/cyrus/cyrus.sh stop "$WORK/cyrus" >/dev/null

tests/courier/courier.sh start "$WORK/courier" >/dev/null
run_peer courier COURIER 20s "${chosen[@]}"
tests/courier/courier.sh stop "$WORK/courier" >/dev/null

"$BIN" report merge "$WORK/reference.json" "$WORK/dovecot.json" "$WORK/cyrus.json" "$WORK/courier.json" \
    --notes reports/notes.toml --md reports/matrix.md --html reports/matrix.html
echo "wrote reports/matrix.md and reports/matrix.html"
