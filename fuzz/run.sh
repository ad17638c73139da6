#!/usr/bin/env bash
# Runs one AFL++ target for a bounded time: fuzz/run.sh TARGET SECONDS [OUT]
# TARGET: harness_stream | server_command. Crashes land in OUT/default/crashes;
# copy a crasher into fuzz/corpus/<target-dir>/ once it is fixed, so CI replays it
# (tests/fuzz_corpus.rs). Needs: cargo install cargo-afl (builds AFL++ on first use).
set -euo pipefail
target=${1:?target: harness_stream or server_command}
seconds=${2:?seconds to run}
cd "$(dirname "$0")"
case $target in
    harness_stream) corpus=corpus/harness ;;
    server_command) corpus=corpus/server ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
out=${3:-out/$target}
mkdir -p "$out"
cargo afl build --release --bin "$target"
# -V: stop after SECONDS; AFL_NO_UI: plain log lines; the server target needs a
# generous per-input timeout (-t, ms) because each input is a loopback session.
AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    cargo afl fuzz -V "$seconds" -t 20000 -i "$corpus" -o "$out" "target/release/$target"
echo "crashes: $(find "$out" -path '*crashes/id*' | wc -l)"
