#!/usr/bin/env bash
# The published matrix from the runs CI does: .ci/run sets IMAPSPEC_MATRIX_DIR,
# the real-server tests (tests/dovecot_scenarios.rs, tests/real_peers.rs) leave
# their JSON reports there, and this script adds the embedded reference run,
# merges the four into DIR/matrix.md and DIR/matrix.html, and compares the
# statuses with the committed reports/matrix.md. A difference fails: a server's
# behaviour, or imapspec's verdict on it, changed — read the new matrix, and if
# it is right, regenerate (bash reports/regenerate.sh) and commit it.
#
#   reports/from-ci.sh DIR [IMAPSPEC]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: reports/from-ci.sh DIR [IMAPSPEC]}
bin=${2:-target/release/imapspec}
for s in dovecot cyrus courier; do
    [[ -f $dir/$s.json ]] || { echo "from-ci.sh: no $dir/$s.json (did its test run?)" >&2; exit 1; }
done
"$bin" run -q --server-name reference --report-json "$dir/reference.json" || true
"$bin" report merge "$dir/reference.json" "$dir/dovecot.json" "$dir/cyrus.json" "$dir/courier.json" \
    --notes reports/notes.toml --md "$dir/matrix.md" --html "$dir/matrix.html" >/dev/null
# The status table: its rows, without the [n] references to the reasons.
statuses() { grep '^| `' "$1" | sed -E 's/ \[[0-9]+\]//g'; }
if ! diff <(statuses reports/matrix.md) <(statuses "$dir/matrix.md"); then
    echo "from-ci.sh: the statuses above differ from the committed reports/matrix.md (< committed, > this run); the new matrix is $dir/matrix.md" >&2
    exit 1
fi
echo "reports/matrix.md: statuses as committed ($dir/matrix.md, $dir/matrix.html)"
