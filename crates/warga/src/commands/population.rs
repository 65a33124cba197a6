//! The population service's commands: `registry import`, `registry attest` and `stats rebuild`.

use std::path::Path;

use warga_config::Config;

use crate::failure::Failure;

/// `warga stats rebuild`: the statistics recounted from the residents, and whether the live
/// counts agreed.
pub async fn rebuild_stats(config: Config) -> Result<(), Failure> {
    let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
    let rebuilt = warga_population::residents::rebuild_stats(&store).await?;
    let agreed = if rebuilt.rows_differing == 0 {
        "ya / yes"
    } else {
        "tidak / no"
    };
    println!(
        "{} penduduk / residents, {} keluarga / households; hitungan langsung cocok / live counts agreed: {agreed}",
        rebuilt.residents, rebuilt.households
    );
    if rebuilt.rows_differing > 0 {
        println!("{} baris diperbaiki / rows corrected", rebuilt.rows_differing);
    }
    Ok(())
}

/// `warga registry attest NIK`: the registry's attestation that NIK is a registered, living
/// resident, on standard output (nothing else there, for `$(…)`).
pub async fn attest(config: Config, nik: &str, crypto: Option<std::path::PathBuf>) -> Result<(), Failure> {
    let platform = warga_app::open_platform(config).await.map_err(Failure::app)?;
    let crypto = crypto.unwrap_or_else(|| warga_ledger::access::crypto_dir(&platform));
    let attestor = warga_ledger_msp::attestor::Attestor::load(&crypto).map_err(Failure::usage)?;
    match warga_ledger::registry::attest(&platform, &attestor, nik).await {
        Ok(attestation) => {
            println!("{attestation}");
            Ok(())
        }
        Err(refused) => Err(anyhow::anyhow!("{} / {}", refused.detail_in(false), refused.detail_in(true)).into()),
    }
}

/// `warga registry import`: valid rows registered, known NIKs skipped, rejects reported.
pub async fn import_residents(config: Config, csv_path: &Path, report: &Path) -> Result<(), Failure> {
    use warga_population::PopulationError;
    use warga_population::residents::{NewResident, register};
    let mut reader = csv::Reader::from_path(csv_path)
        .map_err(|e| Failure::usage_msg(format!("cannot read {}: {e}", csv_path.display())))?;
    let rows: Vec<(u64, Result<NewResident, csv::Error>)> = reader
        .deserialize::<NewResident>()
        .enumerate()
        .map(|(i, row)| (i as u64 + 2, row))
        .collect();
    let platform = warga_app::open_platform(config).await.map_err(Failure::app)?;
    let progress = indicatif::ProgressBar::new(rows.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} baris / rows, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rejects =
        csv::Writer::from_path(report).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", report.display()))?;
    rejects
        .write_record(["line", "field", "reason"])
        .map_err(anyhow::Error::from)?;
    let (mut imported, mut known, mut rejected) = (0u64, 0u64, 0u64);
    for (line, row) in rows {
        let outcome = match row {
            Err(error) => Err(("row".to_owned(), error.to_string())),
            Ok(new) => match register(&platform, &new, "system:import").await {
                Ok(_) => Ok(true),
                Err(PopulationError::Conflict(_)) => Ok(false),
                Err(PopulationError::Invalid { field, detail, .. }) => Err((field, detail)),
                Err(PopulationError::Nik(error)) => Err((error.field().to_owned(), error.to_string())),
                Err(other) => return Err(anyhow::Error::new(other).context(format!("line {line}")).into()),
            },
        };
        match outcome {
            Ok(true) => imported += 1,
            Ok(false) => known += 1,
            Err((field, reason)) => {
                rejected += 1;
                rejects
                    .write_record([line.to_string(), field, reason])
                    .map_err(anyhow::Error::from)?;
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    rejects.flush()?;
    println!(
        "{imported} diimpor / imported, {known} sudah terdaftar / already registered, {rejected} ditolak / rejected (see {})",
        report.display()
    );
    Ok(())
}
