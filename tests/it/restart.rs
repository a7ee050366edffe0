//! The real `mailhooks` binary (issue 2, items 2 and 8): nothing accepted is lost when the
//! process is SIGKILLed with events still lingering or with a batch waiting for its retry
//! (the batch keeps its id); SIGTERM lets in-flight deliveries finish and exits 0;
//! `migrate`, `account create` and the first-start key behave as the contract says; and a
//! bad flag value exits non-zero with one line naming the flag.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::checks::{all_message_ids, id_of, message_ids};
use crate::support::{event, Api, Behaviour, Receiver, ServerProcess};

const WAIT: Duration = Duration::from_secs(15);
const BIN: &str = env!("CARGO_BIN_EXE_mailhooks");

/// Runs the binary to completion (killing it after 20 s, which fails the test).
fn run(args: &[&str], dir: &Path) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("MAILHOOKS_BOOTSTRAP_API_KEY")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mailhooks");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(output) => output.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("mailhooks {args:?} still running after 20 s");
        }
    }
}

#[actix_rt::test]
async fn sigkill_before_the_batch_forms_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mailhooks.db");
    let receiver = Receiver::start();
    let server = ServerProcess::start(&db, &["--batch-linger", "30s"]).await;
    let webhook = id_of(&server.api.create_webhook("lingering", &receiver.url("/hook")).await);
    server.api.ingest(&json!([event("open", "k-1"), event("click", "k-2")])).await;
    server.api.ingest(&json!([event("bounce", "k-3")])).await;
    server.kill();
    assert_eq!(receiver.count(), 0, "nothing could have been sent within the 30 s linger");

    let server = ServerProcess::start(&db, &["--batch-linger", "50ms"]).await;
    let got = receiver.wait_for_count_async(1, WAIT).await;
    assert_eq!(message_ids(&got[0]), ["k-1", "k-2", "k-3"]);
    server
        .api
        .wait_for(&format!("/v1/webhooks/{webhook}/batches"), WAIT, "the batch recorded", |b| {
            b["data"][0]["status"] == "success"
        })
        .await;
    // Exactly once.
    let batches = server.api.batches(&webhook).await;
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(receiver.count(), 1);
}

#[actix_rt::test]
async fn sigkill_while_a_batch_waits_for_its_retry_keeps_the_batch_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mailhooks.db");
    let receiver = Receiver::start();
    receiver.set_behaviour(Behaviour::Status(500, "down".into()));
    // Enough retries that none of them runs out while the test watches.
    let schedule = ["--retry-schedule", "300ms,300ms,300ms,300ms,300ms,300ms,300ms", "--batch-linger", "50ms"];
    let server = ServerProcess::start(&db, &schedule).await;
    let webhook = id_of(&server.api.create_webhook("retrying", &receiver.url("/")).await);
    server.api.ingest(&json!([event("open", "r-1"), event("open", "r-2")])).await;
    let first = server
        .api
        .wait_for(&format!("/v1/webhooks/{webhook}/batches"), WAIT, "a retrying batch", |b| {
            b["data"][0]["status"] == "retrying"
        })
        .await["data"][0]
        .clone();
    server.kill();
    let batch_id = first["batchId"].as_str().unwrap().to_owned();
    let attempts_before = receiver.count();
    assert!(attempts_before >= 1);

    receiver.set_behaviour(Behaviour::Status(200, "ok".into()));
    let server = ServerProcess::start(&db, &schedule).await;
    let got = receiver.wait_for_count_async(attempts_before + 1, WAIT).await;
    let last = got[attempts_before].json();
    assert_eq!(last["batchId"], batch_id.as_str(), "the same batch after the restart");
    assert!(last["retryCount"].as_u64().unwrap() >= 1, "{last}");
    assert_eq!(message_ids(&got[attempts_before]), ["r-1", "r-2"]);

    let done = server
        .api
        .wait_for(&format!("/v1/webhooks/{webhook}/batches/{batch_id}"), WAIT, "the batch delivered", |b| {
            b["status"] == "success"
        })
        .await;
    assert!(done["retryCount"].as_u64().unwrap() >= 1, "{done}");
    let attempts = done["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), attempts_before + 1, "{done}");
    let counts: Vec<u64> = attempts.iter().map(|a| a["retryCount"].as_u64().unwrap()).collect();
    assert_eq!(counts, (0..=attempts_before as u64).collect::<Vec<_>>());
    assert_eq!(server.api.batches(&webhook).await.len(), 1, "no second batch for the same events");
}

#[actix_rt::test]
async fn sigterm_finishes_in_flight_deliveries_exits_0_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mailhooks.db");
    let slow = Receiver::start();
    slow.set_behaviour(Behaviour::Delay(Duration::from_millis(700)));
    let lingering = Receiver::start();
    let flags = ["--batch-linger", "30s", "--batch-max-events", "2"];
    let server = ServerProcess::start(&db, &flags).await;
    let create = |api: &Api, body: Value| {
        let api = api.clone();
        async move {
            let res = api.post("/v1/webhooks", &body).await;
            assert_eq!(res.status, 201, "{}", res.text);
            id_of(&res.body)
        }
    };
    let in_flight =
        create(&server.api, json!({ "name": "slow", "targetUrl": slow.url("/"), "events": ["click"] })).await;
    let buffered =
        create(&server.api, json!({ "name": "buffered", "targetUrl": lingering.url("/"), "events": ["open"] })).await;
    // Two clicks make a full batch at once; the open lingers for 30 s.
    server.api.ingest(&json!([event("click", "t-1"), event("click", "t-2"), event("open", "t-3")])).await;
    slow.wait_for_count_async(1, WAIT).await;

    let asked = Instant::now();
    let status = server.terminate(WAIT);
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status:?}");
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert_eq!(lingering.count(), 0);

    let server = ServerProcess::start(&db, &["--batch-linger", "50ms"]).await;
    // The in-flight delivery finished before the exit and was recorded as such.
    let batches = server.api.batches(&in_flight).await;
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(batches[0]["status"], "success", "{batches:?}");
    assert_eq!(batches[0]["eventCount"], 2);
    // The lingering event is delivered after the restart.
    let got = lingering.wait_for_count_async(1, WAIT).await;
    assert_eq!(all_message_ids(&got), ["t-3"]);
    server
        .api
        .wait_for(&format!("/v1/webhooks/{buffered}/batches"), WAIT, "its batch recorded", |b| {
            b["data"][0]["status"] == "success"
        })
        .await;
    // ...and the finished one is not sent again.
    assert_eq!(slow.count(), 1);
    let status = server.terminate(WAIT);
    assert_eq!(status.code(), Some(0));
}

#[actix_rt::test]
async fn migrate_and_account_create_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let url = format!("sqlite://{}", db.display());

    let out = run(&["migrate", "--database-url", &url], dir.path());
    assert!(out.status.success(), "migrate: {}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists(), "migrate created no database");

    let out =
        run(&["account", "create", "--name", "x", "--email", "x@example.com", "--database-url", &url], dir.path());
    assert!(out.status.success(), "account create: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be only the key: {stdout:?}");
    let key = lines[0].trim();
    assert!(key.len() >= 16 && !key.contains(' '), "{key:?}");
    let out =
        run(&["account", "create", "--name", "y", "--email", "y@example.com", "--database-url", &url], dir.path());
    let second = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_ne!(second, key, "each account gets its own key");

    let server = ServerProcess::start(&db, &[]).await;
    let api = server.api.with_key(Some(key));
    let list = api.get("/v1/webhooks").await;
    assert_eq!((list.status, &list.body), (200, &json!({ "data": [] })), "{}", list.text);
    let mine = api.create_webhook("x's", "https://example.com/x").await;
    // A separate account from the server's default one and from "y".
    assert!(server.api.get("/v1/webhooks").await.body["data"].as_array().unwrap().is_empty());
    let other = server.api.with_key(Some(&second));
    assert_eq!(other.get(&format!("/v1/webhooks/{}", id_of(&mine))).await.status, 404);

    // A bad email is refused with one line and no key.
    let out = run(&["account", "create", "--name", "z", "--email", "not-an-email", "--database-url", &url], dir.path());
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&out.stdout));
}

#[actix_rt::test]
async fn the_first_start_without_a_key_prints_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db");
    let start = |dir: &Path| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &format!("sqlite://{}", db.display())])
            .args(["--mail-dir", &dir.join("mail").display().to_string()])
            .env_remove("MAILHOOKS_BOOTSTRAP_API_KEY")
            .env("RUST_LOG", "warn")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mailhooks");
        (child, port)
    };
    let (mut child, port) = start(dir.path());
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("a line with the key");
    let key = line.rsplit(' ').next().unwrap().trim().to_owned();
    assert!(key.len() >= 16, "{line}");
    let api = Api::new(&format!("http://127.0.0.1:{port}"), &key);
    let ready = Instant::now();
    loop {
        if let Ok(mut res) = awc::Client::default().get(api.url("/healthz")).send().await {
            if res.status().is_success() {
                let _ = res.body().await;
                break;
            }
        }
        assert!(ready.elapsed() < WAIT, "did not start");
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(api.get("/v1/webhooks").await.status, 200, "the printed key works");
    let _ = child.kill();
    let _ = child.wait();

    // The second start has an account already: no new key.
    let (mut child, port) = start(dir.path());
    let stdout = child.stdout.take().unwrap();
    let again = Api::new(&format!("http://127.0.0.1:{port}"), &key);
    let ready = Instant::now();
    loop {
        if let Ok(mut res) = awc::Client::default().get(again.url("/healthz")).send().await {
            if res.status().is_success() {
                let _ = res.body().await;
                break;
            }
        }
        assert!(ready.elapsed() < WAIT, "did not start again");
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(again.get("/v1/webhooks").await.status, 200, "the first key still works");
    let _ = child.kill();
    let _ = child.wait();
    let mut printed = String::new();
    BufReader::new(stdout).read_line(&mut printed).unwrap();
    assert!(printed.is_empty(), "a second key was printed: {printed}");
}

#[actix_rt::test]
async fn a_bad_flag_value_exits_non_zero_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("never.db").display());
    for (flag, value) in [
        ("--batch-linger", "10x"),
        ("--retry-schedule", "30s,soon"),
        ("--delivery-timeout", "0s"),
        ("--disable-after", "7"),
        ("--batch-max-events", "0"),
        ("--batch-max-events", "many"),
        ("--listen", "not an address"),
        ("--allow-private-targets", "perhaps"),
        ("--mail-from", "not an email"),
        ("--smtp-url", "ftp://mail.example.com"),
    ] {
        let out = run(&["serve", "--listen", "127.0.0.1:0", "--database-url", &url, flag, value], dir.path());
        assert!(!out.status.success(), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{flag} {value}: stderr is not one line: {stderr:?}");
        assert!(lines[0].contains(flag.trim_start_matches('-')), "{flag} {value}: {stderr:?}");
        assert!(out.stdout.is_empty(), "{flag} {value}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
    }
    // An unknown flag as well.
    let out = run(&["serve", "--no-such-flag"], dir.path());
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-flag"));
}
