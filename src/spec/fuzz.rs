//! A bounded fuzzer over config.json parsing and validation (no nightly
//! toolchain needed, so it runs in CI): inputs from `fuzz/corpus/`, mutated
//! as bytes and as JSON values (ids of -1, huge numbers, NUL bytes, `..`,
//! wrong types), fed to `parse` and `validate::check`, which must answer
//! with a value or an error, never a panic. `BERTH_FUZZ_SECS` sets the
//! time (default 3 s), `BERTH_FUZZ_SEED` the seed (printed on failure).

use super::validate;
use serde_json::{json, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn interesting(r: &mut Rng) -> Value {
    let pick = [
        json!(-1),
        json!(4294967295u64),
        json!(4294967296u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0),
        json!(""),
        json!("\u{0}"),
        json!("a\u{0}b"),
        json!(".."),
        json!("/../../etc"),
        json!("relative"),
        json!("x".repeat(5000)),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!(["SCMP_ARCH_X86"]),
        json!({"type": "user"}),
        json!(1.5),
    ];
    pick[r.below(pick.len())].clone()
}

/// Replaces, removes or duplicates one randomly chosen node of `v`.
fn mutate_value(v: &mut Value, r: &mut Rng, depth: usize) {
    let descend = depth < 8 && r.below(4) != 0;
    match v {
        Value::Object(m) if !m.is_empty() && descend => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
            if let Some(child) = m.get_mut(&k) {
                mutate_value(child, r, depth + 1);
            }
        }
        Value::Array(a) if !a.is_empty() && descend => {
            let i = r.below(a.len());
            match r.below(5) {
                0 => {
                    let dup = a[i].clone();
                    a.push(dup);
                }
                1 => {
                    a.remove(i);
                }
                _ => mutate_value(&mut a[i], r, depth + 1),
            }
        }
        _ => *v = interesting(r),
    }
}

fn mutate_bytes(data: &mut Vec<u8>, r: &mut Rng) {
    if data.is_empty() {
        data.push(b'{');
        return;
    }
    let i = r.below(data.len());
    match r.below(4) {
        0 => data[i] ^= 1 << r.below(8),
        1 => data.insert(i, b"{}[]\",:0-\\\x00"[r.below(11)]),
        2 => {
            let end = (i + r.below(16)).min(data.len());
            data.drain(i..end);
        }
        _ => {
            let end = (i + r.below(32)).min(data.len());
            let piece = data[i..end].to_vec();
            let at = r.below(data.len());
            data.splice(at..at, piece);
        }
    }
}

/// One input through everything create does before touching the system.
fn exercise(data: &[u8]) {
    if let Ok(spec) = super::parse(data, "fuzz") {
        let _ = validate::check(spec);
    }
}

#[test]
fn config_parsing_and_validation_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus")
        .flatten()
        .map(|e| std::fs::read(e.path()).expect("corpus file"))
        .collect();
    assert!(!corpus.is_empty(), "the corpus is empty");
    let secs: u64 = std::env::var("BERTH_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("BERTH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("fuzz: seed {seed} (BERTH_FUZZ_SEED), {secs}s");
    let mut r = Rng(seed);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut runs = 0u64;
    for c in &corpus {
        exercise(c);
    }
    while std::time::Instant::now() < deadline {
        let base = &corpus[r.below(corpus.len())];
        let input = if r.below(2) == 0 {
            match serde_json::from_slice::<Value>(base) {
                Ok(mut v) => {
                    for _ in 0..=r.below(4) {
                        mutate_value(&mut v, &mut r, 0);
                    }
                    serde_json::to_vec(&v).unwrap_or_default()
                }
                Err(_) => base.clone(),
            }
        } else {
            let mut d = base.clone();
            for _ in 0..=r.below(8) {
                mutate_bytes(&mut d, &mut r);
            }
            d
        };
        exercise(&input);
        // Inputs that still parse join the pool, so mutations go deeper.
        if corpus.len() < 256 && serde_json::from_slice::<super::types::Spec>(&input).is_ok() {
            corpus.push(input);
        }
        runs += 1;
    }
    eprintln!("fuzz: {runs} inputs, no panic");
}
