//! Task-definition validation throughput against plain JSON parsing.
//!
//! Run with `cargo bench -p berth-core --bench validate`. Every file of
//! `testdata/corpus/taskdefs/*.json` whose report has no errors (the "valid corpus": 125 of the
//! 142 files) is processed once per iteration by each of:
//!
//! - `serde_json_value`: `serde_json::from_str::<serde_json::Value>` — the baseline;
//! - `json_parse`: `berth_core::json::parse` alone (the span-keeping tree the validator walks);
//! - `validate`: `berth_core::validate::validate_task_definition` with default options.
//!
//! All three report `Throughput::Bytes` over the same bytes, so their rates compare directly.
//! The goal: `validate` takes at most 3× the time of `serde_json_value`.
//!
//! The group `valid_corpus` measures wall time (criterion's default). On Linux the same three
//! benchmarks run again as `valid_corpus_cpu`, measured in CPU time of the benchmarking thread
//! (`/proc/thread-self/schedstat`), which stays meaningful on a machine shared with other
//! work, where wall time also counts the time spent waiting for a core. That group uses flat
//! sampling with 20 long samples, because the kernel's per-thread CPU time advances in ticks.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use berth_core::validate::{Options, validate_task_definition};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

/// The valid corpus: (file name, text), sorted by name.
fn valid_corpus() -> &'static [(String, String)] {
    static CORPUS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/taskdefs");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
                (
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    text,
                )
            })
            .collect();
        files.sort();
        let all = files.len();
        files.retain(|(_, text)| !validate_task_definition(text, &Options::default()).has_errors());
        let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
        eprintln!(
            "valid corpus: {} of {all} files, {bytes} bytes",
            files.len()
        );
        files
    })
}

fn run<M: Measurement>(c: &mut Criterion<M>, group: &str, coarse_clock: bool) {
    let corpus = valid_corpus();
    let bytes: u64 = corpus.iter().map(|(_, t)| t.len() as u64).sum();
    let options = Options::default();

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(bytes));
    if coarse_clock {
        // The kernel brings a running thread's CPU time up to date only at scheduler ticks and
        // switches, so every sample must span many ticks: 20 samples of ~0.5 s each.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(20)
            .measurement_time(Duration::from_secs(10));
    }
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for (_, text) in corpus {
                let v: serde_json::Value =
                    serde_json::from_str(black_box(text)).expect("valid JSON");
                black_box(v);
            }
        });
    });
    g.bench_function("json_parse", |b| {
        b.iter(|| {
            for (_, text) in corpus {
                black_box(berth_core::json::parse(black_box(text)).expect("valid JSON"));
            }
        });
    });
    g.bench_function("validate", |b| {
        b.iter(|| {
            for (_, text) in corpus {
                black_box(validate_task_definition(black_box(text), &options));
            }
        });
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    run(c, "valid_corpus", false);
}

/// CPU time of the calling thread: the first field of `/proc/thread-self/schedstat` (ns on a
/// CPU). Precise over long intervals only (see [`run`]); `unsafe_code` is forbidden, so no
/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
struct ThreadCpuTime;

impl ThreadCpuTime {
    fn now() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        s.split_whitespace().next()?.parse().ok()
    }
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        Self::now().unwrap_or(0)
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(Self::now().unwrap_or(0).saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter() // nanoseconds, shown like wall time
    }
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    if ThreadCpuTime::now().is_some() {
        run(c, "valid_corpus_cpu", true);
    }
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
