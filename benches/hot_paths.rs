//! Micro-benchmarks of the hot pieces of the data path: validating an ingest body,
//! building a batch body, and routing events to webhooks. `cargo bench --bench hot_paths`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mailhooks::actors::routes::RouteTable;
use mailhooks::delivery::payload::batch_body;
use mailhooks::model::{parse_ingest_body, AccountId, BatchId, Source, TargetUrl, Webhook};

/// An event of about 1 KB, shaped like the platform's.
fn event(i: usize) -> String {
    format!(
        r#"{{"status":"open","eventId":"{i}","messageId":"msg-{i:08}","subject":"Holiday deals are here!","sender":"sender@example.com","sendingIp":"18.236.253.72","recipient":"recipient-{i}@example.com","recipientMeta":"{{\"customKey\":\"customValue\"}}","ipAddress":"18.236.253.72","mailboxProvider":"Gsuite","recipientDomain":"example.com","recipientType":"cc","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.118 Safari/537.36","geoIp":"{{\"country\":\"US\",\"region\":\"MD\",\"city\":\"Columbia\",\"latitude\":39.1749,\"longitude\":-76.8375,\"zip\":21046,\"postal_code\":\"21046\"}}","source":"source-{source}","timestamp":1460989507000,"injectionTime":1460989507000,"padding":"{pad}"}}"#,
        source = i % 1000,
        pad = "x".repeat(300)
    )
}

fn body(n: usize) -> String {
    format!("[{}]", (0..n).map(event).collect::<Vec<_>>().join(","))
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    for n in [1usize, 100, 1000] {
        let body = body(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &body, |b, body| {
            b.iter(|| parse_ingest_body(black_box(body.as_bytes())).map(|events| events.len()))
        });
    }
    group.finish();
}

fn batch_building(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_body");
    let id = BatchId::generate();
    for n in [1usize, 100, 500] {
        let events: Vec<Arc<str>> = (0..n).map(|i| Arc::from(event(i))).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &events, |b, events| {
            b.iter(|| batch_body(black_box(&id), 3, black_box(events)).len())
        });
    }
    group.finish();
}

fn webhook(account: &AccountId, i: usize) -> Webhook {
    let url = TargetUrl::parse("https://example.com/hook").expect("valid URL");
    Webhook {
        source: Source::parse(&format!("source-{i}")),
        ..Webhook::new(account.clone(), format!("hook {i}"), url, 0)
    }
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_100_events");
    let account = AccountId::from_string("acc_bench");
    let events = parse_ingest_body(body(100).as_bytes()).expect("valid body");
    for webhooks in [1usize, 100, 1000] {
        let mut table = RouteTable::default();
        for i in 0..webhooks {
            table.upsert(&webhook(&account, i));
        }
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("webhooks", webhooks), &table, |b, table| {
            b.iter(|| table.route(black_box(&account), black_box(&events)).webhooks.len())
        });
    }
    group.finish();
}

criterion_group!(benches, validation, batch_building, routing);
criterion_main!(benches);
