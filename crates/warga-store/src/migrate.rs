//! Schema migrations, embedded in the binary and applied with sqlx's migrator.
//!
//! Each service contributes a [`MigrationSet`] with the same steps for SQLite and
//! PostgreSQL: one portable SQL file for both when the DDL is the same (most tables), one per
//! engine where they differ (identity columns). Versions are `YYYYMMDDNN` numbers, unique across all sets; the whole platform
//! schema is applied whatever subset of services a process serves, so any process can run
//! `warga migrate`.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Backend, Store, StoreError};

/// One migration step: a version, a description, and its SQL.
#[derive(Clone, Copy, Debug)]
pub struct MigrationStep {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// The migrations of one service, per engine. Both lists must have the same versions.
#[derive(Clone, Copy, Debug)]
pub struct MigrationSet {
    pub owner: &'static str,
    pub sqlite: &'static [MigrationStep],
    pub postgres: &'static [MigrationStep],
}

/// The store's own tables: the outbox and event delivery bookkeeping.
pub const PLATFORM: MigrationSet = MigrationSet {
    owner: "platform",
    sqlite: &[
        MigrationStep {
            version: 2026112201,
            description: "outbox",
            sql: include_str!("../migrations/sqlite/2026112201_outbox.sql"),
        },
        MigrationStep {
            version: 2026112202,
            description: "audit log",
            sql: include_str!("../migrations/sqlite/2026112202_audit.sql"),
        },
        MigrationStep {
            version: 2026120204,
            description: "delivery order",
            sql: include_str!("../migrations/sqlite/2026120204_delivery_order.sql"),
        },
    ],
    postgres: &[
        MigrationStep {
            version: 2026112201,
            description: "outbox",
            sql: include_str!("../migrations/postgres/2026112201_outbox.sql"),
        },
        MigrationStep {
            version: 2026112202,
            description: "audit log",
            sql: include_str!("../migrations/postgres/2026112202_audit.sql"),
        },
        MigrationStep {
            version: 2026120204,
            description: "delivery order",
            sql: include_str!("../migrations/postgres/2026120204_delivery_order.sql"),
        },
    ],
};

#[derive(Debug)]
struct Embedded(Vec<Migration>);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// The steps for `backend`, checked for duplicate versions and engine parity, sorted.
pub fn plan(backend: Backend, sets: &[MigrationSet]) -> Result<Vec<MigrationStep>, StoreError> {
    let mut steps = Vec::new();
    for set in std::iter::once(&PLATFORM).chain(sets.iter().filter(|s| s.owner != PLATFORM.owner)) {
        let sqlite: Vec<i64> = set.sqlite.iter().map(|s| s.version).collect();
        let postgres: Vec<i64> = set.postgres.iter().map(|s| s.version).collect();
        if sqlite != postgres {
            return Err(StoreError::Config(format!(
                "migrations of {} differ between sqlite {sqlite:?} and postgres {postgres:?}",
                set.owner
            )));
        }
        steps.extend_from_slice(match backend {
            Backend::Sqlite => set.sqlite,
            Backend::Postgres => set.postgres,
        });
    }
    steps.sort_by_key(|s| s.version);
    if let Some(pair) = steps.windows(2).find(|pair| pair[0].version == pair[1].version) {
        return Err(StoreError::Config(format!(
            "migration version {} is used twice",
            pair[0].version
        )));
    }
    Ok(steps)
}

pub(crate) async fn run(store: &Store, sets: &[MigrationSet]) -> Result<(), StoreError> {
    let steps = plan(store.backend(), sets)?;
    let migrations = steps
        .iter()
        .map(|s| {
            Migration::new(
                s.version,
                Cow::Borrowed(s.description),
                MigrationType::Simple,
                Cow::Borrowed(s.sql),
                false,
            )
        })
        .collect();
    let migrator = Migrator::new(Embedded(migrations)).await?;
    migrator.run(store.writer()).await?;
    tracing::info!(
        backend = store.backend().name(),
        steps = steps.len(),
        "database schema is current"
    );
    Ok(())
}
