//! Analytics (R6) and oversight (R9): what the departments and the mayor's office see of the
//! reports as a whole — counts by category, status, department, district and day; response
//! and resolution times (percentiles); service-level compliance; a heatmap (GeoJSON, and an
//! SVG map drawn here over Natural Earth's outline of Indonesia); a CSV export; and the
//! departments compared week by week.
//!
//! Scope: the top office (`pemkot`) and administrators see every department; a department's
//! officers their own; no one else. Nothing here names a reporter: the rows are reports'
//! codes and times, and the heatmap counts reports per cell of a grid (0.01° by default,
//! about a kilometre), never a point.
//!
//! Times: a response is the department's first step (verify, start, ask, resolve or
//! reject); a resolution its first resolve or reject. Service levels come from the
//! report's durable timers: a deadline met is a timer cancelled by the department's step,
//! a deadline missed one that fired. Anonymous reports' filing times are coarsened to the
//! hour, so their durations are up to an hour long.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::identity::{Principal, Role};
use warga_http::Platform;
use warga_population::regions::REGIONS;
use warga_store::StoreError;

use crate::categories::{self, TOP_AUTHORITY};
use crate::error::ReportsError;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;
/// WIB, for the days of the counts.
const WIB_MS: i64 = 7 * 3_600_000;
/// Reports one analysis reads at most.
const MAX_ROWS: i64 = 500_000;

/// Which reports a caller may analyse: `None` every department's.
pub fn scope(principal: &Principal) -> Result<Option<String>, ReportsError> {
    if principal.has_role(Role::Admin) {
        return Ok(None);
    }
    match principal.department.as_deref() {
        Some(TOP_AUTHORITY) if principal.has_role(Role::Officer) => Ok(None),
        Some(department) if principal.has_role(Role::Officer) => Ok(Some(department.to_owned())),
        _ => Err(ReportsError::Forbidden(
            "analitik laporan hanya untuk petugas dinas dan Pemerintah Kota".into(),
        )),
    }
}

/// Filters of an analysis.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// First day, `YYYY-MM-DD` (WIB); 30 days before `to` by default.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (WIB), included; today by default.
    pub to: Option<String>,
    pub category: Option<String>,
    /// A department (within the caller's scope).
    pub department: Option<String>,
    /// A province (2 digits), regency (4) or district (6) code.
    pub region: Option<String>,
    /// Heatmap cell size in degrees (0.005 to 1; 0.01 by default).
    pub cell: Option<f64>,
}

/// The window and filters after checking.
struct Filter {
    from_ms: i64,
    to_ms: i64,
    department: String,
    category: String,
    region: String,
}

fn check(query: &AnalyticsQuery, scope: Option<&str>, now: i64) -> Result<Filter, ReportsError> {
    let day = |field: &str, text: &str| {
        crate::calendar::parse_date(text)
            .map(|days| days * DAY_MS - WIB_MS)
            .ok_or_else(|| ReportsError::invalid(field, "tanggal YYYY-MM-DD"))
    };
    let today = (now + WIB_MS).div_euclid(DAY_MS) * DAY_MS - WIB_MS;
    let to_ms = match &query.to {
        Some(text) => day("to", text)?,
        None => today,
    } + DAY_MS;
    let from_ms = match &query.from {
        Some(text) => day("from", text)?,
        None => to_ms - 30 * DAY_MS,
    };
    if from_ms >= to_ms {
        return Err(ReportsError::invalid("from", "harus sebelum `to`"));
    }
    if to_ms - from_ms > 3 * 366 * DAY_MS {
        return Err(ReportsError::invalid("from", "rentang paling lama 3 tahun"));
    }
    let department = match (scope, query.department.as_deref()) {
        (Some(own), Some(asked)) if asked != own => {
            return Err(ReportsError::Forbidden("hanya data dinas Anda sendiri".into()));
        }
        (Some(own), _) => own.to_owned(),
        (None, Some(asked)) if !categories::is_department(asked) => {
            return Err(ReportsError::invalid("department", "dinas tidak dikenal"));
        }
        (None, asked) => asked.unwrap_or_default().to_owned(),
    };
    let category = match query.category.as_deref() {
        Some(id) if categories::by_id(id).is_none() => {
            return Err(ReportsError::invalid("category", "kategori tidak dikenal"));
        }
        other => other.unwrap_or_default().to_owned(),
    };
    let region = match query.region.as_deref() {
        Some(code) if matches!(code.len(), 2 | 4 | 6) && code.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{code}%")
        }
        Some(_) => return Err(ReportsError::invalid("region", "kode wilayah 2, 4 atau 6 angka")),
        None => "%".to_owned(),
    };
    Ok(Filter {
        from_ms,
        to_ms,
        department,
        category,
        region,
    })
}

/// One report as the analyses see it.
#[derive(Clone, Debug)]
struct Fact {
    id: String,
    category: String,
    department: String,
    district: String,
    status: String,
    created_at_ms: i64,
    escalation_level: i64,
    latitude: f64,
    longitude: f64,
    responded_at_ms: Option<i64>,
    closed_at_ms: Option<i64>,
    /// `met`, `missed` or `open`, for the response and the resolution deadlines.
    response_sla: &'static str,
    resolution_sla: &'static str,
    /// When the deadlines that were missed fired.
    breaches_at_ms: Vec<i64>,
}

const WHERE: &str = "r.created_at_ms >= $1 AND r.created_at_ms < $2 AND ($3 = '' OR r.department = $3) \
                     AND ($4 = '' OR r.category = $4) AND r.district LIKE $5";

async fn facts(platform: &Platform, filter: &Filter) -> Result<Vec<Fact>, ReportsError> {
    fn bind<'q>(sql: &'q str, filter: &Filter) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        sqlx::query(sql)
            .bind(filter.from_ms)
            .bind(filter.to_ms)
            .bind(filter.department.clone())
            .bind(filter.category.clone())
            .bind(filter.region.clone())
    }
    // A department's own analysis is held to its rows by row-level security as well.
    let mut read = platform.store.reader().begin().await.map_err(StoreError::from)?;
    if !filter.department.is_empty() {
        crate::reports::scope_to_department(platform, &mut read, &filter.department).await?;
    }
    let rows_sql = format!(
        "SELECT r.id, r.category, r.department, r.district, r.status, r.created_at_ms, r.escalation_level, \
         r.latitude_e6, r.longitude_e6 FROM reports r WHERE {WHERE} ORDER BY r.created_at_ms LIMIT {MAX_ROWS}"
    );
    let rows = bind(&rows_sql, filter)
        .fetch_all(&mut *read)
        .await
        .map_err(StoreError::from)?;
    let steps_sql = format!(
        "SELECT e.report_id, \
         MIN(CASE WHEN e.department IS NOT NULL AND e.status IN \
             ('acknowledged', 'in_progress', 'waiting_reporter', 'resolved', 'rejected') THEN e.at_ms END), \
         MIN(CASE WHEN e.status IN ('resolved', 'rejected', 'withdrawn') THEN e.at_ms END) \
         FROM report_events e JOIN reports r ON r.id = e.report_id WHERE {WHERE} GROUP BY e.report_id"
    );
    let steps = bind(&steps_sql, filter)
        .fetch_all(&mut *read)
        .await
        .map_err(StoreError::from)?;
    let timers_sql = format!(
        "SELECT t.report_id, t.kind, t.state, t.fired_at_ms FROM report_timers t JOIN reports r ON r.id = t.report_id \
         WHERE {WHERE} AND t.kind IN ('response', 'resolution')"
    );
    let timers = bind(&timers_sql, filter)
        .fetch_all(&mut *read)
        .await
        .map_err(StoreError::from)?;
    read.rollback().await.map_err(StoreError::from)?;
    let mut times: HashMap<String, (Option<i64>, Option<i64>)> = HashMap::with_capacity(steps.len());
    for row in &steps {
        times.insert(row.get(0), (row.get(1), row.get(2)));
    }
    let mut slas: HashMap<String, Vec<(String, String, Option<i64>)>> = HashMap::new();
    for row in &timers {
        slas.entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2), row.get(3)));
    }
    Ok(rows
        .iter()
        .map(|row| {
            let id: String = row.get(0);
            let status: String = row.get(4);
            let (responded, closed) = times.get(&id).copied().unwrap_or((None, None));
            let mut fact = Fact {
                category: row.get(1),
                department: row.get(2),
                district: row.get(3),
                created_at_ms: row.get(5),
                escalation_level: row.get(6),
                latitude: row.get::<i64, _>(7) as f64 / 1e6,
                longitude: row.get::<i64, _>(8) as f64 / 1e6,
                responded_at_ms: responded,
                closed_at_ms: closed,
                response_sla: "open",
                resolution_sla: "open",
                breaches_at_ms: Vec::new(),
                status,
                id,
            };
            for (kind, state, fired) in slas.get(&fact.id).map(Vec::as_slice).unwrap_or_default() {
                let verdict = match state.as_str() {
                    // A withdrawn report's cancelled timers say nothing of the department.
                    "cancelled" if fact.status != "withdrawn" => "met",
                    "fired" => "missed",
                    _ => "open",
                };
                if let Some(at) = fired {
                    fact.breaches_at_ms.push(*at);
                }
                match kind.as_str() {
                    "response" => fact.response_sla = verdict,
                    _ => fact.resolution_sla = verdict,
                }
            }
            fact
        })
        .collect())
}

/// The caller's scope, the checked filter, and the reports it selects.
async fn scoped_facts(
    platform: &Platform,
    principal: &Principal,
    query: &AnalyticsQuery,
) -> Result<(Option<String>, Filter, Vec<Fact>), ReportsError> {
    let scope = scope(principal)?;
    let filter = check(query, scope.as_deref(), platform.clock.now_ms())?;
    let facts = facts(platform, &filter).await?;
    Ok((scope, filter, facts))
}

/// A count under a key.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Count {
    pub key: String,
    /// A readable name for the key (a district's, a department's), when it has one.
    pub name: String,
    pub count: i64,
}

/// Durations in hours.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Durations {
    pub count: i64,
    pub p50_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    pub p95_hours: Option<f64>,
}

/// Service-level compliance.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Compliance {
    pub response_met: i64,
    pub response_missed: i64,
    pub resolution_met: i64,
    pub resolution_missed: i64,
    /// Share of decided deadlines met (response and resolution together); none before any
    /// deadline was decided.
    pub percent: Option<f64>,
}

/// An analysis of the reports in a window.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub from: String,
    pub to: String,
    pub total: i64,
    /// Not yet resolved, rejected or withdrawn.
    pub open: i64,
    /// Reports escalated past their department.
    pub escalated: i64,
    pub by_category: Vec<Count>,
    pub by_status: Vec<Count>,
    pub by_department: Vec<Count>,
    pub by_district: Vec<Count>,
    /// Filed per day (WIB), every day of the window.
    pub by_day: Vec<Count>,
    pub response: Durations,
    pub resolution: Durations,
    pub compliance: Compliance,
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1] as f64 / HOUR_MS)
}

fn durations(mut values: Vec<i64>) -> Durations {
    values.sort_unstable();
    Durations {
        count: values.len() as i64,
        p50_hours: percentile(&values, 50.0).map(round2),
        p90_hours: percentile(&values, 90.0).map(round2),
        p95_hours: percentile(&values, 95.0).map(round2),
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn counts(values: impl Iterator<Item = String>, name: impl Fn(&str) -> String) -> Vec<Count> {
    let mut map: BTreeMap<String, i64> = BTreeMap::new();
    for value in values {
        *map.entry(value).or_default() += 1;
    }
    let mut list: Vec<Count> = map
        .into_iter()
        .map(|(key, count)| Count {
            name: name(&key),
            key,
            count,
        })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    list
}

fn date(ms: i64) -> String {
    crate::calendar::format_date((ms + WIB_MS).div_euclid(DAY_MS))
}

fn is_open(status: &str) -> bool {
    crate::reports::OPEN_STATUSES.contains(&status)
}

fn compliance(facts: &[Fact]) -> Compliance {
    let count =
        |pick: fn(&Fact) -> &'static str, verdict: &str| facts.iter().filter(|f| pick(f) == verdict).count() as i64;
    let mut c = Compliance {
        response_met: count(|f| f.response_sla, "met"),
        response_missed: count(|f| f.response_sla, "missed"),
        resolution_met: count(|f| f.resolution_sla, "met"),
        resolution_missed: count(|f| f.resolution_sla, "missed"),
        percent: None,
    };
    let decided = c.response_met + c.response_missed + c.resolution_met + c.resolution_missed;
    if decided > 0 {
        c.percent = Some(round2(
            100.0 * (c.response_met + c.resolution_met) as f64 / decided as f64,
        ));
    }
    c
}

fn summarize(filter: &Filter, facts: &[Fact]) -> Summary {
    let mut by_day = Vec::new();
    let mut day_ms = filter.from_ms;
    let per_day = counts(facts.iter().map(|f| date(f.created_at_ms)), |_| String::new());
    while day_ms < filter.to_ms {
        let key = date(day_ms);
        let count = per_day.iter().find(|c| c.key == key).map_or(0, |c| c.count);
        by_day.push(Count {
            key,
            name: String::new(),
            count,
        });
        day_ms += DAY_MS;
    }
    let closed = facts.iter().filter(|f| f.status != "withdrawn");
    Summary {
        from: date(filter.from_ms),
        to: date(filter.to_ms - DAY_MS),
        total: facts.len() as i64,
        open: facts.iter().filter(|f| is_open(&f.status)).count() as i64,
        escalated: facts.iter().filter(|f| f.escalation_level > 0).count() as i64,
        by_category: counts(facts.iter().map(|f| f.category.clone()), |id| {
            categories::by_id(id).map_or_else(String::new, |c| c.name.to_owned())
        }),
        by_status: counts(facts.iter().map(|f| f.status.clone()), |_| String::new()),
        by_department: counts(facts.iter().map(|f| f.department.clone()), |id| {
            categories::department_name(id).to_owned()
        }),
        by_district: counts(facts.iter().map(|f| f.district.clone()), |code| {
            REGIONS.district(code).unwrap_or_default().to_owned()
        }),
        by_day,
        response: durations(
            facts
                .iter()
                .filter_map(|f| f.responded_at_ms.map(|at| at - f.created_at_ms))
                .collect(),
        ),
        resolution: durations(
            closed
                .filter(|f| !is_open(&f.status))
                .filter_map(|f| f.closed_at_ms.map(|at| at - f.created_at_ms))
                .collect(),
        ),
        compliance: compliance(facts),
    }
}

/// The analysis of the reports a caller may see.
pub async fn summary(
    platform: &Platform,
    principal: &Principal,
    query: &AnalyticsQuery,
) -> Result<Summary, ReportsError> {
    let (_, filter, facts) = scoped_facts(platform, principal, query).await?;
    Ok(summarize(&filter, &facts))
}

/// One department's week.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentWeek {
    /// The week's first day (WIB).
    pub week: String,
    pub filed: i64,
    /// Open at the week's end (filed before it, not closed by then).
    pub backlog: i64,
    /// Deadlines missed during the week (each an escalation).
    pub escalations: i64,
    pub median_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
    pub compliance_percent: Option<f64>,
}

/// A department over the window, and week by week.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentTrend {
    pub department: String,
    pub name: String,
    pub filed: i64,
    pub backlog: i64,
    pub escalations: i64,
    pub median_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
    pub compliance_percent: Option<f64>,
    pub weeks: Vec<DepartmentWeek>,
}

fn median_hours(facts: &[&Fact], pick: impl Fn(&Fact) -> Option<i64>) -> Option<f64> {
    let mut values: Vec<i64> = facts.iter().filter_map(|f| pick(f)).collect();
    values.sort_unstable();
    percentile(&values, 50.0).map(round2)
}

fn backlog_at(facts: &[&Fact], at_ms: i64) -> i64 {
    facts
        .iter()
        .filter(|f| f.created_at_ms < at_ms && f.closed_at_ms.is_none_or(|closed| closed >= at_ms))
        .count() as i64
}

/// The mayor's comparison: every department in scope, over the window and week by week.
pub async fn departments(
    platform: &Platform,
    principal: &Principal,
    query: &AnalyticsQuery,
) -> Result<Vec<DepartmentTrend>, ReportsError> {
    let (scope, filter, facts) = scoped_facts(platform, principal, query).await?;
    let responded = |f: &Fact| f.responded_at_ms.map(|at| at - f.created_at_ms);
    let resolved = |f: &Fact| {
        (!is_open(&f.status) && f.status != "withdrawn")
            .then_some(f.closed_at_ms)
            .flatten()
            .map(|at| at - f.created_at_ms)
    };
    let departments: Vec<&str> = match scope.as_deref() {
        Some(own) => vec![own],
        None => categories::DEPARTMENTS.iter().map(|(id, _)| *id).collect(),
    };
    let mut out = Vec::new();
    for department in departments {
        if !filter.department.is_empty() && filter.department != department {
            continue;
        }
        let mine: Vec<&Fact> = facts.iter().filter(|f| f.department == department).collect();
        let owned: Vec<Fact> = mine.iter().map(|f| (*f).clone()).collect();
        let mut weeks = Vec::new();
        let mut start = filter.from_ms;
        while start < filter.to_ms {
            let end = (start + 7 * DAY_MS).min(filter.to_ms);
            let filed: Vec<&Fact> = mine
                .iter()
                .copied()
                .filter(|f| (start..end).contains(&f.created_at_ms))
                .collect();
            let filed_owned: Vec<Fact> = filed.iter().map(|f| (*f).clone()).collect();
            weeks.push(DepartmentWeek {
                week: date(start),
                filed: filed.len() as i64,
                backlog: backlog_at(&mine, end),
                escalations: mine
                    .iter()
                    .flat_map(|f| f.breaches_at_ms.iter())
                    .filter(|at| (start..end).contains(*at))
                    .count() as i64,
                median_response_hours: median_hours(&filed, responded),
                median_resolution_hours: median_hours(&filed, resolved),
                compliance_percent: compliance(&filed_owned).percent,
            });
            start = end;
        }
        out.push(DepartmentTrend {
            name: categories::department_name(department).to_owned(),
            department: department.to_owned(),
            filed: mine.len() as i64,
            backlog: backlog_at(&mine, filter.to_ms.min(platform.clock.now_ms() + 1)),
            escalations: mine.iter().map(|f| f.breaches_at_ms.len() as i64).sum(),
            median_response_hours: median_hours(&mine, responded),
            median_resolution_hours: median_hours(&mine, resolved),
            compliance_percent: compliance(&owned).percent,
            weeks,
        });
    }
    Ok(out)
}

/// The reports in scope as CSV: codes and times, no text, no reporter.
pub async fn export_csv(
    platform: &Platform,
    principal: &Principal,
    query: &AnalyticsQuery,
) -> Result<String, ReportsError> {
    let (_, _, facts) = scoped_facts(platform, principal, query).await?;
    let mut out = String::from(
        "id,filed_at,category,department,district,status,escalation_level,response_hours,resolution_hours,\
         response_sla,resolution_sla\r\n",
    );
    let hours = |ms: Option<i64>| ms.map(|v| format!("{:.2}", v as f64 / HOUR_MS)).unwrap_or_default();
    for f in &facts {
        let resolution = (!is_open(&f.status) && f.status != "withdrawn")
            .then_some(f.closed_at_ms)
            .flatten();
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(&f.id),
            crate::calendar::format_datetime(f.created_at_ms),
            csv_field(&f.category),
            csv_field(&f.department),
            csv_field(&f.district),
            csv_field(&f.status),
            f.escalation_level,
            hours(f.responded_at_ms.map(|at| at - f.created_at_ms)),
            hours(resolution.map(|at| at - f.created_at_ms)),
            f.response_sla,
            f.resolution_sla,
        );
    }
    Ok(out)
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is defused so a
/// spreadsheet does not run it as a formula.
fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// Reports counted per grid cell.
struct Grid {
    cell: f64,
    cells: BTreeMap<(i64, i64), i64>,
}

fn grid(facts: &[Fact], cell: f64) -> Grid {
    let mut cells = BTreeMap::new();
    for f in facts {
        let key = ((f.longitude / cell).floor() as i64, (f.latitude / cell).floor() as i64);
        *cells.entry(key).or_default() += 1;
    }
    Grid { cell, cells }
}

fn cell_size(query: &AnalyticsQuery) -> Result<f64, ReportsError> {
    let cell = query.cell.unwrap_or(0.01);
    if !(cell.is_finite() && (0.005..=1.0).contains(&cell)) {
        return Err(ReportsError::invalid("cell", "antara 0.005 dan 1 derajat"));
    }
    Ok(cell)
}

/// The heatmap as GeoJSON: one square polygon per cell with its `count`.
pub async fn heatmap_geojson(
    platform: &Platform,
    principal: &Principal,
    query: &AnalyticsQuery,
) -> Result<serde_json::Value, ReportsError> {
    let cell = cell_size(query)?;
    let (_, _, facts) = scoped_facts(platform, principal, query).await?;
    let grid = grid(&facts, cell);
    let features: Vec<serde_json::Value> = grid
        .cells
        .iter()
        .map(|(&(x, y), &count)| {
            let (west, south) = (x as f64 * grid.cell, y as f64 * grid.cell);
            let (east, north) = (west + grid.cell, south + grid.cell);
            let ring = [
                [west, south],
                [east, south],
                [east, north],
                [west, north],
                [west, south],
            ]
            .map(|[lon, lat]| [round6(lon), round6(lat)]);
            serde_json::json!({
                "type": "Feature",
                "geometry": { "type": "Polygon", "coordinates": [ring] },
                "properties": { "count": count },
            })
        })
        .collect();
    Ok(serde_json::json!({ "type": "FeatureCollection", "features": features }))
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// Natural Earth's outline of Indonesia (see `data/SOURCE.md`).
static OUTLINE: LazyLock<Vec<Vec<(f64, f64)>>> = LazyLock::new(|| {
    #[derive(Deserialize)]
    struct Outline {
        rings: Vec<Vec<(f64, f64)>>,
    }
    serde_json::from_str::<Outline>(include_str!("../data/indonesia-50m.json"))
        .map(|o| o.rings)
        .unwrap_or_default()
});

/// The heatmap drawn as an SVG map: the outline of Indonesia, the cells shaded by count in
/// five classes, a legend and the map's attribution. The view fits the reports (with a
/// margin), or the whole country when there are none.
pub async fn heatmap_svg(
    platform: &Platform,
    principal: &Principal,
    query: &AnalyticsQuery,
) -> Result<String, ReportsError> {
    let cell = cell_size(query)?;
    let (_, filter, facts) = scoped_facts(platform, principal, query).await?;
    let grid = grid(&facts, cell);
    Ok(draw_map(
        &grid,
        &format!("{} – {}", date(filter.from_ms), date(filter.to_ms - DAY_MS)),
    ))
}

const SHADES: [&str; 5] = ["#fde0a8", "#fbb36b", "#f3803f", "#d94c26", "#a31d12"];

fn draw_map(grid: &Grid, period: &str) -> String {
    // The view: the cells' extent with a margin, or Indonesia.
    let (mut west, mut south, mut east, mut north) = (94.5, -11.5, 141.5, 6.5);
    if !grid.cells.is_empty() {
        let xs = grid.cells.keys().map(|k| k.0);
        let ys = grid.cells.keys().map(|k| k.1);
        let (x0, x1) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0));
        let (y0, y1) = (ys.clone().min().unwrap_or(0), ys.max().unwrap_or(0));
        let margin = (grid.cell * 3.0).max(0.05);
        west = x0 as f64 * grid.cell - margin;
        east = (x1 + 1) as f64 * grid.cell + margin;
        south = y0 as f64 * grid.cell - margin;
        north = (y1 + 1) as f64 * grid.cell + margin;
    }
    // Equirectangular, scaled by the cosine of the middle latitude.
    let k = ((south + north) / 2.0).to_radians().cos();
    let width = 800.0;
    let map_height = (width * (north - south) / ((east - west) * k)).clamp(200.0, 900.0);
    let sx = width / (east - west);
    let sy = map_height / (north - south);
    let px = |lon: f64| (lon - west) * sx;
    let py = |lat: f64| (north - lat) * sy;
    let height = map_height + 60.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" \
         height=\"{height:.0}\" role=\"img\" aria-label=\"Peta sebaran laporan {period}\">\
         <rect width=\"100%\" height=\"{map_height:.0}\" fill=\"#dcebf5\"/>"
    );
    svg.push_str("<g fill=\"#f4f1e8\" stroke=\"#8a94a6\" stroke-width=\"0.6\">");
    for ring in OUTLINE.iter() {
        let visible = ring
            .iter()
            .any(|&(lon, lat)| (west - 2.0..=east + 2.0).contains(&lon) && (south - 2.0..=north + 2.0).contains(&lat));
        if !visible {
            continue;
        }
        svg.push_str("<path d=\"");
        for (i, &(lon, lat)) in ring.iter().enumerate() {
            let _ = write!(svg, "{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, px(lon), py(lat));
        }
        svg.push_str("Z\"/>");
    }
    svg.push_str("</g>");
    let max = grid.cells.values().copied().max().unwrap_or(1).max(1);
    let class = |count: i64| (((count as f64 / max as f64) * 5.0).ceil() as usize).clamp(1, 5) - 1;
    svg.push_str("<g stroke=\"#ffffff\" stroke-width=\"0.3\" fill-opacity=\"0.85\">");
    for (&(x, y), &count) in &grid.cells {
        let (lon, lat) = (x as f64 * grid.cell, (y + 1) as f64 * grid.cell);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{count} laporan</title></rect>",
            px(lon),
            py(lat),
            (grid.cell * sx).max(2.0),
            (grid.cell * sy).max(2.0),
            SHADES[class(count)]
        );
    }
    svg.push_str("</g>");
    // Legend and attribution.
    let y = map_height + 22.0;
    let _ = write!(
        svg,
        "<text x=\"8\" y=\"{y:.0}\" font-size=\"13\" fill=\"#1c2430\" font-family=\"sans-serif\">Laporan per sel {:.3}° · {period}</text>",
        grid.cell
    );
    for (i, shade) in SHADES.iter().enumerate() {
        let low = (max as f64 * i as f64 / 5.0).floor() as i64 + 1;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{:.0}\" width=\"14\" height=\"14\" fill=\"{shade}\"/><text x=\"{}\" y=\"{:.0}\" font-size=\"12\" \
             fill=\"#1c2430\" font-family=\"sans-serif\">≥{low}</text>",
            360 + i * 70,
            y - 11.0,
            378 + i * 70,
            y
        );
    }
    let _ = write!(
        svg,
        "<text x=\"8\" y=\"{:.0}\" font-size=\"11\" fill=\"#5b6678\" font-family=\"sans-serif\">Peta dasar: Natural Earth \
         (domain publik)</text></svg>",
        map_height + 46.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(status: &str, created: i64, responded: Option<i64>, closed: Option<i64>) -> Fact {
        Fact {
            id: format!("r{created}"),
            category: "jalan-rusak".into(),
            department: "dinas-pu".into(),
            district: "317107".into(),
            status: status.into(),
            created_at_ms: created,
            escalation_level: 0,
            latitude: -6.1862,
            longitude: 106.8063,
            responded_at_ms: responded,
            closed_at_ms: closed,
            response_sla: "open",
            resolution_sla: "open",
            breaches_at_ms: Vec::new(),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let hours: Vec<i64> = (1..=10).map(|h| h * 3_600_000).collect();
        assert_eq!(percentile(&hours, 50.0), Some(5.0));
        assert_eq!(percentile(&hours, 90.0), Some(9.0));
        assert_eq!(percentile(&hours, 95.0), Some(10.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn compliance_counts_decided_deadlines_only() {
        let mut met = fact("resolved", 0, Some(1), Some(2));
        met.response_sla = "met";
        met.resolution_sla = "met";
        let mut missed = fact("in_progress", 0, Some(5), None);
        missed.response_sla = "missed";
        let pending = fact("submitted", 0, None, None);
        let c = compliance(&[met, missed, pending]);
        assert_eq!((c.response_met, c.response_missed, c.resolution_met), (1, 1, 1));
        assert_eq!(c.percent, Some(66.67));
        assert_eq!(compliance(&[]).percent, None);
    }

    #[test]
    fn backlog_counts_what_was_open_then() {
        let a = fact("resolved", 0, Some(10), Some(100));
        let b = fact("submitted", 50, None, None);
        let both = [&a, &b];
        assert_eq!(backlog_at(&both, 40), 1);
        assert_eq!(backlog_at(&both, 60), 2);
        assert_eq!(backlog_at(&both, 150), 1);
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("317107"), "317107");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn the_map_has_the_outline_the_cells_and_the_attribution() {
        assert!(OUTLINE.len() > 100, "the packaged outline loads");
        let facts = [fact("submitted", 0, None, None), fact("submitted", 1, None, None)];
        let svg = draw_map(&grid(&facts, 0.01), "2026-11-01 – 2026-11-30");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title>2 laporan</title>"));
        assert!(svg.contains("Natural Earth"));
        assert!(svg.contains("<path d=\"M"), "Java's coast is in view of Jakarta");
        let empty = draw_map(&grid(&[], 0.01), "");
        assert!(
            empty.matches("<path").count() > 100,
            "the whole country when there is nothing"
        );
    }
}
