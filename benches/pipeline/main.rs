//! The load-test harness: `cargo bench --bench pipeline` starts the engine in-process on
//! temporary SQLite files with real receivers on 127.0.0.1, drives it through its HTTP
//! API, and prints a table and one JSON line per scenario. Each scenario also measures its
//! physical baseline on this machine in the same run and prints the ratio.
//!
//! Size: `MAILHOOKS_BENCH_SIZE=quick` (default under `cargo bench` is `full`); under
//! `cargo test` it runs at `smoke` size as a check that the harness works.
//! Pick scenarios with `MAILHOOKS_BENCH_ONLY=latency,density`.
//!
//! Every scenario runs in a child process of this binary, so memory, threads and file
//! handles of one cannot colour the next.

mod receiver;
mod scenarios;
mod setup;

use std::process::Command;

use serde_json::Value;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Smoke,
    Quick,
    Full,
}

impl Size {
    fn parse(text: &str) -> Option<Size> {
        match text {
            "smoke" => Some(Size::Smoke),
            "quick" => Some(Size::Quick),
            "full" => Some(Size::Full),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Size::Smoke => "smoke",
            Size::Quick => "quick",
            Size::Full => "full",
        }
    }

    pub fn pick(self, smoke: usize, quick: usize, full: usize) -> usize {
        match self {
            Size::Smoke => smoke,
            Size::Quick => quick,
            Size::Full => full,
        }
    }
}

const SCENARIOS: [&str; 7] = ["durable_ingest", "end_to_end", "drain", "latency", "density", "isolation", "recovery"];

fn run_child(name: &str, size: Size) {
    let system = actix_rt::System::new();
    let report = system.block_on(async move {
        match name {
            "durable_ingest" => scenarios::ingest(size).await,
            "end_to_end" => scenarios::end_to_end(size).await,
            "drain" => scenarios::drain(size).await,
            "latency" => scenarios::latency(size).await,
            "density" => scenarios::density(size).await,
            "isolation" => scenarios::isolation(size).await,
            "recovery" => scenarios::recovery(size).await,
            "density_baseline" => scenarios::idle_actors(size).await,
            other => panic!("unknown scenario {other}"),
        }
    });
    println!("{}", report.json());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        let name = args.get(i + 1).expect("scenario name");
        let size = args.get(i + 2).and_then(|s| Size::parse(s)).expect("size");
        run_child(name, size);
        return;
    }
    let benchmarking = args.iter().any(|a| a == "--bench");
    let size = std::env::var("MAILHOOKS_BENCH_SIZE").ok().and_then(|s| Size::parse(&s)).unwrap_or(if benchmarking {
        Size::Full
    } else {
        Size::Smoke
    });
    let only: Option<Vec<String>> =
        std::env::var("MAILHOOKS_BENCH_ONLY").ok().map(|s| s.split(',').map(str::to_owned).collect());
    println!(
        "mailhooks pipeline benchmark, size {}, {} cores",
        size.name(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut reports = Vec::new();
    for name in SCENARIOS {
        if only.as_ref().is_some_and(|only| !only.iter().any(|o| o == name)) {
            continue;
        }
        let report = run_in_child(name, size);
        print_table(&report);
        reports.push(report);
    }
    if let Some(summary) = delivery_vs_ingest(&reports) {
        print_table(&summary);
        reports.push(summary);
    }
    println!();
    for report in &reports {
        println!("{report}");
    }
}

/// Runs scenario `name` in a child process of this binary and returns its report; exits
/// the run, with the child's output, if it fails.
pub fn run_in_child(name: &str, size: Size) -> Value {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(&exe).args(["--scenario", name, size.name()]).output().expect("run scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(report) = stdout.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok()) else {
        eprintln!("scenario {name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        std::process::exit(1);
    };
    report
}

/// The target that spans two scenarios: delivery (the drain rate, 500-event batches) must
/// be at least as fast as durable ingest, or a backlog grows under full ingest.
fn delivery_vs_ingest(reports: &[Value]) -> Option<Value> {
    let figure = |scenario: &str, name: &str| {
        reports.iter().find(|r| r["scenario"] == scenario).and_then(|r| r["figures"][name].as_f64())
    };
    let ingest = figure("durable_ingest", "events_per_s")?;
    let drain = figure("drain", "drain_events_per_s")?;
    Some(serde_json::json!({
        "scenario": "delivery_vs_ingest",
        "figures": {"drain_events_per_s": drain, "durable_ingest_events_per_s": ingest, "ratio": drain / ingest},
        "targets": [{"target": "delivered events/s >= durable ingest events/s", "pass": drain >= ingest}],
    }))
}

fn print_table(report: &Value) {
    println!("\n{}", report["scenario"].as_str().unwrap_or("?"));
    if let Some(figures) = report["figures"].as_object() {
        for (name, value) in figures {
            let value = value.as_f64().unwrap_or(f64::NAN);
            println!("  {name:<32} {value:>14.1}");
        }
    }
    if let Some(targets) = report["targets"].as_array() {
        for target in targets {
            let verdict = if target["pass"].as_bool() == Some(true) { "PASS" } else { "MISS" };
            println!("  [{verdict}] {}", target["target"].as_str().unwrap_or(""));
        }
    }
}
