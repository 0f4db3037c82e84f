//! Replay throughput on the bundled medium s390 trace: preparing the
//! trace (parse, queue places, unique modaliases) as the baseline, and
//! the whole replay (prepare, real lookups on the pool, simulation,
//! report) measured in the same run. Throughput is in events.

use std::path::Path;

use coldplug::policy::kernel::PolicyKernel;
use coldplug::policy::Config;
use coldplug::resolve::Backend;
use coldplug::sim::prepare::prepare;
use coldplug::sim::replay::{replay, OuterWall, Settings};
use coldplug::sim::CostModel;
use coldplug::trace::Format;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trace =
        std::fs::read(root.join("traces/generated/s390-medium-6.12.trace"))
            .unwrap();
    let dir = root.join("traces/kernels/debian-6.12.107-s390x");
    let kernel = PolicyKernel::open(
        &dir,
        Backend::Compiled,
        Config::load(Some(&dir), &[]),
        &[],
    )
    .unwrap();
    let events =
        prepare(&trace, Format::Coldplug, true, None).unwrap().events.len();
    let mut g = c.benchmark_group("replay-medium-6.12");
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("prepare", |b| {
        b.iter(|| {
            prepare(&trace, Format::Coldplug, true, None).unwrap().events.len()
        })
    });
    let settings = Settings {
        workers: 20,
        threads: 2,
        cost: CostModel::default(),
        rules: None,
        progress: None,
    };
    g.bench_function("replay", |b| {
        b.iter(|| {
            let arena = bumpalo::Bump::new();
            let mut p = prepare(&trace, Format::Coldplug, true, None).unwrap();
            replay(&mut p, &kernel, &settings, &arena, OuterWall::default())
                .simulated_coldplug_ms
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
