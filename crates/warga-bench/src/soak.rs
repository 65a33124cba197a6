//! `warga bench soak`: a long mixed load on one `warga up`, watching what must stay flat —
//! the process's memory and open files, and each workload's latency — over the run.
//!
//! The run starts `warga up` (the ledger network inside it) on a fresh SQLite data directory,
//! registers confidential clients with the `registry_officer` role, mints a BPJS officer's
//! and a Puskesmas receptionist's token with the platform's own key, then keeps four open-loop
//! workloads going at fixed rates for the whole run:
//!
//! - registrations (`POST /api/v1/population/residents`, valid unique NIKs);
//! - sign-ins (a desk's client-credentials token from `/oauth2/token`);
//! - ledger submits (`IssueCard` through the web gateway for a resident registered earlier:
//!   the registry vouches, the officer's custodial key signs, the network orders);
//! - ledger queries (`VerifyCard` through the web gateway for an issued card).
//!
//! Every `sample` seconds it records the child's resident memory (`VmRSS`), its open file
//! descriptors and each workload's p99 (from when the request was due), and at the end writes
//! them as CSV and as an SVG plot, and prints a Markdown table and the drift between the
//! first and the last third of the run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use tokio::task::JoinSet;

use crate::BenchError;
use crate::child::{Target, https_client, percentile, wait_ready};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakBench {
    pub duration: Duration,
    /// How often a row is recorded.
    pub sample: Duration,
    pub registrations_per_s: u32,
    pub sign_ins_per_s: u32,
    pub submits_per_s: u32,
    pub queries_per_s: u32,
    /// Where the CSV and the SVG go (`DIR/soak.csv`, `DIR/soak.svg`).
    pub out: PathBuf,
}

const WORKLOADS: [&str; 4] = ["registration", "sign-in", "ledger submit", "ledger query"];

/// One finished request.
struct Done {
    workload: usize,
    ok: bool,
    ms: f64,
}

/// One recorded row.
struct Row {
    at_s: f64,
    rss_mib: f64,
    fds: usize,
    /// Per workload: (sent, failed, p99 ms).
    workloads: [(usize, usize, f64); 4],
}

/// What the workloads share: the clients, the tokens, the NIKs registered and carded.
struct Shared {
    url: String,
    http: reqwest::Client,
    desks: Vec<(String, String)>,
    /// Each desk's latest token: a sign-in replaces it, as a desk signs in again before its
    /// token (five minutes) expires.
    desk_tokens: Mutex<Vec<String>>,
    bpjs: String,
    puskesmas: String,
    registered: Mutex<Vec<String>>,
    carded: Mutex<Vec<String>>,
    done: Mutex<Vec<Done>>,
    /// The first failures, to say what they were.
    failures: Mutex<Vec<String>>,
    districts: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn record(&self, workload: usize, ok: bool, due: Instant) {
        let ms = due.elapsed().as_secs_f64() * 1000.0;
        lock(&self.done).push(Done { workload, ok, ms });
    }

    /// The `n`-th request of `workload`, due at `due` (none sent when there is nothing to
    /// submit or query yet: no resident registered or no card issued).
    async fn run(self: Arc<Self>, workload: usize, n: usize, due: Instant) {
        let outcome = match workload {
            0 => Some(self.register(n).await),
            1 => Some(self.sign_in(n).await),
            2 => self.submit().await,
            _ => self.query(n).await,
        };
        if let Some(result) = outcome {
            if let Err(why) = &result {
                let mut failures = lock(&self.failures);
                if failures.len() < 20 {
                    failures.push(format!("{}: {why}", WORKLOADS[workload]));
                }
            }
            self.record(workload, result.is_ok(), due);
        }
    }

    async fn post(&self, path: &str, token: &str, body: serde_json::Value) -> Option<(u16, serde_json::Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(serde_json::Value::Null)))
    }

    async fn register(&self, n: usize) -> Result<(), String> {
        let body = crate::registry::resident(n, &self.districts);
        let nik = body["nik"].as_str().unwrap_or_default().to_owned();
        let token = {
            let tokens = lock(&self.desk_tokens);
            tokens[n % tokens.len()].clone()
        };
        match self.post("/api/v1/population/residents", &token, body).await {
            Some((201, _)) => {
                lock(&self.registered).push(nik);
                Ok(())
            }
            other => Err(refusal(other)),
        }
    }

    async fn sign_in(&self, n: usize) -> Result<(), String> {
        let (id, secret) = &self.desks[n % self.desks.len()];
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                let answer: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
                let token = answer["access_token"].as_str().ok_or("no access token")?;
                lock(&self.desk_tokens)[n % self.desks.len()] = token.to_owned();
                Ok(())
            }
            Ok(r) => Err(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn submit(&self) -> Option<Result<(), String>> {
        // A resident registered earlier and not carded yet.
        let nik = lock(&self.registered).pop()?;
        let body = serde_json::json!({ "function": "IssueCard", "args": [nik, "2", "2030-12-31"] });
        Some(match self.post("/api/v1/ledger/transactions", &self.bpjs, body).await {
            Some((201, _)) => {
                lock(&self.carded).push(nik);
                Ok(())
            }
            other => Err(refusal(other)),
        })
    }

    async fn query(&self, n: usize) -> Option<Result<(), String>> {
        let nik = {
            let carded = lock(&self.carded);
            if carded.is_empty() {
                return None;
            }
            carded[n.wrapping_mul(7919) % carded.len()].clone()
        };
        let body = serde_json::json!({ "function": "VerifyCard", "args": [nik] });
        Some(
            match self.post("/api/v1/ledger/evaluate", &self.puskesmas, body).await {
                Some((200, _)) => Ok(()),
                other => Err(refusal(other)),
            },
        )
    }
}

/// Why a request was not answered as wanted: the status and the problem's type, or no answer.
fn refusal(answer: Option<(u16, serde_json::Value)>) -> String {
    match answer {
        Some((status, problem)) => format!(
            "{status} {}",
            problem["type"]
                .as_str()
                .or(problem["detail"].as_str())
                .unwrap_or_default()
        ),
        None => "no answer".into(),
    }
}

/// The child's resident memory (MiB) and open file descriptors.
fn process_figures(pid: u32) -> (f64, usize) {
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss_kib / 1024.0, fds)
}

async fn prepare(bench: &SoakBench) -> anyhow::Result<(Target, Arc<Shared>)> {
    let districts = crate::registry::bench_districts();
    // The sign-in class's limit (60 a minute from one address) raised for the load
    // generator's one address; the limiter still runs on every request.
    let sign_in_class = "[[gateway.route_classes]]\nname = \"sign_in\"\npath_prefix = \"/oauth2/\"\n\
                         user_per_minute = 1000000\nanonymous_per_minute = 1000000\n";
    let mut target = crate::registry::start_target(None, 4, &districts, true, sign_in_class).await?;
    wait_ready(&mut target).await?;
    let desk_tokens = crate::registry::tokens(&target)
        .await?
        .into_iter()
        .map(|(_, token)| token)
        .collect();
    // The officers' tokens, minted with the platform's own key as its sign-in would.
    let (platform, minter) = crate::child::platform_minter(target.config.clone()).await?;
    let audience = platform.config.identity.audience.clone();
    let mint = |subject: &str, msp: &str, facility: Option<&str>| warga_auth::AccessClaims {
        roles: vec!["ledger_member".into()],
        msp_id: Some(msp.into()),
        facility: facility.map(Into::into),
        ..warga_auth::AccessClaims::new(subject, &audience)
    };
    let ttl = u32::try_from(bench.duration.as_secs() + 3_600).unwrap_or(u32::MAX);
    let bpjs = minter
        .access_token(mint("soak-petugas-bpjs", "BPJSMSP", None), ttl.into())
        .await?
        .token;
    let puskesmas = minter
        .access_token(
            mint("soak-loket-puskesmas", "PuskesmasMSP", Some("P3578010")),
            ttl.into(),
        )
        .await?
        .token;
    platform.store.close().await;
    let shared = Arc::new(Shared {
        url: target.url.clone(),
        http: https_client(&target.cert)?,
        desks: target.secrets.clone(),
        desk_tokens: Mutex::new(desk_tokens),
        bpjs,
        puskesmas,
        registered: Mutex::new(Vec::new()),
        carded: Mutex::new(Vec::new()),
        done: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        districts,
    });
    Ok((target, shared))
}

/// Runs `workload` at `rate` per second until `until`, open loop.
async fn pace(shared: Arc<Shared>, workload: usize, rate: u32, until: Instant) {
    if rate == 0 {
        return;
    }
    let every = Duration::from_secs_f64(1.0 / f64::from(rate));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0.. {
        let due = started + every * n;
        if due >= until {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        tasks.spawn(shared.clone().run(workload, n as usize, due));
        // Finished requests go as the run goes.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

fn summarise(done: Vec<Done>) -> [(usize, usize, f64); 4] {
    let mut out = [(0, 0, f64::NAN); 4];
    let mut latencies: [Vec<f64>; 4] = Default::default();
    for d in done {
        out[d.workload].0 += 1;
        if !d.ok {
            out[d.workload].1 += 1;
        }
        latencies[d.workload].push(d.ms);
    }
    for (i, mut l) in latencies.into_iter().enumerate() {
        l.sort_by(f64::total_cmp);
        if !l.is_empty() {
            out[i].2 = percentile(&l, 99.0);
        }
    }
    out
}

pub async fn soak(bench: SoakBench) -> Result<(), BenchError> {
    if bench.duration < bench.sample * 3 {
        return Err(BenchError::Usage("--minutes must cover at least three samples".into()));
    }
    if bench.registrations_per_s > 0 && bench.sign_ins_per_s == 0 {
        return Err(BenchError::Usage(
            "registrations need sign-ins (--sign-ins 1 or more): the desks' tokens last five minutes".into(),
        ));
    }
    std::fs::create_dir_all(&bench.out)
        .with_context(|| format!("cannot create {}", bench.out.display()))
        .map_err(BenchError::Failed)?;
    let (mut target, shared) = prepare(&bench).await?;
    let pid = target
        .child
        .as_ref()
        .and_then(tokio::process::Child::id)
        .ok_or_else(|| anyhow!("warga up is not running"))?;
    let started = Instant::now();
    let until = started + bench.duration;
    let rates = [
        bench.registrations_per_s,
        bench.sign_ins_per_s,
        bench.submits_per_s,
        bench.queries_per_s,
    ];
    let mut load = JoinSet::new();
    for (workload, rate) in rates.into_iter().enumerate() {
        load.spawn(pace(shared.clone(), workload, rate, until));
    }
    let mut rows = Vec::new();
    let mut next = started + bench.sample;
    while next <= until {
        tokio::time::sleep_until(next.into()).await;
        let (rss_mib, fds) = process_figures(pid);
        let done = std::mem::take(&mut *lock(&shared.done));
        rows.push(Row {
            at_s: started.elapsed().as_secs_f64(),
            rss_mib,
            fds,
            workloads: summarise(done),
        });
        next += bench.sample;
    }
    while load.join_next().await.is_some() {}
    target.stop().await;
    report(&bench, &rows)?;
    let failures = lock(&shared.failures);
    if !failures.is_empty() {
        println!("\nThe first failures:\n");
        for failure in failures.iter() {
            println!("- {failure}");
        }
    }
    Ok(())
}

fn report(bench: &SoakBench, rows: &[Row]) -> anyhow::Result<()> {
    let mut csv = String::from("seconds,rss_mib,open_fds");
    for w in WORKLOADS {
        let w = w.replace(' ', "_");
        csv.push_str(&format!(",{w}_sent,{w}_failed,{w}_p99_ms"));
    }
    csv.push('\n');
    for r in rows {
        csv.push_str(&format!("{:.0},{:.1},{}", r.at_s, r.rss_mib, r.fds));
        for (sent, failed, p99) in r.workloads {
            csv.push_str(&format!(",{sent},{failed},{p99:.1}"));
        }
        csv.push('\n');
    }
    std::fs::write(bench.out.join("soak.csv"), csv)?;
    std::fs::write(bench.out.join("soak.svg"), plot(rows))?;

    println!(
        "Machine: {}; the load generator and `warga up` (the ledger network inside it, SQLite) on the same machine. {} min, a row every {} s; open loop: registrations {}/s, sign-ins {}/s, ledger submits {}/s, ledger queries {}/s.\n",
        crate::ledger::machine(),
        bench.duration.as_secs() / 60,
        bench.sample.as_secs(),
        bench.registrations_per_s,
        bench.sign_ins_per_s,
        bench.submits_per_s,
        bench.queries_per_s
    );
    let third = (rows.len() / 3).max(1);
    let (first, last) = (&rows[..third], &rows[rows.len() - third..]);
    let median = |rows: &[Row], f: &dyn Fn(&Row) -> f64| {
        let mut v: Vec<f64> = rows.iter().map(f).filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
    };
    println!("| measure | first third (median) | last third (median) | last ÷ first |");
    println!("|---|---:|---:|---:|");
    let line = |name: &str, f: &dyn Fn(&Row) -> f64, unit: &str| {
        let (a, b) = (median(first, f), median(last, f));
        println!("| {name} | {a:.1} {unit} | {b:.1} {unit} | {:.2} |", b / a);
    };
    line("resident memory", &|r| r.rss_mib, "MiB");
    line("open file descriptors", &|r| r.fds as f64, "");
    for (i, w) in WORKLOADS.iter().enumerate() {
        line(&format!("{w} p99"), &|r| r.workloads[i].2, "ms");
    }
    let totals: Vec<(usize, usize)> = (0..4)
        .map(|i| {
            rows.iter()
                .fold((0, 0), |(s, f), r| (s + r.workloads[i].0, f + r.workloads[i].1))
        })
        .collect();
    println!();
    for (w, (sent, failed)) in WORKLOADS.iter().zip(&totals) {
        println!("- {w}: {sent} sent, {failed} failed");
    }
    println!("\nRows: {} (CSV and plot in {}).", rows.len(), bench.out.display());
    Ok(())
}

/// Two panels over time: resident memory and open files; each workload's p99.
fn plot(rows: &[Row]) -> String {
    const W: f64 = 800.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 30.0;
    let end = rows.last().map_or(1.0, |r| r.at_s).max(1.0);
    let x = |t: f64| LEFT + (W - LEFT - 20.0) * t / end;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
"##,
        2.0 * (H + TOP + 20.0) + 30.0
    );
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut panel = |index: usize, title: &str, unit: &str, series: Vec<(String, Vec<(f64, f64)>)>| {
        let top = TOP + index as f64 * (H + TOP + 20.0);
        let max = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max)
            .max(1.0)
            * 1.1;
        let y = |v: f64| top + H - H * v / max;
        svg.push_str(&format!(
            r##"<text x="{LEFT}" y="{}" font-weight="bold">{title}</text>
<line x1="{LEFT}" y1="{}" x2="{LEFT}" y2="{}" stroke="black"/>
<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="end">{max:.0} {unit}</text>
<text x="{}" y="{}" text-anchor="end">0</text>
<text x="{}" y="{}" text-anchor="end">{:.0} min</text>
"##,
            top - 10.0,
            top,
            top + H,
            top + H,
            W - 20.0,
            top + H,
            LEFT - 4.0,
            top + 10.0,
            LEFT - 4.0,
            top + H,
            W - 20.0,
            top + H + 14.0,
            end / 60.0
        ));
        for (i, (name, points)) in series.iter().enumerate() {
            let colour = colours[i % colours.len()];
            let path: Vec<String> = points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
                .collect();
            svg.push_str(&format!(
                r##"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>
<text x="{}" y="{}" fill="{colour}">{name}</text>
"##,
                path.join(" "),
                LEFT + 10.0 + 190.0 * i as f64,
                top + H + 14.0
            ));
        }
    };
    let rss = rows.iter().map(|r| (r.at_s, r.rss_mib)).collect();
    let fds = rows.iter().map(|r| (r.at_s, r.fds as f64)).collect();
    panel(
        0,
        "Memori (RSS, MiB) dan berkas terbuka / Resident memory (MiB) and open files",
        "",
        vec![("RSS MiB".into(), rss), ("open files".into(), fds)],
    );
    let mut p99 = BTreeMap::new();
    for (i, w) in WORKLOADS.iter().enumerate() {
        p99.insert(
            i,
            (
                format!("{w} p99 ms"),
                rows.iter().map(|r| (r.at_s, r.workloads[i].2)).collect(),
            ),
        );
    }
    panel(
        1,
        "Latensi p99 per beban / p99 latency per workload",
        "ms",
        p99.into_values().collect(),
    );
    svg.push_str("</svg>\n");
    svg
}
