//! `warga bench reports`: the JagaWarga seed's flood (R-SC1) — thousands of citizens'
//! reports in seconds through HTTPS with real tokens — against a warga started for the run.
//!
//! Before the child starts, the run registers residents and links a citizen account to each
//! (through the population library, as a registry officer's confirmation would), and mints
//! each citizen an access token with the platform's own signing key (the child validates it
//! like any other). Then, for each load:
//!
//! - **fixed rate** (open loop): reports are sent on a schedule; each latency counts from the
//!   moment its report was due, so a server that falls behind shows it;
//! - **max rate** (closed loop): `concurrency` reports in flight, back to back;
//! - optionally the same with a ~200 KB photo each (multipart; decoded, re-encoded, sealed).
//!
//! After each load it waits until every accepted report is in its department's inbox (the
//! consumer of `reports.report.submitted`) and reports how long after the last acceptance
//! that was; at the end it checks that every accepted report was stored and routed once and
//! announced once, and nothing refused was stored. The reference measured in the same run
//! is the HTTPS edge itself: authenticated `GET /api/v1/reports/categories` at the max-rate
//! concurrency; on PostgreSQL also pgbench single-row inserts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::Semaphore;

use crate::BenchError;
use crate::child::{Target, https_client, percentile, pgbench, scalar, wait_ready};

/// What to run.
#[derive(Debug, Clone)]
pub struct ReportsBench {
    /// `None`: SQLite and the in-process bus (`warga up`'s defaults). `Some(url)`: a
    /// PostgreSQL server (the run creates and drops its own database).
    pub postgres_url: Option<String>,
    /// With PostgreSQL: NATS JetStream as the bus.
    pub nats_url: Option<String>,
    /// Reports per load.
    pub count: usize,
    /// Fixed rates (reports/s) to run, one load each.
    pub rates: Vec<u32>,
    /// Reports in flight in the max-rate load (0: no max-rate load).
    pub concurrency: usize,
    /// Also send loads with a ~200 KB photo per report: this many reports.
    pub photo_count: usize,
    /// Citizens filing (each with their own token).
    pub citizens: usize,
}

/// One measured load.
struct Load {
    name: String,
    photo: bool,
    sent: usize,
    ok: usize,
    errors: usize,
    /// Error statuses and how often (0: no answer).
    statuses: std::collections::BTreeMap<u16, usize>,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
    notified_after: Duration,
}

const CATEGORIES: [&str; 6] = [
    "jalan-rusak",
    "saluran-tersumbat",
    "sampah-liar",
    "pohon-berbahaya",
    "parkir-liar",
    "bahaya-kebakaran",
];

/// The `n`-th report: spread over categories (so departments) and around Jakarta Pusat.
fn report(n: usize) -> serde_json::Value {
    serde_json::json!({
        "title": format!("Laporan banjir nomor {n}"),
        "description": "Air setinggi lutut menggenangi jalan dan masuk ke rumah warga sejak subuh.",
        "category": CATEGORIES[n % CATEGORIES.len()],
        "latitude": -6.18 - (n % 100) as f64 * 0.0005,
        "longitude": 106.80 + (n % 97) as f64 * 0.0005,
        "district": "317107",
        "visibility": "public",
    })
}

/// A ~200 KB JPEG: a photo-like gradient with noise (noise does not compress).
fn photo() -> anyhow::Result<Vec<u8>> {
    let mut state = 0x2545_f491_u32;
    let pixels = image::RgbImage::from_fn(800, 600, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 64) as u8;
        image::Rgb([
            (x / 3) as u8 ^ noise,
            (y / 2) as u8 ^ noise,
            ((x + y) / 5) as u8 ^ noise,
        ])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(pixels).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)?;
    Ok(out)
}

fn multipart(report: &serde_json::Value, photo: &[u8]) -> (String, Vec<u8>) {
    let boundary = "warga-bench-9d3f0c71";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\nContent-Type: application/json\r\n\r\n{report}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"banjir.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(photo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Residents, citizens linked to them, and a token each.
async fn citizens(target: &Target, count: usize) -> anyhow::Result<Vec<String>> {
    let (platform, minter) = crate::child::platform_minter(target.config.clone()).await?;
    let mut tokens = Vec::with_capacity(count);
    for n in 0..count {
        // Born 1980-01-01 … in Tanah Abang; female; serials 0001….
        let (month, day) = (1 + n % 12, 1 + (n / 12) % 28);
        let serial = 1 + n / 336;
        let nik = format!("317107{:02}{month:02}80{serial:04}", day + 40);
        let resident: warga_population::residents::NewResident = serde_json::from_value(serde_json::json!({
            "nik": nik, "full_name": format!("Warga Banjir {n}"), "birth_place": "Jakarta",
            "birth_date": format!("1980-{month:02}-{day:02}"), "sex": "female",
            "address": "Jl. Kebon Kacang Raya", "rt_rw": "001/002", "village": "3171071006", "district": "317107",
            "religion": "Islam", "marital_status": "Kawin", "occupation": "Pedagang",
        }))?;
        warga_population::residents::register(&platform, &resident, "system:bench")
            .await
            .map_err(|e| anyhow!("registering a resident: {e}"))?;
        let subject = format!("bench-citizen-{n}");
        let ask = warga_population::links::LinkAsk {
            nik,
            birth_date: format!("1980-{month:02}-{day:02}"),
        };
        let request = warga_population::links::ask(&platform, &subject, &subject, &ask)
            .await
            .map_err(|e| anyhow!("asking a link: {e}"))?;
        let decision = warga_population::links::LinkDecision {
            approve: true,
            reason: None,
        };
        warga_population::links::decide(&platform, &request, &decision, "system:bench")
            .await
            .map_err(|e| anyhow!("confirming a link: {e}"))?;
        let claims = warga_auth::AccessClaims {
            roles: vec!["citizen".into()],
            ..warga_auth::AccessClaims::new(&subject, &platform.config.identity.audience)
        };
        tokens.push(minter.access_token(claims, 4 * 3_600).await?.token);
    }
    platform.store.close().await;
    Ok(tokens)
}

/// Sends `count` reports from `first`: at `rate` per second, or (rate 0) `concurrency` at
/// once back to back.
#[allow(clippy::too_many_arguments)]
async fn load(
    target: &Target,
    clients: &[reqwest::Client],
    tokens: &[String],
    name: String,
    first: usize,
    count: usize,
    rate: u32,
    concurrency: usize,
    photo: Option<Arc<Vec<u8>>>,
) -> Load {
    // Open loop: enough in flight that the schedule, not a cap, sets the pace.
    let limit = Arc::new(Semaphore::new(if rate == 0 { concurrency } else { 8_192 }));
    let url = Arc::new(format!("{}/api/v1/reports", target.url));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let n = first + i;
        let due = if rate == 0 {
            None
        } else {
            let at = started + Duration::from_secs_f64(i as f64 / f64::from(rate));
            tokio::time::sleep_until(at.into()).await;
            Some(at)
        };
        let permit = limit.clone().acquire_owned().await;
        let (client, token, url, photo) = (
            clients[n % clients.len()].clone(),
            tokens[n % tokens.len()].clone(),
            url.clone(),
            photo.clone(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let from = due.unwrap_or_else(Instant::now);
            let request = client.post(url.as_str()).bearer_auth(token);
            let body = report(n);
            let request = match photo {
                Some(bytes) => {
                    let (content_type, body) = multipart(&body, &bytes);
                    request.header("content-type", content_type).body(body)
                }
                None => request.json(&body),
            };
            let status = match request.send().await {
                Ok(response) => response.status().as_u16(),
                Err(error) => {
                    // No answer at all: say why (the table counts it as status 0).
                    eprintln!("a report got no answer: {error:?}");
                    0
                }
            };
            (status, from.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut out = Load {
        name,
        photo: false,
        sent: count,
        ok: 0,
        errors: 0,
        statuses: std::collections::BTreeMap::new(),
        elapsed: Duration::ZERO,
        latencies_ms: Vec::with_capacity(count),
        notified_after: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((status, ms)) => {
                if status == 201 {
                    out.ok += 1;
                } else {
                    out.errors += 1;
                    *out.statuses.entry(status).or_default() += 1;
                }
                out.latencies_ms.push(ms);
            }
            Err(_) => out.errors += 1,
        }
    }
    out.elapsed = started.elapsed();
    out.latencies_ms.sort_by(f64::total_cmp);
    out
}

/// Waits until `expected` reports are announced in their departments' inboxes.
async fn notified(target: &Target, expected: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let told = scalar(
            &target.store,
            "SELECT COUNT(*) FROM report_officer_inbox WHERE kind = 'submitted'",
        )
        .await?;
        if told >= expected {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(anyhow!(
                "the departments were told of {told} of {expected} reports within 600 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The edge's own rate: authenticated GETs of a static list, `concurrency` in flight.
async fn edge_reference(
    target: &Target,
    client: &reqwest::Client,
    token: &str,
    count: usize,
    concurrency: usize,
) -> f64 {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let url = Arc::new(format!("{}/api/v1/reports/categories", target.url));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let permit = limit.clone().acquire_owned().await;
        let (client, url, token) = (client.clone(), url.clone(), token.to_owned());
        tasks.spawn(async move {
            let _permit = permit;
            matches!(client.get(url.as_str()).bearer_auth(token).send().await, Ok(r) if r.status().is_success())
        });
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        ok += usize::from(matches!(joined, Ok(true)));
    }
    ok as f64 / started.elapsed().as_secs_f64()
}

/// Runs the benchmark and prints a Markdown report.
pub async fn reports(bench: ReportsBench) -> Result<(), BenchError> {
    if bench.count == 0 || bench.citizens == 0 || (bench.rates.is_empty() && bench.concurrency == 0) {
        return Err(BenchError::Usage(
            "--count and --citizens must be greater than 0, with at least one --rate or a --concurrency".into(),
        ));
    }
    if bench.nats_url.is_some() && bench.postgres_url.is_none() {
        return Err(BenchError::Usage("--nats-url needs --postgres-url".into()));
    }
    let engine = match (&bench.postgres_url, &bench.nats_url) {
        (None, _) => "SQLite, in-process bus",
        (Some(_), None) => "PostgreSQL, in-process bus",
        (Some(_), Some(_)) => "PostgreSQL, NATS JetStream",
    };
    let extra = match &bench.nats_url {
        Some(url) => format!(
            "[bus]\nbackend = \"nats\"\nnats_url = {url:?}\nnats_prefix = \"warga-bench-{}\"\n",
            std::process::id()
        ),
        None => String::new(),
    };
    eprintln!("preparing {} linked citizens …", bench.citizens);
    let mut target = Target::prepare(bench.postgres_url.as_deref(), &extra, false).await?;
    let outcome = async {
        let tokens = citizens(&target, bench.citizens).await?;
        eprintln!("starting warga up on {engine} …");
        target.spawn()?;
        run(&bench, &mut target, &tokens, engine).await
    }
    .await;
    target.stop().await;
    let reference = match (&outcome, &target.drop) {
        (Ok(best), Some(_)) => {
            let clients = bench.concurrency.clamp(1, 64);
            pgbench(&target.database_url, clients, 10).map(|tps| {
                println!(
                    "\npgbench single-row INSERT on the same server, {clients} connections, 10 s: {tps:.0} tps. \
                     Best report throughput / pgbench = {:.3}.",
                    best / tps
                );
            })
        }
        _ => Ok(()),
    };
    target.drop_database().await;
    Ok(outcome.and(reference)?)
}

/// Loads, checks and prints the table; returns the best throughput without photos.
async fn run(bench: &ReportsBench, target: &mut Target, tokens: &[String], engine: &str) -> anyhow::Result<f64> {
    wait_ready(target).await?;
    let client = https_client(&target.cert)?;
    // Each citizen on a phone of their own: a connection each, as the city's citizens would
    // come (one shared HTTP/2 connection would run at its stream limit under the flood).
    let clients = tokens
        .iter()
        .map(|_| https_client(&target.cert))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut loads = Vec::new();
    let mut first = 0;
    let mut accepted = 0i64;
    let mut plan: Vec<(String, u32, usize, bool)> = bench
        .rates
        .iter()
        .map(|rate| (format!("{rate}/s fixed"), *rate, bench.count, false))
        .collect();
    if bench.concurrency > 0 {
        plan.push((format!("max, {} in flight", bench.concurrency), 0, bench.count, false));
    }
    let picture = Arc::new(photo()?);
    if bench.photo_count > 0 {
        plan.push((
            format!("max, {} in flight", bench.concurrency.clamp(1, 32)),
            0,
            bench.photo_count,
            true,
        ));
    }
    for (name, rate, count, with_photo) in plan {
        let concurrency = if with_photo {
            bench.concurrency.clamp(1, 32)
        } else {
            bench.concurrency.max(1)
        };
        let photo = with_photo.then(|| picture.clone());
        let mut measured = load(target, &clients, tokens, name, first, count, rate, concurrency, photo).await;
        measured.photo = with_photo;
        first += count;
        accepted += measured.ok as i64;
        measured.notified_after = notified(target, accepted).await?;
        eprintln!(
            "{}{}: {} ok, {} errors {:?} in {:.2} s; the last department told {:.2} s later",
            measured.name,
            if with_photo { " with photos" } else { "" },
            measured.ok,
            measured.errors,
            measured.statuses,
            measured.elapsed.as_secs_f64(),
            measured.notified_after.as_secs_f64()
        );
        loads.push(measured);
    }
    let edge = edge_reference(target, &client, &tokens[0], bench.count, bench.concurrency.max(64)).await;

    // Consistency: every accepted report stored and routed once, announced once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = &target.store;
    let stored = scalar(store, "SELECT COUNT(*) FROM reports").await?;
    let unrouted = scalar(store, "SELECT COUNT(*) FROM reports WHERE department = ''").await?;
    let told = scalar(
        store,
        "SELECT COUNT(*) FROM report_officer_inbox WHERE kind = 'submitted'",
    )
    .await?;
    let told_twice = scalar(
        store,
        "SELECT COUNT(*) FROM (SELECT report_id FROM report_officer_inbox WHERE kind = 'submitted' \
         GROUP BY report_id HAVING COUNT(*) > 1) AS d",
    )
    .await?;
    let photos = scalar(store, "SELECT COUNT(*) FROM report_photos").await?;
    let photo_ok: i64 = loads.iter().filter(|l| l.photo).map(|l| l.ok as i64).sum();
    let consistent = stored == accepted && unrouted == 0 && told == accepted && told_twice == 0 && photos == photo_ok;

    println!("### warga bench reports — {engine}\n");
    println!(
        "The flood (R-SC1): public reports through HTTPS with real tokens from {} linked citizens; \
         warga up and the load generator share the machine. Fixed-rate latencies count from when each report was due.\n",
        bench.citizens
    );
    println!(
        "| engine | load | photo | sent | accepted | errors | accepted/s | p50 (ms) | p95 (ms) | p99 (ms) | last department told after (s) |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in &loads {
        println!(
            "| {engine} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            l.name,
            if l.photo { "~200 KB" } else { "–" },
            l.sent,
            l.ok,
            if l.errors == 0 {
                "0".to_owned()
            } else {
                let by_status: Vec<String> = l.statuses.iter().map(|(s, n)| format!("{n}×{s}")).collect();
                format!("{} ({})", l.errors, by_status.join(", "))
            },
            l.ok as f64 / l.elapsed.as_secs_f64(),
            percentile(&l.latencies_ms, 50.0),
            percentile(&l.latencies_ms, 95.0),
            percentile(&l.latencies_ms, 99.0),
            l.notified_after.as_secs_f64()
        );
    }
    let best = loads
        .iter()
        .filter(|l| !l.photo)
        .map(|l| l.ok as f64 / l.elapsed.as_secs_f64())
        .fold(0.0, f64::max);
    println!(
        "\nReference in the same run: authenticated `GET /api/v1/reports/categories`, {} in flight: {edge:.0} req/s; \
         best report rate / edge rate = {:.3}.",
        bench.concurrency.max(64),
        best / edge
    );
    println!(
        "\nConsistency: {stored} reports stored of {accepted} accepted, {unrouted} unrouted, {told} announced to departments \
         ({told_twice} twice), {photos} photos of {photo_ok} → {}",
        if consistent {
            "consistent, none lost"
        } else {
            "INCONSISTENT"
        }
    );
    if !consistent {
        return Err(anyhow!("accepted reports, stored reports and notifications disagree"));
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_reports_and_photo_are_what_the_service_takes() {
        for n in 0..12 {
            let r = report(n);
            assert!(warga_reports::categories::by_id(r["category"].as_str().unwrap()).is_some());
        }
        let jpeg = photo().unwrap();
        assert!((150_000..=400_000).contains(&jpeg.len()), "{} bytes", jpeg.len());
        let limits = warga_reports::photos::PhotoLimits {
            max_bytes: 8 << 20,
            max_pixels: 50_000_000,
        };
        assert!(warga_reports::photos::sanitize("photos[0]", &jpeg, limits).is_ok());
    }
}
