//! `warga bench registry|reports|ledger`: the load generators of `warga-bench`.

use crate::cli::{BenchCommand, ChaosCommand};
use crate::failure::Failure;

pub async fn bench(command: BenchCommand) -> Result<(), Failure> {
    match command {
        BenchCommand::Registry {
            postgres_url,
            count,
            rates,
            concurrency,
            clients,
            pgbench_seconds,
        } => warga_bench::registry::registry(warga_bench::registry::RegistryBench {
            postgres_url,
            count,
            rates,
            concurrency,
            clients,
            pgbench_seconds,
        })
        .await
        .map_err(Failure::bench),
        BenchCommand::Reports {
            postgres_url,
            nats_url,
            count,
            rates,
            concurrency,
            photo_count,
            citizens,
        } => warga_bench::reports::reports(warga_bench::reports::ReportsBench {
            postgres_url,
            nats_url,
            count,
            rates,
            concurrency,
            photo_count,
            citizens,
        })
        .await
        .map_err(Failure::bench),
        BenchCommand::Ledger {
            targets,
            workloads,
            rate,
            duration,
            ramp,
            workers,
            batch_timeout_ms,
        } => warga_bench::ledger::ledger(warga_bench::ledger::LedgerBench {
            targets,
            workloads,
            rate,
            duration: std::time::Duration::from_secs(duration),
            ramp: std::time::Duration::from_secs(ramp),
            workers,
            batch_timeout_ms,
        })
        .await
        .map_err(Failure::bench),
        BenchCommand::Channels { seconds, workers } => {
            warga_bench::channels::channels(warga_bench::channels::ChannelsBench {
                seconds,
                workers: workers as usize,
            })
            .await
            .map_err(Failure::bench)
        }
        BenchCommand::ConfigUpdate { updates } => {
            warga_bench::config_update::config_update(warga_bench::config_update::ConfigUpdateBench { updates })
                .await
                .map_err(Failure::bench)
        }
        BenchCommand::Soak {
            minutes,
            sample,
            registrations,
            sign_ins,
            submits,
            queries,
            out,
        } => warga_bench::soak::soak(warga_bench::soak::SoakBench {
            duration: std::time::Duration::from_secs(minutes * 60),
            sample: std::time::Duration::from_secs(sample),
            registrations_per_s: registrations,
            sign_ins_per_s: sign_ins,
            submits_per_s: submits,
            queries_per_s: queries,
            out,
        })
        .await
        .map_err(Failure::bench),
    }
}

/// `warga chaos kill|broker|postgres|disk-full|ledger`: the fault suite of `warga-bench`.
pub async fn chaos(command: ChaosCommand) -> Result<(), Failure> {
    use warga_bench::chaos::{ChaosRun, Fault};
    let run = match command {
        ChaosCommand::Kill { rounds, rate } => ChaosRun {
            fault: Fault::Kill { rounds },
            rate,
        },
        ChaosCommand::Broker {
            down_seconds,
            rate,
            nats_server,
        } => ChaosRun {
            fault: Fault::Broker {
                down: std::time::Duration::from_secs(down_seconds),
                nats_server,
            },
            rate,
        },
        ChaosCommand::Postgres {
            postgres_url,
            restart,
            rate,
        } => ChaosRun {
            fault: Fault::Postgres {
                url: postgres_url,
                restart,
            },
            rate,
        },
        ChaosCommand::DiskFull {
            dir,
            full_seconds,
            rate,
        } => ChaosRun {
            fault: Fault::DiskFull {
                dir,
                full_for: std::time::Duration::from_secs(full_seconds),
            },
            rate,
        },
        ChaosCommand::Ledger {
            leader_seconds,
            kill_every,
            outage,
            peer_kills,
            workers,
        } => ChaosRun {
            fault: Fault::Ledger(warga_bench::chaos::ledger::LedgerFaults {
                leader_phase: std::time::Duration::from_secs(leader_seconds),
                kill_every: std::time::Duration::from_secs(kill_every),
                outage: std::time::Duration::from_secs(outage),
                peer_kills,
                workers: workers as usize,
            }),
            rate: 1,
        },
    };
    warga_bench::chaos::chaos(run).await.map_err(Failure::bench)
}
