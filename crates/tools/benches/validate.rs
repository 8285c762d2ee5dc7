//! The editor's per-keystroke cost, natively: `berth_tools::validate` (validation, UTF-16 spans
//! and the highlight HTML) of task definitions with 1, 10 and 100 containers, and
//! `berth_tools::explain` of one task over 5,000 container instances. The same inputs
//! (`berth_tools::bench_fixture`) are timed in Chromium by `e2e/bench/tools.mjs`; BENCHMARKS.md
//! puts the two side by side.
//!
//! Run with `cargo bench -p berth-tools --bench validate` (plain timing, no harness: median of
//! N calls after a warm-up). `-- --quick` takes fewer samples; `-- --json` prints one JSON object
//! instead of the table (what `e2e/bench/tools.mjs` reads to compute the wasm/native ratio).

use std::hint::black_box;
use std::time::Instant;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

/// Median milliseconds per call of `f` over `samples` calls, after `samples / 5 + 1` warm-ups.
fn time(samples: usize, mut f: impl FnMut() -> usize) -> f64 {
    for _ in 0..samples / 5 + 1 {
        black_box(f());
    }
    let xs = (0..samples)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(xs)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let json = std::env::args().any(|a| a == "--json");
    // `cargo test --benches` runs bench binaries without `--bench`: keep that cheap.
    let in_test = !std::env::args().any(|a| a == "--bench");
    let n = if quick || in_test { 5 } else { 101 };
    let mut rows = Vec::new();
    for containers in [1, 10, 100] {
        let text = berth_tools::bench_fixture("taskdef", containers);
        let ms = time(n, || berth_tools::validate(black_box(&text), "").len());
        rows.push((format!("validate{containers}"), text.len(), ms));
    }
    let instances = if in_test { 50 } else { 5000 };
    let input = berth_tools::bench_fixture("cluster", instances);
    let ms = time(n.min(31), || berth_tools::explain(black_box(&input)).len());
    rows.push((format!("explain{instances}"), input.len(), ms));

    if json {
        let fields: Vec<String> = rows
            .iter()
            .map(|(name, bytes, ms)| format!("\"{name}\": {{\"bytes\": {bytes}, \"ms\": {ms:.4}}}"))
            .collect();
        println!("{{{}}}", fields.join(", "));
        return;
    }
    println!("| Measure | Input | Median per call (native) |");
    println!("|---|---:|---:|");
    for (name, bytes, ms) in rows {
        println!("| {name} | {bytes} bytes | {ms:.3} ms |");
    }
}
