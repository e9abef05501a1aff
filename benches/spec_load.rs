//! Load time of real descriptions: GitHub's REST description (13 MB JSON and its YAML form,
//! fetched by `scripts/fetch-large-specs.sh`) and a small one, through `spec::load`, beside
//! the bare parsers (serde_json into a `Value`, saphyr into `MarkedYaml`) for reference.
//!
//! `cargo bench --bench spec_load`

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use saphyr::LoadableYamlNode;

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("spec_load");
    g.sample_size(10).measurement_time(Duration::from_secs(10));

    let small = specs().join("swagger-petstore3.yaml");
    g.throughput(Throughput::Bytes(std::fs::metadata(&small).unwrap().len()));
    g.bench_function("petstore3.yaml", |b| {
        b.iter(|| shadowscan::spec::load(&small).unwrap())
    });

    let json = specs().join("large/api.github.com.json");
    let yaml = specs().join("large/api.github.com.yaml");
    if !json.exists() {
        eprintln!("specs/large/ is empty: run `bash scripts/fetch-large-specs.sh` for the GitHub benchmarks");
        return;
    }
    let text = std::fs::read_to_string(&json).unwrap();
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("github.json/spec::load", |b| {
        b.iter(|| shadowscan::spec::load(&json).unwrap())
    });
    g.bench_function("github.json/serde_json::Value (reference)", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(&text).unwrap())
    });
    if yaml.exists() {
        let ytext = std::fs::read_to_string(&yaml).unwrap();
        g.throughput(Throughput::Bytes(ytext.len() as u64));
        g.bench_function("github.yaml/spec::load", |b| {
            b.iter(|| shadowscan::spec::load(&yaml).unwrap())
        });
        g.bench_function("github.yaml/saphyr MarkedYaml (reference)", |b| {
            b.iter(|| saphyr::MarkedYaml::load_from_str(&ytext).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
