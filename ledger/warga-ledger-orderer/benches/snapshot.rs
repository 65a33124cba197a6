//! A Raft snapshot is the chain's tip: building it and putting it on the wire should cost
//! the same at 1,000 and at 20,000 blocks. The reference, measured in the same run, is
//! reading every block — what a snapshot that carried the whole chain cost.
//!
//! `cargo bench -p warga-ledger-orderer --features testing --bench snapshot`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use openraft::Vote;
use openraft::storage::RaftSnapshotBuilder as _;
use warga_ledger_orderer::grpc::snapshot_pieces;
use warga_ledger_orderer::testing::chain;

/// Transactions per block (real ones: endorsed and signed, ~2.5 KB each).
const TRANSACTIONS: usize = 5;

fn snapshots(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("orderer_snapshot");
    group.sample_size(10);
    for blocks in [1_000u64, 20_000] {
        let dir = tempfile::tempdir().expect("dir");
        let (db, machine) = chain(&dir.path().join("orderer.redb"), blocks, TRANSACTIONS);
        let chain_bytes: usize = db
            .encoded_blocks(0, blocks + 1)
            .expect("blocks")
            .iter()
            .map(Vec::len)
            .sum();
        let wire = runtime.block_on(async {
            let snapshot = machine.clone().build_snapshot().await.expect("snapshot");
            let pieces = snapshot_pieces("bpjs-main", &Vote::<u64>::default(), &snapshot.meta, &snapshot.snapshot)
                .expect("pieces");
            pieces.iter().map(|p| p.json.len()).sum::<usize>()
        });
        eprintln!("{blocks} blocks: chain {chain_bytes} bytes; snapshot on the wire {wire} bytes");
        group.bench_with_input(
            BenchmarkId::new("tip_snapshot_build_and_encode", blocks),
            &blocks,
            |b, _| {
                b.to_async(&runtime).iter(|| {
                    let mut machine = machine.clone();
                    async move {
                        let snapshot = machine.build_snapshot().await.expect("snapshot");
                        snapshot_pieces("bpjs-main", &Vote::<u64>::default(), &snapshot.meta, &snapshot.snapshot)
                            .expect("pieces")
                    }
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("reference_read_every_block", blocks),
            &blocks,
            |b, &n| b.iter(|| db.encoded_blocks(0, n + 1).expect("blocks")),
        );
    }
    group.finish();
}

criterion_group!(benches, snapshots);
criterion_main!(benches);
