//! Process-level tests: the real `warga` binary, started, killed and restarted.

use warga_testkit as common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{client_trusting, wait_for};
use serde_json::Value;
use warga_store::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_warga");

fn warga(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env("WARGA_TELEMETRY__LOG_FORMAT", "json")
        // These tests send hundreds of requests a minute from one address and one client.
        .env("WARGA_GATEWAY__ANONYMOUS_PER_MINUTE", "100000")
        .env("WARGA_GATEWAY__USER_PER_MINUTE", "100000");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("WARGA_") && !k.starts_with("WARGA_TEST_")) {
        command.env_remove(key);
    }
    // Many instances run at once: the embedded ledger listens on free ports.
    command.env("WARGA_LEDGER__EPHEMERAL_PORTS", "true");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A running `warga up`.
struct Running {
    child: Child,
    url: String,
    client: reqwest::Client,
    /// A token of the monitoring service account `monitor` (client credentials).
    token: String,
    stdout: PathBuf,
    stderr: PathBuf,
    /// The embedded ledger's peers from the banner: host → gRPC address.
    banner_peers: std::collections::BTreeMap<String, String>,
    /// The embedded ledger's orderers from the banner, in the network file's order.
    banner_orderers: Vec<String>,
}

impl Running {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Running {
        Running::start_with(dir, &["up", "--listen", "127.0.0.1:0"], env)
    }

    fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        let secret = monitor_secret(dir, env);
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let stdout = dir.join(format!("stdout-{n}.log"));
        let stderr = dir.join(format!("stderr-{n}.log"));
        let mut child = warga(dir, args, env)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start warga");
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stdout.take().unwrap();
        let copy = stdout.clone();
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(copy).unwrap();
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(log, "{line}");
                let _ = tx.send(line);
            }
        });
        // The banner: its URL line, then (with the ledger) a line per peer, then Ctrl+C.
        let mut url = None;
        let mut banner_peers = std::collections::BTreeMap::new();
        let mut banner_orderers = Vec::new();
        loop {
            let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
                panic!(
                    "warga did not start: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
            if let Some(found) = line.trim().strip_prefix("URL:") {
                url = Some(found.trim().to_owned());
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["peer", host, "gRPC", addr, "(mTLS)", ..] = words.as_slice() {
                banner_peers.insert(host.to_string(), addr.to_string());
            }
            if let Some((_, raft)) = line.split_once("orderer Raft ") {
                banner_orderers = raft.split_whitespace().map(str::to_owned).collect();
            }
            if line.contains("Ctrl+C") {
                break;
            }
        }
        let url = url.expect("a URL in the banner");
        let url = url.replace("127.0.0.1", "localhost");
        let client = client_trusting(&dir.join("data/tls/cert.pem"));
        let token = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let response = client
                            .post(format!("{url}/oauth2/token"))
                            .basic_auth("monitor", Some(&secret))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(response.status(), 200, "token for the monitor client");
                        response.json::<Value>().await.unwrap()["access_token"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                })
                .join()
                .unwrap()
        });
        Running {
            child,
            url,
            client,
            token,
            stdout,
            stderr,
            banner_peers,
            banner_orderers,
        }
    }

    /// The embedded ledger's peers from the banner: host → gRPC address.
    fn peers(&self) -> std::collections::BTreeMap<String, String> {
        assert_eq!(
            self.banner_peers.len(),
            3,
            "three peers in the banner: {:?}",
            self.banner_peers
        );
        self.banner_peers.clone()
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        let output = format!(
            "{}\n{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
        (exit, output)
    }

    async fn post_probe(&self, note: &str) -> String {
        let response = self
            .client
            .post(format!("{}/api/v1/system/probes", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "note": note }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        body["probe_id"].as_str().unwrap().to_owned()
    }

    async fn probe(&self, id: &str) -> Value {
        self.client
            .get(format!("{}/api/v1/system/probes/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn all_delivered_once(&self, ids: &[String]) -> bool {
        for id in ids {
            let probe = self.probe(id).await;
            if probe["status"] != "delivered" {
                return false;
            }
            assert_eq!(probe["deliveries"], 1, "probe {id} applied more than once");
        }
        true
    }
}

/// `warga ledger ARGS[0] --network … --crypto … --org ORG --address ADDRESS ARGS[1..]` against
/// the embedded ledger of the deployment in `dir` (its network file written on first use).
fn ledger_cli(dir: &Path, address: &str, org: &str, args: &[&str]) -> std::process::Output {
    let network = dir.join("network.yaml");
    if !network.exists() {
        std::fs::write(&network, warga_ledger_core::network::BPJS_EXAMPLE).unwrap();
    }
    let crypto = dir.join("data/ledger/crypto");
    let mut all = vec![
        "ledger".to_owned(),
        args[0].to_owned(),
        "--network".into(),
        network.to_string_lossy().into_owned(),
        "--crypto".into(),
        crypto.to_string_lossy().into_owned(),
        "--org".into(),
        org.into(),
        format!("--address={address}"),
    ];
    all.extend(args[1..].iter().map(|a| a.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    warga(dir, &refs, &[]).output().unwrap()
}

/// The secret of the monitoring client `monitor` of the deployment in `dir`, registered
/// with `warga admin client create` on first use.
fn monitor_secret(dir: &Path, env: &[(&str, &str)]) -> String {
    let path = dir.join("monitor.secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return secret;
    }
    let output = warga(
        dir,
        &[
            "admin",
            "client",
            "create",
            "--id",
            "monitor",
            "--name",
            "Monitor",
            "--confidential",
            "--grant",
            "client_credentials",
        ],
        env,
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client secret (shown once): "))
        .unwrap()
        .trim()
        .to_owned();
    std::fs::write(&path, &secret).unwrap();
    secret
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["up"],
        &["serve"],
        &["migrate"],
        &["config"],
        &["config", "check"],
        &["events"],
        &["events", "dead-letters"],
        &["events", "replay"],
        &["services"],
        &["admin"],
        &["admin", "department", "create"],
        &["admin", "officer", "create"],
        &["admin", "client", "create"],
        &["admin", "keys", "rotate"],
        &["audit"],
        &["audit", "export"],
        &["stats"],
        &["stats", "rebuild"],
        &["keys"],
        &["keys", "rotate"],
        &["registry"],
        &["registry", "import"],
        &["bench"],
        &["bench", "registry"],
        &["bench", "reports"],
        &["ledger"],
        &["ledger", "network", "check"],
        &["ledger", "crypto", "generate"],
        &["ca"],
        &["ca", "serve"],
        &["ca", "register"],
        &["ca", "enroll"],
        &["ca", "revoke"],
        &["orderer"],
        &["peer"],
        &["ledger", "verify"],
        &["ledger", "network", "up"],
        &["ledger", "invoke"],
        &["ledger", "query"],
        &["ledger", "info"],
        &["ledger", "block"],
        &["ledger", "status"],
        &["ledger", "compare"],
        &["ledger", "history"],
        &["ledger", "events"],
        &["bench", "ledger"],
    ];
    for args in commands {
        let output = warga(dir.path(), &[args, &["--help"][..]].concat(), &[])
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?} --help failed");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
}

#[test]
fn bad_configuration_fails_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = warga(dir.path(), &["config", "check"], &[("WARGA_HTTP__LISTEN", "nonsense")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("http.listen") && stderr.contains("WARGA_HTTP__LISTEN"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("warga.toml"), "[bus]\nmax_attempts = -3\n").unwrap();
    let output = warga(dir.path(), &["--config", "warga.toml", "up"], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("bus.max_attempts") && stderr.contains("warga.toml"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created before the configuration was valid"
    );

    let output = warga(dir.path(), &["serve", "--services", "nope"], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("known services"));
}

#[test]
fn config_check_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("WARGA_DATABASE__URL", "postgres://warga:hunter2@db.internal/warga"),
        ("WARGA_BUS__BACKEND", "nats"),
        ("WARGA_BUS__NATS_URL", "nats://ops:s3cretpw@nats.internal:4222"),
    ];
    let output = warga(dir.path(), &["config", "check"], &env).output().unwrap();
    assert!(output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("[redacted]"), "{all}");
    assert!(all.contains("backend = \"nats\""), "{all}");
    assert!(!all.contains("hunter2") && !all.contains("s3cretpw"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let Some(db) = TestDb::postgres(&[]).await else {
        return;
    };
    let url = db
        .location
        .replacen("postgres://postgres@", "postgres://postgres:hunter2xyz@", 1);
    assert!(url.contains("hunter2xyz"), "{url}");
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(
        dir.path(),
        &[
            ("WARGA_DATABASE__URL", &url),
            ("WARGA_TELEMETRY__LOG_LEVEL", "debug,sqlx=debug"),
        ],
    );
    let id = running.post_probe("rahasia?").await;
    wait_for("probe delivery", Duration::from_secs(30), || async {
        running.probe(&id).await["status"] == "delivered"
    })
    .await;
    let (status, output) = running.terminate();
    assert!(status.success());
    assert!(output.contains("postgres"), "the run logged its database backend");
    assert!(!output.contains("hunter2xyz"), "a secret reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_bus_survives_kill_9_without_loss_or_doubles() {
    let dir = tempfile::tempdir().unwrap();

    // Accept probes while no worker runs, then die without warning.
    let gateway = Running::start(dir.path(), &[("WARGA_WORKERS__ENABLED", "false")]);
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(gateway.post_probe(&format!("before crash {i}")).await);
    }
    assert_eq!(gateway.probe(&ids[0]).await["status"], "pending");
    gateway.kill_9();

    // Start again with workers: everything accepted before the crash is delivered once.
    let worker = Running::start(dir.path(), &[]);
    wait_for("delivery after restart", Duration::from_secs(60), || {
        worker.all_delivered_once(&ids)
    })
    .await;

    // Crash again in the middle of delivering a burst.
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.push(worker.post_probe(&format!("burst {i}")).await);
    }
    worker.kill_9();
    let survivor = Running::start(dir.path(), &[]);
    wait_for("delivery of the burst", Duration::from_secs(60), || {
        survivor.all_delivered_once(&burst)
    })
    .await;
    assert!(survivor.all_delivered_once(&ids).await);
    let (status, output) = survivor.terminate();
    assert!(status.success(), "SIGTERM stops warga cleanly: {output}");
    assert!(output.contains("\"stopped\""), "{output}");
}

/// Roles split over processes sharing one database: a gateway replica without workers
/// accepts work, a separate worker process delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_splits_gateway_and_workers_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Running::start_with(
        dir.path(),
        &[
            "serve",
            "--services",
            "identity,system",
            "--no-workers",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let id = gateway.post_probe("via gateway").await;
    // The gateway says it runs no workers, and indeed the probe stays pending there.
    wait_for("the gateway's banner", Duration::from_secs(10), || async {
        std::fs::read_to_string(&gateway.stdout)
            .unwrap_or_default()
            .contains("pekerja / workers: off")
    })
    .await;
    assert_eq!(
        gateway.probe(&id).await["status"],
        "pending",
        "the gateway runs no consumer"
    );

    let worker = Running::start_with(
        dir.path(),
        &["serve", "--services", "identity,system", "--listen", "127.0.0.1:0"],
        &[],
    );
    wait_for("delivery by the worker process", Duration::from_secs(30), || {
        gateway.all_delivered_once(std::slice::from_ref(&id))
    })
    .await;
    gateway.kill_9();
    worker.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_from_the_cli() {
    use warga_core::Event;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("WARGA_BUS__MAX_ATTEMPTS", "2"),
        ("WARGA_BUS__BACKOFF_BASE_MS", "10"),
        ("WARGA_BUS__BACKOFF_MAX_MS", "50"),
    ];
    let running = Running::start(dir.path(), &env);

    let empty = warga(dir.path(), &["events", "dead-letters"], &env).output().unwrap();
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no dead letters"));
    let refused = warga(dir.path(), &["events", "replay"], &env).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "replay needs a filter or --all");

    // An event about a probe that does not exist yet: the recorder cannot apply it.
    let probe_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let options = warga_store::ConnectOptions::default();
    let store = warga_store::Store::connect_sqlite_file(&dir.path().join("data/warga.db"), &options)
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.append_event(&warga_system::ProbeRequested {
        probe_id: probe_id.clone(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let listed = || {
        let output = warga(dir.path(), &["events", "dead-letters", "--json"], &env)
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    wait_for("the dead letter", Duration::from_secs(30), || async {
        !listed().is_empty()
    })
    .await;
    let letter: Value = serde_json::from_str(listed().lines().next().unwrap()).unwrap();
    assert_eq!(letter["consumer"], "system-probe-recorder");
    assert_eq!(letter["topic"], warga_system::ProbeRequested::TOPIC);
    assert_eq!(letter["attempts"], 2);
    assert!(letter["last_error"].as_str().unwrap().contains("does not exist"));

    // Fix the cause, then replay.
    sqlx::query("INSERT INTO system_probes (probe_id, requested_at_ms) VALUES ($1, 0)")
        .bind(&probe_id)
        .execute(store.writer())
        .await
        .unwrap();
    let replay = warga(
        dir.path(),
        &["events", "replay", "--consumer", "system-probe-recorder"],
        &env,
    )
    .output()
    .unwrap();
    assert!(replay.status.success());
    assert!(String::from_utf8_lossy(&replay.stdout).contains("1 dead letter(s) replayed"));
    wait_for("the replayed event", Duration::from_secs(30), || {
        running.all_delivered_once(std::slice::from_ref(&probe_id))
    })
    .await;
    assert!(listed().is_empty());
    running.kill_9();
}

mod otlp {
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

    /// A minimal OTLP/gRPC trace collector: remembers (trace id, span name) of what it got.
    #[derive(Clone, Default)]
    pub struct Collector(pub Arc<Mutex<Vec<(String, String)>>>);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut seen = self.0.lock().unwrap();
            for resource in request.into_inner().resource_spans {
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        let trace_id: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                        seen.push((trace_id, span.name));
                    }
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    /// Serves a collector on a free port; returns its endpoint.
    pub async fn start(collector: Collector) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        endpoint
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_an_otlp_collector_as_one_trace() {
    let collector = otlp::Collector::default();
    let endpoint = otlp::start(collector.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &[("WARGA_TELEMETRY__OTLP_ENDPOINT", &endpoint)]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = running
        .client
        .post(format!("{}/api/v1/system/probes", running.url))
        .bearer_auth(&running.token)
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["probe_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("delivery", Duration::from_secs(30), || async {
        running.probe(&id).await["status"] == "delivered"
    })
    .await;
    let (status, output) = running.terminate();
    assert!(status.success(), "{output}");
    wait_for("exported spans", Duration::from_secs(10), || async {
        let seen = collector.0.lock().unwrap();
        let names: Vec<&str> = seen
            .iter()
            .filter(|(t, _)| t == trace_id)
            .map(|(_, n)| n.as_str())
            .collect();
        names.contains(&"http_request") && names.contains(&"consume")
    })
    .await;
}

#[test]
fn admin_commands_create_departments_officers_and_clients() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = warga(dir.path(), args, &[]).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&[
        "admin",
        "department",
        "create",
        "--id",
        "Dinas-PU",
        "--name",
        "Dinas Pekerjaan Umum",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("dinas-pu"));
    let (code, out, _) = run(&[
        "admin",
        "officer",
        "create",
        "--username",
        "budi.pu",
        "--display-name",
        "Budi Santoso",
        "--department",
        "dinas-pu",
        "--level",
        "head",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("one-time password"), "{out}");
    let (code, _, err) = run(&["admin", "officer", "create", "--username", "b", "--display-name", "B"]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("warga: error: username:") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = run(&[
        "admin",
        "officer",
        "create",
        "--username",
        "sari.pu",
        "--display-name",
        "Sari",
        "--level",
        "boss",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--level"), "{err}");
    let (code, out, _) = run(&[
        "admin",
        "client",
        "create",
        "--id",
        "sync",
        "--name",
        "Sync",
        "--confidential",
        "--grant",
        "client_credentials",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("client secret (shown once)"), "{out}");
    let (code, _, err) = run(&[
        "admin",
        "client",
        "create",
        "--id",
        "sync",
        "--name",
        "Again",
        "--grant",
        "refresh_token",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("exists"), "{err}");
    let (code, out, _) = run(&["admin", "keys", "rotate"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("new signing key"));

    let (code, out, _) = run(&["keys", "rotate"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("keys re-wrapped"), "{out}");

    // Every change above is in the audit log, exported as CSV.
    let (code, csv, err) = run(&["audit", "export"]);
    assert_eq!(code, Some(0), "{err}");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("seq,id,at_ms,actor,action,target,outcome,trace_id,details")
    );
    let actions: Vec<&str> = lines.map(|l| l.split(',').nth(4).unwrap()).collect();
    for action in [
        "identity.department.create",
        "identity.account.create",
        "identity.client.create",
    ] {
        assert!(actions.contains(&action), "{action} missing: {actions:?}");
    }
    let (code, only, _) = run(&["audit", "export", "--action", "identity.client.create"]);
    assert_eq!(code, Some(0));
    assert_eq!(only.lines().count(), 2, "header and the one client: {only}");
    assert!(err.contains("audit records exported"));
}

#[test]
fn registry_import_is_idempotent_and_reports_rejected_rows() {
    let dir = tempfile::tempdir().unwrap();
    let header =
        "nik,full_name,birth_place,birth_date,sex,address,rt_rw,village,district,religion,marital_status,occupation";
    let row = |nik: &str, date: &str, sex: &str, name: &str| {
        format!(
            "{nik},\"{name}\",Jakarta,{date},{sex},\"Jl. Kebon Kacang, No. 5\",003/007,3171071006,317107,Islam,Kawin,Guru"
        )
    };
    let csv = [
        header.to_owned(),
        row("3171075203950004", "1995-03-12", "female", "Siti Aminah"),
        row("3171071203950005", "1995-03-12", "male", "Budi Santoso"),
        row("3171071203950005", "1995-03-12", "male", "Budi Santoso"),
        row("3199071203950006", "1995-03-12", "male", "Salah Kode"),
        row("3171071508600001", "1960-08-15", "male", "Made Wijaya"),
        "not,enough,columns".to_owned(),
    ]
    .join("\n");
    std::fs::write(dir.path().join("residents.csv"), csv).unwrap();
    let run = || {
        let output = warga(
            dir.path(),
            &["registry", "import", "residents.csv", "--report", "rejected.csv"],
            &[],
        )
        .output()
        .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    assert!(
        first.contains("3 diimpor / imported, 1 sudah terdaftar / already registered, 2 ditolak / rejected"),
        "{first}"
    );
    let report = std::fs::read_to_string(dir.path().join("rejected.csv")).unwrap();
    assert!(report.starts_with("line,field,reason"));
    assert!(
        report.contains("5,nik,") && report.contains("no regency or city has code 3199"),
        "{report}"
    );
    assert!(report.contains("7,row,"), "{report}");
    assert!(
        !report.contains("Salah Kode") && !report.contains("3199071203950006"),
        "no personal data in the report"
    );
    let second = run();
    assert!(
        second.contains("0 diimpor / imported, 4 sudah terdaftar / already registered, 2 ditolak / rejected"),
        "{second}"
    );
}

/// `warga bench registry` end to end at a small size: it starts its own warga, registers
/// through HTTPS with client-credential tokens and checks the counts and messages (it exits
/// non-zero when they disagree). On PostgreSQL it also runs pgbench.
#[test]
fn bench_registry_runs_and_checks_consistency() {
    let dir = tempfile::tempdir().unwrap();
    let small = [
        "bench",
        "registry",
        "--count",
        "60",
        "--rate",
        "100",
        "--concurrency",
        "8",
        "--concurrency",
        "60",
        "--clients",
        "3",
    ];
    let output = warga(dir.path(), &small, &[]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("| SQLite | 100/s | 60 | 0 |"), "{text}");
    assert!(text.contains("| SQLite | 60 | 60 | 0 |"), "{text}");
    assert!(
        text.contains("180 residents, 180 statistics increments, 180 SMS (0 events texted twice)"),
        "{text}"
    );

    let Some(server) = warga_store::testing::engine_url("WARGA_TEST_POSTGRES_URL") else {
        return;
    };
    let on_postgres = [&small[..], &["--postgres-url", &server, "--pgbench-seconds", "3"]].concat();
    let output = warga(dir.path(), &on_postgres, &[]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("| PostgreSQL | 8 | 60 | 0 |"), "{text}");
    assert!(text.contains("pgbench single-row INSERT"), "{text}");
}

/// `warga ledger crypto generate` writes material that standard tools read: the role is in
/// the certificate (`OU=peer`) and the chain verifies with `openssl verify`. A bad network
/// file fails with one line naming the line of the file, exit 2.
#[test]
fn ledger_crypto_material_is_readable_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let network = concat!(env!("CARGO_MANIFEST_DIR"), "/../../network/bpjs.yaml");
    let out = dir.path().join("crypto");
    let out_arg = out.to_str().unwrap();
    let generated = warga(
        dir.path(),
        &["ledger", "crypto", "generate", "--network", network, "--out", out_arg],
        &[],
    )
    .output()
    .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    // Again: refused (nothing is overwritten), unless told to keep what is there.
    let again = |keep: &[&str]| {
        let mut args = vec!["ledger", "crypto", "generate", "--network", network, "--out", out_arg];
        args.extend(keep);
        warga(dir.path(), &args, &[]).output().unwrap()
    };
    assert_eq!(again(&[]).status.code(), Some(2));
    let kept = again(&["--keep-existing"]);
    assert!(kept.status.success(), "{}", String::from_utf8_lossy(&kept.stderr));
    assert!(String::from_utf8_lossy(&kept.stdout).contains("kept"));
    // The population registry's attestation key: the private half for its owner alone.
    let public = std::fs::read_to_string(out.join("registry/attestor.pem")).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    let org = out.join("peerOrganizations/puskesmas.warga.local");
    let cert = org.join("peers/peer0.puskesmas.warga.local/msp/signcerts/peer0.puskesmas.warga.local-cert.pem");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("OU = peer") && text.contains("CN = peer0.puskesmas.warga.local"),
        "{text}"
    );
    assert!(
        text.contains("ecdsa-with-SHA256") && text.contains("prime256v1"),
        "{text}"
    );
    let verified = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(org.join("ca/ca.puskesmas.warga.local-cert.pem"))
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    let again = warga(
        dir.path(),
        &["ledger", "crypto", "generate", "--network", network, "--out", out_arg],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(again.status.code(), Some(2), "nothing is overwritten");

    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(network)
        .unwrap()
        .replace("- Puskesmas\n", "- Klinik\n");
    std::fs::write(&bad, &text).unwrap();
    let checked = warga(dir.path(), &["ledger", "network", "check", bad.to_str().unwrap()], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&checked.stderr);
    let line = text.lines().position(|l| l.contains("- Klinik")).unwrap() + 1;
    assert_eq!(checked.status.code(), Some(2));
    assert!(
        stderr.contains(&format!("line {line},")) && stderr.contains("Klinik"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// `warga ca serve` with the CLI clients: an admin registers an id, the id enrolls into an
/// MSP directory whose certificate carries the role, the admin revokes it.
#[test]
fn ca_commands_register_enroll_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let network = concat!(env!("CARGO_MANIFEST_DIR"), "/../../network/bpjs.yaml");
    let crypto = dir.path().join("crypto");
    let crypto_arg = crypto.to_str().unwrap();
    let generated = warga(
        dir.path(),
        &[
            "ledger",
            "crypto",
            "generate",
            "--network",
            network,
            "--out",
            crypto_arg,
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(generated.status.success());
    // Port 0: the CA binds a free port and names it in its banner, printed once it listens.
    let listen = "127.0.0.1:0".to_owned();
    let mut server = warga(
        dir.path(),
        &[
            "ca",
            "serve",
            "--network",
            network,
            "--org",
            "RumahSakit",
            "--crypto",
            crypto_arg,
            "--listen",
            &listen,
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut banner = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in the CA's banner: {banner:?}"))
        .to_owned();
    let org = crypto.join("peerOrganizations/rumahsakit.warga.local");
    let tls_ca = org.join("tlsca/tlsca.rumahsakit.warga.local-cert.pem");
    let admin = org.join("users/Admin@rumahsakit.warga.local/msp");
    let client = |extra: &[&str]| {
        let mut args = vec!["ca"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--url", &url, "--tls-ca", tls_ca.to_str().unwrap()]);
        warga(dir.path(), &args, &[]).output().unwrap()
    };
    let admin_arg = admin.to_str().unwrap();
    let output = client(&[
        "register",
        "--admin-msp",
        admin_arg,
        "--msp-id",
        "RumahSakitMSP",
        "--id",
        "kasir-01",
        "--attr",
        "facility=R3578001",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let registered = String::from_utf8(output.stdout).unwrap();
    let secret = registered.rsplit(": ").next().unwrap().trim().to_owned();
    let out = dir.path().join("kasir");
    // `--secret=…`: a user-chosen secret may begin with '-'.
    let secret_arg = format!("--secret={secret}");
    let enrolled = client(&[
        "enroll",
        "--id",
        "kasir-01",
        &secret_arg,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let cert = out.join("msp/signcerts/kasir-01-cert.pem");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("OU = client") && text.contains("CN = kasir-01"), "{text}");
    assert!(
        text.contains("1.2.3.4.5.6.7.8.1") && text.contains(r#""facility":"R3578001""#),
        "the facility in Fabric CA's attribute extension: {text}"
    );
    let again = client(&[
        "enroll",
        "--id",
        "kasir-01",
        &secret_arg,
        "--out",
        dir.path().join("k2").to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1), "one enrollment");
    assert_eq!(String::from_utf8_lossy(&again.stderr).trim().lines().count(), 1);
    let revoked = client(&[
        "revoke",
        "--admin-msp",
        admin_arg,
        "--msp-id",
        "RumahSakitMSP",
        "--id",
        "kasir-01",
    ]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let bad_attribute = client(&[
        "register",
        "--admin-msp",
        admin_arg,
        "--msp-id",
        "RumahSakitMSP",
        "--id",
        "kasir-02",
        "--attr",
        "facility",
    ]);
    assert_eq!(bad_attribute.status.code(), Some(2), "NAME=VALUE is required");
    let not_admin = org.join("users/User1@rumahsakit.warga.local/msp");
    let refused = client(&[
        "register",
        "--admin-msp",
        not_admin.to_str().unwrap(),
        "--msp-id",
        "RumahSakitMSP",
        "--id",
        "x",
    ]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    server.kill().unwrap();
    let _ = server.wait();
}

/// `warga up` runs the BPJS ledger network (three Raft orderers, a peer per organisation)
/// inside its process; the ledger CLI reaches it like any network.
#[test]
fn up_runs_the_ledger_network_the_cli_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &[]);
    let peers = running.peers();
    let cli = |org: &str, host: &str, args: &[&str]| ledger_cli(dir.path(), &peers[host], org, args);
    // The registry vouches for a registered, living resident; the contract takes a card
    // only with its word, which `warga registry attest` prints.
    std::fs::write(
        dir.path().join("residents.csv"),
        "nik,full_name,birth_place,birth_date,sex,address,rt_rw,village,district,religion,marital_status,occupation\n\
         3171075203950004,Dewi Lestari,Jakarta,1995-03-12,female,Jl. Gelora No. 1,001/002,3171071001,317107,Islam,Belum Kawin,Karyawan Swasta\n",
    )
    .unwrap();
    let imported = warga(dir.path(), &["registry", "import", "residents.csv"], &[])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let attest = |nik: &str| warga(dir.path(), &["registry", "attest", nik], &[]).output().unwrap();
    let attested = attest("3171075203950004");
    assert!(
        attested.status.success(),
        "{}",
        String::from_utf8_lossy(&attested.stderr)
    );
    let attestation = String::from_utf8(attested.stdout).unwrap().trim().to_owned();
    assert_eq!(attestation.split('.').count(), 3, "a compact JWS: {attestation}");
    let unknown = attest("3171075203950012");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("tidak ada penduduk terdaftar") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let unvouched = cli(
        "BPJS",
        "peer0.bpjs.warga.local",
        &[
            "invoke",
            "IssueCard",
            "3171075203950004",
            "2",
            "2030-12-31",
            "forged.jws.token",
        ],
    );
    let stderr = String::from_utf8_lossy(&unvouched.stderr);
    assert_eq!(unvouched.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("attestation"),
        "the contract refuses without the registry's word: {stderr}"
    );
    let issued = cli(
        "BPJS",
        "peer0.bpjs.warga.local",
        &[
            "invoke",
            "IssueCard",
            "3171075203950004",
            "2",
            "2030-12-31",
            &attestation,
        ],
    );
    let stdout = String::from_utf8_lossy(&issued.stdout);
    assert!(
        issued.status.success() && stdout.contains(": VALID"),
        "{stdout}{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    // The gateway answered once its own peer committed; the others follow at their pace.
    let verified = cli(
        "BPJS",
        "peer0.bpjs.warga.local",
        &["query", "VerifyCard", "3171075203950004"],
    );
    let answer: Value = serde_json::from_slice(&verified.stdout).unwrap_or_default();
    assert_eq!(
        answer["status"],
        "active",
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // A configuration update on `up`'s network, as an administrator makes one: the ordering
    // organisation's admin shortens BatchTimeout (its own section: its own signature).
    assert_eq!(running.banner_orderers.len(), 3, "{:?}", running.banner_orderers);
    let config_cli_as = |group: &str, subcommand: &str, org: Option<&str>, args: &[&str]| {
        let mut all = vec!["ledger".to_owned(), group.into(), subcommand.into()];
        if let Some(org) = org {
            all.extend([
                "--network".into(),
                "network.yaml".into(),
                "--crypto".into(),
                "data/ledger/crypto".into(),
            ]);
            all.extend(["--org".into(), org.into()]);
            all.extend(running.banner_orderers.iter().map(|a| format!("--orderer={a}")));
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let output = warga(dir.path(), &refs, &[]).output().unwrap();
        assert!(
            output.status.success(),
            "{subcommand}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let config_cli =
        |subcommand: &str, org: Option<&str>, args: &[&str]| config_cli_as("config", subcommand, org, args);
    config_cli("fetch", Some("BPJS"), &["--out", "current.json"]);
    let current = std::fs::read_to_string(dir.path().join("current.json")).unwrap();
    let next = current.replace("\"batch_timeout_ms\": 250", "\"batch_timeout_ms\": 200");
    assert_ne!(next, current);
    std::fs::write(dir.path().join("next.json"), next).unwrap();
    let said = config_cli(
        "propose",
        None,
        &[
            "--current",
            "current.json",
            "--next",
            "next.json",
            "--out",
            "update.json",
        ],
    );
    assert!(said.contains("'OrdererMSP.admin'"), "{said}");
    config_cli("sign", Some("Orderer"), &["update.json"]);
    let said = config_cli("submit", Some("Orderer"), &["update.json"]);
    let block: u64 = said.rsplit(' ').next().and_then(|b| b.trim().parse().ok()).unwrap();
    // The peer commits the block soon after the orderers' majority did.
    let shown = (0..200)
        .map(|_| cli("BPJS", "peer0.bpjs.warga.local", &["block", &block.to_string()]))
        .find(|o| o.status.success())
        .expect("the peer commits the configuration block");
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap_or_default();
    assert_eq!(shown["config_update"]["code"], "VALID", "{shown}");
    assert_eq!(shown["config_update"]["config"]["orderer"]["batch_timeout_ms"], 200);
    // The chaincode lifecycle on `up`'s network: BPJS and Puskesmas approve sequence 2 of
    // `bpjs` (RecordVisit now needs Puskesmas), it is committed and queried.
    for org in ["BPJS", "Puskesmas"] {
        let said = config_cli_as(
            "chaincode",
            "approve",
            Some(org),
            &[
                "--name",
                "bpjs",
                "--sequence",
                "2",
                "--function",
                "RecordVisit=AND('BPJSMSP.peer', 'PuskesmasMSP.peer')",
                "--update",
                "definition.json",
            ],
        );
        assert!(said.contains("sequence 2"), "{said}");
    }
    let said = config_cli_as(
        "chaincode",
        "checkcommitreadiness",
        Some("RumahSakit"),
        &["--update", "definition.json"],
    );
    assert!(
        said.contains("ready: true") && said.contains("RumahSakitMSP: false"),
        "{said}"
    );
    config_cli_as("chaincode", "commit", Some("BPJS"), &["--update", "definition.json"]);
    let said = config_cli_as("chaincode", "querycommitted", Some("RumahSakit"), &["--name", "bpjs"]);
    let committed: Value = serde_json::from_str(said.trim()).unwrap();
    assert_eq!(committed["sequence"], 2, "{said}");
    // `up` serves both channels of the network file on the same orderers, one Raft group
    // each; the Puskesmas peer holds the regional channel's ledger beside bpjs-main's.
    let listed = {
        let address = format!("--address={}", running.banner_orderers[0]);
        let output = warga(
            dir.path(),
            &[
                "ledger",
                "channel",
                "list",
                "--network",
                "network.yaml",
                "--crypto",
                "data/ledger/crypto",
                "--org",
                "Orderer",
                "--node",
                "orderer0",
                &address,
            ],
            &[],
        )
        .output()
        .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(
        listed.contains("bpjs-main") && listed.contains("jatim-puskesmas"),
        "{listed}"
    );
    let regional = cli(
        "Puskesmas",
        "peer0.puskesmas.warga.local",
        &["info", "--channel", "jatim-puskesmas"],
    );
    assert!(
        regional.status.success() && String::from_utf8_lossy(&regional.stdout).contains("jatim-puskesmas"),
        "{}{}",
        String::from_utf8_lossy(&regional.stdout),
        String::from_utf8_lossy(&regional.stderr)
    );
    // Two peers' commit hashes agree block by block.
    let with_address = format!("--with-address={}", peers["peer0.rumahsakit.warga.local"]);
    let compared = cli(
        "BPJS",
        "peer0.bpjs.warga.local",
        &["compare", "--with", "RumahSakit", &with_address],
    );
    let stdout = String::from_utf8_lossy(&compared.stdout);
    assert!(
        compared.status.success() && stdout.contains("sepakat / agree"),
        "{stdout}{}",
        String::from_utf8_lossy(&compared.stderr)
    );
    let refused = cli(
        "BPJS",
        "peer0.bpjs.warga.local",
        &["invoke", "IssueCard", "31710752039500", "2", "2030-12-31", &attestation],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("NIK") && stderr.lines().count() == 1,
        "one line saying why: {stderr}"
    );
    let (status, _) = running.terminate();
    assert!(status.success());
}

/// Ledger nodes take their settings from flags or the configuration file's `[peer]` /
/// `[orderer]` sections (and `WARGA_PEER__…`); what is missing is named in one line.
#[test]
fn ledger_nodes_read_their_settings_from_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let network = dir.path().join("network.yaml");
    std::fs::write(&network, warga_ledger_core::network::BPJS_EXAMPLE).unwrap();
    std::fs::write(
        dir.path().join("node.toml"),
        format!(
            "[peer]\nnetwork = {:?}\ncrypto = \"crypto\"\norg = \"BPJS\"\nchannel = \"bpjs-main\"\n",
            network.display().to_string()
        ),
    )
    .unwrap();
    let missing = warga(dir.path(), &["--config", "node.toml", "peer"], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--name") && stderr.contains("peer.name"), "{stderr}");
    // The environment fills it; the file's organisation is used: it has no peer9.
    let named = warga(
        dir.path(),
        &["--config", "node.toml", "peer"],
        &[("WARGA_PEER__NAME", "peer9")],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&named.stderr);
    assert_eq!(named.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("BPJS has no peer peer9"), "{stderr}");
    let orderer = warga(dir.path(), &["orderer", "--name", "orderer0"], &[])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&orderer.stderr).contains("orderer.network"));
}

/// `warga bench ledger` runs end to end on a small scale: a network inside `warga up`,
/// fixed-rate load through the gateways, a table with the ceiling's ratio.
#[test]
fn bench_ledger_runs_a_small_load() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "ledger",
        "--target",
        "up",
        "--workload",
        "issue-card",
        "--workload",
        "verify-card",
        "--rate",
        "20",
        "--workers",
        "8",
        "--duration",
        "2",
        "--ramp",
        "1",
    ];
    let output = warga(dir.path(), &args, &[]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for workload in ["IssueCard", "VerifyCard"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| warga up | {workload} |")))
            .unwrap_or_else(|| panic!("a row for {workload}: {text}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | target | workload | sent | ok | failed | …
        assert_eq!(cells[5], "0", "nothing failed: {row}");
        assert!(cells[4].parse::<u32>().unwrap() >= 30, "about 20 tx/s for 2 s: {row}");
    }
    assert!(
        text.contains("verifications/s and") && text.contains("signatures/s on every core"),
        "{text}"
    );
}

/// Runs `warga ARGS` in `dir`, which must succeed; its standard output.
fn run_ok(dir: &Path, args: &[&str]) -> String {
    let output = warga(dir, args, &[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "warga {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Residents as `registry import` reads them: `count` women born 1 January 1990 in Tanah
/// Abang, NIK serials from `first`.
fn residents_csv(first: usize, count: usize) -> String {
    let mut csv = String::from(
        "nik,full_name,birth_place,birth_date,sex,address,rt_rw,village,district,religion,marital_status,occupation\n",
    );
    for serial in first..first + count {
        // A name of letters only: the serial in base 26.
        let (mut rest, mut letters) = (serial, String::new());
        while rest > 0 {
            letters.insert(0, char::from(b'a' + (rest % 26) as u8));
            rest /= 26;
        }
        csv.push_str(&format!(
            "{},Sri Cadangan {letters},Jakarta,1990-01-01,female,Jl. Gelora No. {serial},001/002,3171071001,317107,Islam,Kawin,Karyawan Swasta\n",
            nik(serial)
        ));
    }
    csv
}

fn nik(serial: usize) -> String {
    format!("317107410190{serial:04}")
}

/// A card issued for resident `serial` through the CLI with the registry's attestation;
/// whether it committed VALID.
fn issue_card(dir: &Path, peer: &str, serial: usize) -> bool {
    let attested = warga(dir, &["registry", "attest", &nik(serial)], &[]).output().unwrap();
    if !attested.status.success() {
        return false;
    }
    let attestation = String::from_utf8(attested.stdout).unwrap().trim().to_owned();
    let issued = ledger_cli(
        dir,
        peer,
        "BPJS",
        &["invoke", "IssueCard", &nik(serial), "2", "2030-12-31", &attestation],
    );
    issued.status.success() && String::from_utf8_lossy(&issued.stdout).contains(": VALID")
}

/// The restore drill: a backup taken while registrations, events and ledger transactions
/// flow, restored into a fresh directory, checked offline (`ledger verify` on every peer's
/// copy), then served: every event acknowledged before the backup is delivered once, the
/// cards issued before it verify, the restored orderers order new transactions, and the
/// statistics rebuilt from the registry agree with the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_into_a_serving_instance() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let backup = dir.path().join("backup");

    let running = Running::start(&first, &[]);
    let peers = running.peers();
    let bpjs = peers["peer0.bpjs.warga.local"].clone();
    std::fs::write(first.join("before.csv"), residents_csv(1, 20)).unwrap();
    run_ok(&first, &["registry", "import", "before.csv"]);
    for serial in 1..=3 {
        assert!(
            issue_card(&first, &bpjs, serial),
            "card {serial} issued before the backup"
        );
    }
    let mut before = Vec::new();
    for i in 0..40 {
        before.push(running.post_probe(&format!("before the backup {i}")).await);
    }

    // Load while the backup is taken: probes, an import, cards.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let during = {
        let stop = stop.clone();
        let client = running.client.clone();
        let url = running.url.clone();
        let token = running.token.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = client
                    .post(format!("{url}/api/v1/system/probes"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "note": "during the backup" }))
                    .send()
                    .await
                    .unwrap();
                if response.status() == 202 {
                    let body: Value = response.json().await.unwrap();
                    acknowledged.push(body["probe_id"].as_str().unwrap().to_owned());
                }
            }
            acknowledged
        })
    };
    std::fs::write(first.join("during.csv"), residents_csv(101, 200)).unwrap();
    let writers = {
        let first = first.clone();
        let bpjs = bpjs.clone();
        std::thread::spawn(move || {
            run_ok(&first, &["registry", "import", "during.csv"]);
            (101..104).filter(|serial| issue_card(&first, &bpjs, *serial)).count()
        })
    };
    let stdout = run_ok(&first, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(
        stdout.contains("backup taken") && stdout.contains("peer0.bpjs.warga.local"),
        "{stdout}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = during.await.unwrap();
    assert!(!during.is_empty(), "probes were acknowledged while the backup ran");
    assert_eq!(writers.join().unwrap(), 3, "cards issued while the backup ran");
    // A second backup to the same place is refused; the first is untouched.
    let again = warga(&first, &["backup", "--to", backup.to_str().unwrap()], &[])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let (status, _) = running.terminate();
    assert!(status.success());

    // Restore into a fresh directory; never over data.
    run_ok(&second, &["restore", "--from", backup.to_str().unwrap()]);
    let twice = warga(&second, &["restore", "--from", backup.to_str().unwrap()], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert_eq!(twice.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not empty") && stderr.lines().count() == 1, "{stderr}");

    // Offline, every restored peer's ledger replays to the same codes and state.
    std::fs::write(second.join("network.yaml"), warga_ledger_core::network::BPJS_EXAMPLE).unwrap();
    for host in peers.keys() {
        let file = second.join("data/ledger/peers").join(host).join("bpjs-main.redb");
        run_ok(
            &second,
            &[
                "ledger",
                "verify",
                "--network",
                "network.yaml",
                "--crypto",
                "data/ledger/crypto",
                "--channel",
                "bpjs-main",
                file.to_str().unwrap(),
            ],
        );
    }

    // The restored instance serves.
    std::fs::copy(first.join("monitor.secret"), second.join("monitor.secret")).unwrap();
    let running = Running::start(&second, &[]);
    wait_for(
        "probes acknowledged before the backup, delivered once",
        Duration::from_secs(60),
        || running.all_delivered_once(&before),
    )
    .await;
    // Those acknowledged while it ran are in it or not — never twice.
    for id in &during {
        let probe = running.probe(id).await;
        if probe["status"] == "delivered" {
            assert_eq!(probe["deliveries"], 1, "probe {id} applied twice");
        }
    }
    let peers = running.peers();
    let bpjs = peers["peer0.bpjs.warga.local"].clone();
    for serial in 1..=3 {
        let verified = ledger_cli(&second, &bpjs, "BPJS", &["query", "VerifyCard", &nik(serial)]);
        let answer: Value = serde_json::from_slice(&verified.stdout).unwrap_or_default();
        assert_eq!(
            answer["status"],
            "active",
            "card {serial}: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }
    // The restored orderers order: a new card commits.
    assert!(issue_card(&second, &bpjs, 4), "a card issued after the restore");
    let (status, _) = running.terminate();
    assert!(status.success());

    // The statistics the consumers kept agree with a count of the restored registry.
    let stdout = run_ok(&second, &["stats", "rebuild"]);
    assert!(stdout.contains("agreed: ya / yes"), "{stdout}");
}
