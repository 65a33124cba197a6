//! The composition of warga: the one place that knows every service.
//!
//! - [`services`]: the services this platform has, selecting a subset by name, and the
//!   migrations of all of them (the schema is the platform's whole, whatever a process runs);
//! - [`Launch`]: how a process becomes a running platform — database, migrations, bus,
//!   [`Platform`](warga_http::Platform), identity bootstrap, HTTPS, event workers, the
//!   embedded ledger — and [`Running::shutdown`], the reverse order;
//! - [`open_platform`]: the same assembly without serving, for commands that act on the
//!   platform's data (create an officer, import residents, rotate keys);
//! - [`shutdown_signal`]: SIGINT or SIGTERM, whichever comes first;
//! - [`backup`]: backups taken while the platform serves (asked for on the control socket,
//!   [`request_backup`]) and their restore.
//!
//! `main`, every command and every test harness compose through this crate, so a service
//! joins the platform by one line in [`services::all`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backup;
mod control;
mod error;
mod launch;
mod ledger;
pub mod services;
mod signal;

pub use control::request_backup;
pub use error::AppError;
pub use launch::{Launch, Mode, Running, open_platform};
pub use signal::shutdown_signal;
