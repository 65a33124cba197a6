//! Every service of the platform, in one list.

use std::sync::Arc;

use warga_config::Config;
use warga_http::Service;
use warga_store::{MigrationSet, Store};

use crate::AppError;

/// All services, in the order their routes and workers are mounted.
pub fn all() -> Vec<Arc<dyn Service>> {
    vec![
        Arc::new(warga_identity::IdentityService),
        Arc::new(warga_web::WebService),
        Arc::new(warga_population::PopulationService),
        Arc::new(warga_reports::ReportsService),
        Arc::new(warga_system::SystemService),
        Arc::new(warga_ledger::LedgerService),
    ]
}

/// The services named in `names`; an unknown name is an error listing the known ones.
pub fn select(names: &[String]) -> Result<Vec<Arc<dyn Service>>, AppError> {
    let all = all();
    let mut selected = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match all.iter().find(|s| s.name() == name) {
            Some(service) if !selected.iter().any(|s: &Arc<dyn Service>| s.name() == name) => {
                selected.push(service.clone())
            }
            Some(_) => {}
            None => {
                let known: Vec<_> = all.iter().map(|s| s.name()).collect();
                return Err(AppError::Usage(format!(
                    "--services: unknown service {name:?}; known services: {}",
                    known.join(", ")
                )));
            }
        }
    }
    if selected.is_empty() {
        return Err(AppError::Usage("--services names no service".into()));
    }
    Ok(selected)
}

/// Every configuration section the platform's services and the ledger register.
pub fn config_sections() -> warga_config::Sections {
    use warga_ledger_node::settings::{LedgerConfig, OrdererSettings, PeerSettings};
    let sections = warga_config::Sections::new()
        .with::<LedgerConfig>()
        .with::<OrdererSettings>()
        .with::<PeerSettings>();
    all()
        .iter()
        .fold(sections, |sections, service| service.sections(sections))
}

/// Migrations of every service: the schema is the platform's whole, whatever a process runs.
pub fn migrations() -> Vec<MigrationSet> {
    let mut sets = vec![warga_auth::MIGRATIONS];
    sets.extend(all().iter().map(|s| s.migrations()));
    sets
}

/// The configured database, opened and migrated to the platform's whole schema.
pub async fn open_store(config: &Config) -> Result<Store, AppError> {
    let store = Store::connect(config).await.map_err(AppError::Database)?;
    store.migrate(&migrations()).await.map_err(AppError::Migrate)?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_known_services_once() {
        let picked = select(&["system".into(), " system ".into()]).unwrap();
        assert_eq!(picked.len(), 1);
        let unknown = select(&["nope".into()])
            .err()
            .expect("unknown service refused")
            .to_string();
        assert!(
            unknown.contains("known services: identity, web, population, reports, system, ledger"),
            "{unknown}"
        );
        assert!(select(&[String::new()]).is_err());
    }
}
