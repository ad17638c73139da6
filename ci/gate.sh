#!/usr/bin/env bash
# imapspec release gate: run the bundled scenarios (or your own) against an IMAP
# server and pass or fail the pipeline on the result.
#
#   ci/gate.sh [--server URL] [--imaps URL] [--insecure]
#              [--user U --password P]... [--accounts FILE] [--admin USER:PASS]
#              [--baseline FILE] [--server-name NAME] [--partition K/N]
#              [--out DIR] [-- EXTRA imapspec run ARGS / SCENARIO PATHS]
#
# Without --server it runs imapspec's embedded reference server (a self-test of
# the pipeline). imapspec is $IMAPSPEC if set, else `imapspec` on PATH.
# Writes DIR/report.json, DIR/report.xml (JUnit), DIR/report.html, DIR/report.md
# and DIR/transcripts/ (DIR defaults to ./imapspec-report), then prints one
# "report KIND PATH" line per report that exists.
#
# --baseline FILE: known deviations (TOML, [[deviation]] entries with `check` or
#   `scenario`, optional `server`, and `reason`) no longer fail the gate, but a new
#   finding does, and so does a listed deviation that no longer occurs.
# --server-name NAME: the name reports and baseline `server` entries use.
# --partition K/N: run only share K of N (for sharded runs; join the JSON reports
#   with `imapspec report merge`).
# These three are passed to `imapspec run` as they are.
#
# Exit status, imapspec's own:
#   0  every scenario passed (skipped and inconclusive are not failures)
#   1  a check or expectation failed (a finding not covered by the baseline, or a
#      baseline entry that no longer occurs)
#   2  bad usage: an unknown option, a missing value, an unreadable baseline or
#      accounts file, imapspec not found, or a bad scenario file
#   3  the server could not be reached or set up
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

bad_usage() {
    echo "gate.sh: $*" >&2
    echo "gate.sh: run 'ci/gate.sh --help' for the options" >&2
    exit 2
}

out=imapspec-report
run_args=()
extra=()
# One value after an option; $2 is the option's name, for the message.
need_value() {
    [[ $1 -ge 2 ]] || bad_usage "$2 needs a value"
}

while [[ $# -gt 0 ]]; do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --server | --imaps | --user | --password | --admin | --server-name)
        need_value $# "$1"
        run_args+=("$1" "$2")
        shift 2
        ;;
    --accounts | --baseline)
        need_value $# "$1"
        [[ -r $2 && -f $2 ]] || bad_usage "$1 $2: no such readable file"
        run_args+=("$1" "$2")
        shift 2
        ;;
    --partition)
        need_value $# "$1"
        [[ $2 =~ ^([0-9]+)/([0-9]+)$ ]] || bad_usage "--partition $2: want K/N, e.g. 2/4"
        ((BASH_REMATCH[2] >= 1 && BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= BASH_REMATCH[2])) ||
            bad_usage "--partition $2: want 1 <= K <= N"
        run_args+=("$1" "$2")
        shift 2
        ;;
    --insecure)
        run_args+=("$1")
        shift
        ;;
    --out)
        need_value $# "$1"
        out=$2
        shift 2
        ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    *) bad_usage "unknown option '$1' (imapspec run's own options go after --)" ;;
    esac
done

if [[ -n ${IMAPSPEC:-} ]]; then
    [[ -x $IMAPSPEC ]] || bad_usage "IMAPSPEC=$IMAPSPEC is not an executable file"
    bin=$IMAPSPEC
elif command -v imapspec >/dev/null 2>&1; then
    bin=$(command -v imapspec)
else
    bad_usage "imapspec not found: put it on PATH or set IMAPSPEC=/path/to/imapspec"
fi

mkdir -p "$out" || bad_usage "--out $out: cannot create the folder"
rm -f "$out/report.json" "$out/report.xml" "$out/report.html" "$out/report.md"

status=0
"$bin" run "${run_args[@]}" \
    --report-json "$out/report.json" --report-junit "$out/report.xml" \
    --report-html "$out/report.html" --report-md "$out/report.md" \
    --transcripts "$out/transcripts" "${extra[@]}" || status=$?

for kind in json:report.json junit:report.xml html:report.html markdown:report.md; do
    [[ -f $out/${kind#*:} ]] && echo "report ${kind%%:*} $out/${kind#*:}"
done
case $status in
0) echo "gate.sh: passed" ;;
1) echo "gate.sh: FAILED (a check or expectation failed; see the reports)" ;;
2) echo "gate.sh: bad usage or a bad scenario file (exit 2)" ;;
3) echo "gate.sh: the server could not be reached or set up (exit 3)" ;;
*) echo "gate.sh: imapspec exited $status" ;;
esac
exit "$status"
