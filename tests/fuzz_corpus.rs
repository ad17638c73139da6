//! The bounded fuzzing run that CI does: every seed of the committed corpus
//! (`fuzz/corpus/`), then a fixed number of deterministic mutations of them,
//! through the same entry points the coverage-guided fuzzers in `fuzz/` use.
//! A panic anywhere (harness, or a server task: the hook aborts) or a hung server
//! fails the test. Long runs are `fuzz/run.sh`'s job, not CI's.

use std::path::{Path, PathBuf};

use imapspec::fuzzing::{self, ServerTarget};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 5,
        "corpus {} has too few seeds",
        dir.display()
    );
    seeds
}

/// xorshift64*: deterministic, so a failure here reproduces with the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes the mutator likes to insert: the protocol's own punctuation and numbers.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"{5}\r\n",
    b"{4294967296+}\r\n",
    b"(",
    b")",
    b"\"",
    b"\\",
    b"\r\n",
    b"\n",
    b"*",
    b"%",
    b"1:*",
    b"4294967295",
    b"0",
    b" ",
    b"[",
    b"]",
    b"<0.1>",
    b"UID ",
    b"* ",
    b"+ ",
    b"~{3}",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            3 if !data.is_empty() => {
                // Repeat a slice: long lines, repeated sets, nested parentheses.
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(32)).min(data.len());
                let piece = data[start..end].to_vec();
                for _ in 0..rng.below(64) {
                    data.splice(at..at, piece.iter().copied());
                }
            }
            _ => data.insert(at, rng.next() as u8),
        }
    }
    data
}

#[test]
fn harness_survives_corpus_and_mutations() {
    let seeds = corpus("harness");
    for (path, bytes) in &seeds {
        eprintln!("seed {}", path.display());
        fuzzing::harness_stream(bytes);
    }
    let mut rng = Rng(0x1ac0_ffee);
    for i in 0..20_000 {
        let (_, seed) = &seeds[i % seeds.len()];
        fuzzing::harness_stream(&mutate(&mut rng, seed));
    }
}

#[test]
fn server_survives_corpus_and_mutations() {
    fuzzing::abort_on_panic();
    let seeds = corpus("server");
    let mut target = match ServerTarget::new() {
        Ok(t) => t,
        Err(e) => panic!("runtime: {e}"),
    };
    for (path, bytes) in &seeds {
        eprintln!("seed {}", path.display());
        target.run(bytes);
    }
    // IMAPSPEC_FUZZ_SERVER_INPUTS raises the count for a longer run by hand.
    let inputs: usize = std::env::var("IMAPSPEC_FUZZ_SERVER_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let mut rng = Rng(0x5e4e_4e42);
    for i in 0..inputs {
        let (_, seed) = &seeds[i % seeds.len()];
        target.run(&mutate(&mut rng, seed));
    }
}
