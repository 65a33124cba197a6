//! Test harness: a fresh database per test on SQLite or PostgreSQL.
//!
//! PostgreSQL tests run when `WARGA_TEST_POSTGRES_URL` is set. Without it they print that
//! they were skipped — unless `CI=true`, where a missing engine is a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness (the `testing` feature): a failed setup must fail the test at once"
)]

use std::time::Duration;

use crate::{ConnectOptions, MigrationSet, Store};

/// Reads an engine URL for tests; `None` means "skip", printed to stderr.
pub fn engine_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => {
            announce(var);
            Some(url)
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {var} is not set: engine tests must run in CI")
        }
        _ => {
            // Straight to stderr, past the test harness's output capture, so a skip is seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {var} is not set; this engine test did not run"
            );
            None
        }
    }
}

/// Says once per test binary and engine that engine tests really ran (CI logs show it).
fn announce(var: &str) {
    use std::collections::HashSet;
    use std::io::Write;
    use std::sync::Mutex;
    static ANNOUNCED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut announced = ANNOUNCED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if announced.get_or_insert_with(HashSet::new).insert(var.to_owned()) {
        let binary = std::env::args().next().unwrap_or_default();
        let binary = binary.rsplit('/').next().unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "engine tests in {binary}: running against {var}");
    }
}

/// A migrated database that lives as long as this value.
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
    /// For SQLite, the file; for PostgreSQL, the URL of the test database.
    pub location: String,
}

impl TestDb {
    /// A SQLite file in a fresh temporary directory.
    pub async fn sqlite(sets: &[MigrationSet]) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory for the test database");
        let path = dir.path().join("warga.db");
        let store = Store::connect_sqlite_file(&path, &ConnectOptions::default())
            .await
            .expect("open sqlite");
        store.migrate(sets).await.expect("migrate sqlite");
        TestDb {
            store,
            _dir: Some(dir),
            postgres: None,
            location: path.display().to_string(),
        }
    }

    /// A new database on the server at `WARGA_TEST_POSTGRES_URL`; `None` when skipped.
    pub async fn postgres(sets: &[MigrationSet]) -> Option<TestDb> {
        let admin_url = engine_url("WARGA_TEST_POSTGRES_URL")?;
        let name = format!("warga_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Store::connect_url(
            &admin_url,
            &ConnectOptions {
                max_connections: 1,
                ..Default::default()
            },
        )
        .await
        .expect("connect to WARGA_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.writer())
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = Store::connect_url(&url, &ConnectOptions::default())
            .await
            .expect("connect to test database");
        store.migrate(sets).await.expect("migrate postgres");
        Some(TestDb {
            store,
            _dir: None,
            postgres: Some((admin_url, name)),
            location: url,
        })
    }

    /// Drops a PostgreSQL test database now (connections are terminated); used to test
    /// what happens when the database disappears.
    pub async fn drop_database(&self) {
        if let Some((admin_url, name)) = &self.postgres {
            drop_postgres_database(admin_url, name).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime; clean up on a thread of our own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(drop_postgres_database(&admin_url, &name));
                }
            })
            .join();
        }
    }
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    let options = ConnectOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
    };
    if let Ok(admin) = Store::connect_url(admin_url, &options).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(admin.writer())
            .await;
        admin.close().await;
    }
}

/// Replaces the database name (the URL path) of a PostgreSQL URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_name() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            ("postgres://127.0.0.1", "postgres://127.0.0.1/x"),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(super::with_database(input, "x"), expected);
        }
    }
}
