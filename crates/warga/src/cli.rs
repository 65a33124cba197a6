//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// warga — Indonesian public services on one platform: the BPJS ledger, JagaWarga city
/// reports, and population services.
#[derive(Debug, Parser)]
#[command(name = "warga", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file; `WARGA_…` environment variables override it.
    #[arg(long, short = 'c', global = true, env = "WARGA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How logs are written to standard error, overriding `telemetry.log_format`: pretty on
    /// a terminal and JSON otherwise (auto), or always one of them.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormatArg {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process on embedded defaults (SQLite under ./data,
    /// in-process event bus, self-signed HTTPS on 127.0.0.1:8443).
    Up(UpArgs),
    /// Run a subset of the services, e.g. `--services system` (for multi-process deployments).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect and replay dead-lettered events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// List the services this binary can run.
    Services,
    /// Administer departments, officers, OAuth clients and signing keys.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The audit log of every state-changing operation.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Population statistics.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Keys that protect data at rest.
    #[command(subcommand)]
    Keys(DataKeysCommand),
    /// Back up the data directory while warga runs (or is stopped): the ledger's peers and
    /// orderers, every file, the SQLite database, each consistently, with a manifest of
    /// checksums. PostgreSQL is backed up with its own tools (pg_basebackup, pg_dump).
    Backup {
        /// Where to write the backup (a new directory, outside the data directory).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Restore a backup as the (new or empty) data directory, after checking every file
    /// against its manifest.
    Restore {
        /// The backup `warga backup` wrote.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// The resident registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Load tests that start their own warga and report Markdown for BENCHMARKS.md.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The fault suite: a warga of its own under registration load while a fault is
    /// injected, then every acknowledged registration checked in the database, every event's
    /// effects counted once (exit code 1 otherwise); a Markdown row for BENCHMARKS.md.
    #[command(subcommand)]
    Chaos(ChaosCommand),
    /// The BPJS ledger: network files and crypto material.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// An organisation's certificate authority (Fabric CA's register, enroll, revoke).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Run one orderer: a Raft group with the other orderers per channel, AtomicBroadcast and
    /// channel participation over gRPC with mutual TLS; /healthz and /metrics over HTTPS on
    /// its operations address.
    Orderer(NodeArgs),
    /// Run one peer: for each channel it joined, pull blocks from the orderers (gRPC, mutual
    /// TLS), validate and commit them; /healthz and /metrics over HTTPS on its operations
    /// address.
    Peer(PeerArgs),
}

/// A ledger node's settings; each may also come from the configuration file's `[peer]` or
/// `[orderer]` section (or `WARGA_PEER__NAME`, …), the flag winning.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The network file.
    #[arg(long, value_name = "FILE")]
    pub network: Option<PathBuf>,
    /// The directory `warga ledger crypto generate` wrote.
    #[arg(long, value_name = "DIR")]
    pub crypto: Option<PathBuf>,
    /// The node's name in the network file, e.g. orderer0 or peer0.
    #[arg(long)]
    pub name: Option<String>,
    /// A channel of the network file to serve from the start (repeatable). Channels the
    /// node joined before (`warga ledger channel join`) are served again whatever this
    /// says; with none, the node waits to be joined to one.
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Where the node keeps its data (default data/orderer or data/peer).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Seconds between fetches of the revocation lists from the organisations' CAs
    /// (`ca_url` in the network file; default 60; SIGHUP fetches at once).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub revocation_refresh_s: Option<u64>,
    /// Stop cleanly when standard input closes (`warga ledger network up` starts its nodes
    /// so, so that they end with it).
    #[arg(long, hide = true)]
    pub stop_with_parent: bool,
}

#[derive(Debug, Args)]
pub struct PeerArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The peer's organisation, e.g. BPJS.
    #[arg(long)]
    pub org: Option<String>,
}

#[derive(Debug, Args)]
pub struct CaOrg {
    /// The network file.
    #[arg(long, value_name = "FILE")]
    pub network: PathBuf,
    /// The organisation's name in the network file, e.g. BPJS.
    #[arg(long)]
    pub org: String,
    /// The directory `warga ledger crypto generate` wrote.
    #[arg(long, value_name = "DIR")]
    pub crypto: PathBuf,
}

#[derive(Debug, Args)]
pub struct CaClient {
    /// The CA's base URL, e.g. https://127.0.0.1:7054.
    #[arg(long)]
    pub url: String,
    /// The organisation's TLS CA certificate, to trust the CA's HTTPS.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Serve the organisation's CA over HTTPS (its certificate from the organisation's TLS CA).
    Serve {
        #[command(flatten)]
        org: CaOrg,
        #[arg(long, default_value = "127.0.0.1:7054")]
        listen: SocketAddr,
    },
    /// Register an enrollment id (as an admin of the organisation); prints its secret.
    Register {
        #[command(flatten)]
        ca: CaClient,
        /// The admin's MSP directory (with signcerts/ and keystore/).
        #[arg(long, value_name = "DIR")]
        admin_msp: PathBuf,
        #[arg(long)]
        msp_id: String,
        #[arg(long)]
        id: String,
        /// client, peer, orderer or admin.
        #[arg(long, default_value = "client")]
        role: String,
        /// A certificate attribute, NAME=VALUE (repeatable), e.g. `--attr facility=P3578010`:
        /// the health facility the user acts for, which the BPJS contract reads.
        #[arg(long = "attr", value_name = "NAME=VALUE", value_parser = attribute)]
        attributes: Vec<(String, String)>,
    },
    /// Enroll: make a key, send a certificate request, write an MSP directory.
    Enroll {
        #[command(flatten)]
        ca: CaClient,
        #[arg(long)]
        id: String,
        /// The enrollment secret (or WARGA_CA_SECRET).
        #[arg(long, env = "WARGA_CA_SECRET", hide_env_values = true)]
        secret: String,
        /// Where to write msp/{signcerts,keystore,cacerts}.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Revoke every certificate of an enrollment id (as an admin).
    Revoke {
        #[command(flatten)]
        ca: CaClient,
        #[arg(long, value_name = "DIR")]
        admin_msp: PathBuf,
        #[arg(long)]
        msp_id: String,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check a network file and summarise it.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Crypto material: CAs, identities with their role in the certificate, TLS.
    #[command(subcommand)]
    Crypto(CryptoCommand),
    /// Re-check a ledger copy offline: genesis, hash chain, orderer signatures, every
    /// configuration update and transaction validated again, codes and world state equal
    /// to the replay.
    Verify(VerifyArgs),
    /// A channel's configuration in the chain: fetch it, propose the next one, collect the
    /// admins' signatures the change needs, submit it to the orderers.
    #[command(subcommand)]
    Config(ChannelConfigCommand),
    /// Channel participation, as Fabric's `configtxgen -outputBlock`, `osnadmin channel` and
    /// `peer channel join`: make a channel's genesis block, have an orderer or a peer join
    /// it, list a node's channels, remove one.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Chaincode definitions, as Fabric's lifecycle: organisations approve a definition
    /// (name, version, sequence, policies), it is committed once the channel's
    /// LifecycleEndorsement policy is met.
    #[command(subcommand)]
    Chaincode(ChaincodeCommand),
    /// Submit a transaction through a peer's gateway: endorsements as the function's policy
    /// asks, ordering, commit; prints the transaction id, block, validation code and result.
    Invoke {
        #[command(flatten)]
        client: ClientArgs,
        /// The chaincode function, e.g. IssueCard.
        function: String,
        /// The function's arguments.
        args: Vec<String>,
        /// A private input, NAME=VALUE (repeatable; Fabric's transient data): it reaches the
        /// endorsing peers only, never the transaction. RecordVisit takes the clinical
        /// details so: `--transient 'clinical={"diagnosis":"J06.9","notes":"…"}'` (a random
        /// salt is added).
        #[arg(long = "transient", value_name = "NAME=VALUE", value_parser = attribute)]
        transient: Vec<(String, String)>,
    },
    /// Evaluate a function on a peer without ordering anything; prints its result.
    Query {
        #[command(flatten)]
        client: ClientArgs,
        function: String,
        args: Vec<String>,
        /// A private input, NAME=VALUE (repeatable).
        #[arg(long = "transient", value_name = "NAME=VALUE", value_parser = attribute)]
        transient: Vec<(String, String)>,
    },
    /// The channel's height and the hashes of its newest block, as a peer holds them.
    Info {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A block, by number or by one of its transactions' ids.
    Block {
        #[command(flatten)]
        client: ClientArgs,
        /// The block number (default: the newest).
        number: Option<u64>,
        #[arg(long, conflicts_with = "number")]
        tx_id: Option<String>,
    },
    /// Compare this peer's commit hashes with another organisation's peer, block by block:
    /// they agree while both validated and applied every block alike; the first block where
    /// they differ is where they diverged (exit code 1).
    Compare {
        #[command(flatten)]
        client: ClientArgs,
        /// The other peer's organisation, e.g. RumahSakit.
        #[arg(long = "with", value_name = "ORG")]
        with: String,
        /// The other organisation's peer.
        #[arg(long, default_value = "peer0")]
        with_peer: String,
        /// The other peer's address, when it is not the network file's.
        #[arg(long)]
        with_address: Option<SocketAddr>,
    },
    /// Where a transaction is: its block and validation code.
    Status {
        #[command(flatten)]
        client: ClientArgs,
        tx_id: String,
    },
    /// Every committed change of a key, oldest first: the object type and its key parts,
    /// e.g. `card 3171075203950004`.
    History {
        #[command(flatten)]
        client: ClientArgs,
        object_type: String,
        parts: Vec<String>,
    },
    /// Committed blocks with their transactions' outcomes and chaincode events, one JSON line
    /// each, from a block number on (resume where you stopped).
    Events {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Stop after this many blocks (default: follow until interrupted).
        #[arg(long)]
        count: Option<u64>,
        /// Include each whole block.
        #[arg(long)]
        full: bool,
    },
}

/// Who a ledger client is and which peer it talks to.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The network file.
    #[arg(long, value_name = "FILE")]
    pub network: PathBuf,
    /// The directory `warga ledger crypto generate` wrote.
    #[arg(long, value_name = "DIR")]
    pub crypto: PathBuf,
    /// The client's organisation, e.g. BPJS.
    #[arg(long)]
    pub org: String,
    /// The user whose identity signs, e.g. User1.
    #[arg(long, default_value = "User1")]
    pub user: String,
    /// The organisation's peer to talk to.
    #[arg(long, default_value = "peer0")]
    pub peer: String,
    /// The peer's address, when it is not the network file's (e.g. `warga up` on free ports).
    #[arg(long)]
    pub address: Option<SocketAddr>,
    #[arg(long, default_value = "bpjs-main")]
    pub channel: String,
}

/// `warga ledger channel …`.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Write a channel's genesis block: its section of the network file and the member
    /// organisations' certificates from the crypto directory (every node makes the same).
    Genesis {
        #[arg(long, value_name = "FILE")]
        network: PathBuf,
        #[arg(long, value_name = "DIR")]
        crypto: PathBuf,
        #[arg(long)]
        channel: String,
        /// Where to write the block (protobuf).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Have a node join the channel of a genesis block: an orderer starts the channel's
    /// Raft group (it must be one of its consenters), a peer its ledger.
    Join {
        #[command(flatten)]
        node: ParticipationArgs,
        /// The genesis block `warga ledger channel genesis` wrote.
        #[arg(long, value_name = "FILE")]
        block: PathBuf,
    },
    /// The channels a node serves, with their heights.
    List {
        #[command(flatten)]
        node: ParticipationArgs,
    },
    /// Have a node leave a channel: it stops serving it and deletes its data.
    Remove {
        #[command(flatten)]
        node: ParticipationArgs,
        #[arg(long)]
        channel: String,
    },
}

/// Which node, and which of its organisation's administrators asks.
#[derive(Debug, Args)]
pub struct ParticipationArgs {
    #[arg(long, value_name = "FILE")]
    pub network: PathBuf,
    #[arg(long, value_name = "DIR")]
    pub crypto: PathBuf,
    /// The node's organisation, e.g. Orderer or Puskesmas.
    #[arg(long)]
    pub org: String,
    /// The node's name in the network file, e.g. orderer0 or peer0.
    #[arg(long = "node", value_name = "NAME")]
    pub node: String,
    /// The administrator who signs.
    #[arg(long, default_value = "Admin")]
    pub user: String,
    /// The node's address, when it is not the network file's (e.g. `warga up` on free
    /// ports).
    #[arg(long, value_name = "ADDR")]
    pub address: Option<SocketAddr>,
}

/// `warga ledger config …`, in the manner of Fabric's `peer channel fetch config`,
/// `configtxlator compute_update`, `peer channel signconfigtx` and `peer channel update`.
#[derive(Debug, Subcommand)]
pub enum ChannelConfigCommand {
    /// Fetch the channel's configuration in force from the orderers, as JSON.
    Fetch {
        #[command(flatten)]
        admin: AdminArgs,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Propose the next configuration — an edited copy of the fetched one, or the fetched
    /// one with revocation lists added — and say whose signatures it needs.
    Propose {
        /// The configuration `fetch` wrote.
        #[arg(long, value_name = "FILE")]
        current: PathBuf,
        /// The next configuration (an edited copy of `--current`).
        #[arg(long, value_name = "FILE", required_unless_present_any = ["add_crl", "add_org"])]
        next: Option<PathBuf>,
        /// Add an organisation's revocation list (PEM, signed by its CA): ORG=FILE, by the
        /// organisation's name or MSP id (repeatable).
        #[arg(long = "add-crl", value_name = "ORG=FILE", value_parser = attribute, conflicts_with = "next")]
        add_crl: Vec<(String, String)>,
        /// Admit an organisation: its name in `--org-network`, its certificates from
        /// `--org-crypto` (what `warga ledger crypto generate` wrote for it).
        #[arg(long = "add-org", value_name = "ORG", requires_all = ["org_network", "org_crypto"], conflicts_with = "next")]
        add_org: Option<String>,
        /// The network file that describes the organisation to admit.
        #[arg(long, value_name = "FILE")]
        org_network: Option<PathBuf>,
        /// The crypto directory holding the organisation to admit.
        #[arg(long, value_name = "DIR")]
        org_crypto: Option<PathBuf>,
        /// Where to write the update to sign.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Sign an update as an organisation's administrator (the file is rewritten with the
    /// signature added).
    Sign {
        #[command(flatten)]
        admin: AdminArgs,
        /// The update `propose` wrote.
        update: PathBuf,
    },
    /// Submit a signed update to the orderers; prints the block it was ordered into.
    Submit {
        #[command(flatten)]
        admin: AdminArgs,
        update: PathBuf,
    },
}

/// `warga ledger chaincode …`, as Fabric's `peer lifecycle chaincode …`: each approval is
/// an organisation admin's signature on the configuration update that carries the
/// definition; commit submits it.
#[derive(Debug, Subcommand)]
pub enum ChaincodeCommand {
    /// Approve a definition for your organisation: the first approval writes the update
    /// (from the definition in force and the changes given), later ones sign the same.
    #[command(disable_version_flag = true)]
    Approve {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        definition: DefinitionArgs,
        /// The update file the approvals collect in.
        #[arg(long, value_name = "FILE")]
        update: PathBuf,
    },
    /// Which organisations approved the update's definition, and whether the channel's
    /// LifecycleEndorsement policy is met.
    Checkcommitreadiness {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long, value_name = "FILE")]
        update: PathBuf,
    },
    /// Commit an approved definition (submits the update to the orderers).
    Commit {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long, value_name = "FILE")]
        update: PathBuf,
    },
    /// The definitions committed on the channel, as JSON.
    Querycommitted {
        #[command(flatten)]
        admin: AdminArgs,
        /// One chaincode (default: every one).
        #[arg(long)]
        name: Option<String>,
    },
}

/// A chaincode definition's changes from the one in force.
#[derive(Debug, Args)]
pub struct DefinitionArgs {
    /// The chaincode, e.g. bpjs.
    #[arg(long)]
    pub name: String,
    /// The contract version the definition selects (compiled into warga).
    #[arg(long = "version", id = "contract_version")]
    pub version: Option<String>,
    /// The definition's sequence: one more than the one in force.
    #[arg(long)]
    pub sequence: u64,
    /// The chaincode's endorsement policy.
    #[arg(long)]
    pub endorsement_policy: Option<String>,
    /// A function's own policy, FUNCTION=POLICY (repeatable).
    #[arg(long = "function", value_name = "FUNCTION=POLICY", value_parser = attribute)]
    pub functions: Vec<(String, String)>,
}

/// An administrator of an organisation and the orderers it reaches.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[arg(long, value_name = "FILE")]
    pub network: PathBuf,
    #[arg(long, value_name = "DIR")]
    pub crypto: PathBuf,
    /// The organisation, e.g. Puskesmas (or the ordering organisation, e.g. Orderer).
    #[arg(long)]
    pub org: String,
    /// The user who signs and connects.
    #[arg(long, default_value = "Admin")]
    pub user: String,
    #[arg(long, default_value = "bpjs-main")]
    pub channel: String,
    /// The orderers' addresses, when they are not the network file's (e.g. `warga up` on
    /// free ports), in the file's order (repeatable).
    #[arg(long = "orderer", value_name = "ADDR")]
    pub orderers: Vec<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, value_name = "FILE")]
    pub network: PathBuf,
    #[arg(long, value_name = "DIR")]
    pub crypto: PathBuf,
    #[arg(long)]
    pub channel: String,
    /// A peer's ledger file (a copy, or the file of a stopped peer).
    pub ledger: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Check a network file; errors name the line.
    Check {
        /// The network file (YAML), e.g. network/bpjs.yaml.
        file: PathBuf,
    },
    /// Start a local network as separate processes — every orderer of the file and the
    /// first peer of each member organisation of the channels — at the file's addresses;
    /// crypto material is generated under DIR on first start. Ctrl+C stops them all.
    Up {
        #[arg(long, value_name = "FILE")]
        network: PathBuf,
        /// Crypto material, data and logs of every node.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// A channel to serve (repeatable): the orderers order each, a peer joins those its
        /// organisation is a member of; the first is the one the printed example uses.
        #[arg(long = "channel", value_name = "CHANNEL", default_values_t = ["bpjs-main".to_owned()])]
        channels: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CryptoCommand {
    /// Generate every organisation's CA, TLS CA and identities (peers, orderers, admins,
    /// users), laid out like Fabric's cryptogen output. Refuses to overwrite.
    Generate {
        #[arg(long, value_name = "FILE")]
        network: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// When OUT already holds material, keep it and succeed (an init container's or
        /// compose service's second start) instead of refusing.
        #[arg(long)]
        keep_existing: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Concurrent resident registrations through HTTPS with real tokens, then a consistency
    /// check (one statistics increment and one SMS per registration); on PostgreSQL also
    /// pgbench single-row inserts on the same server for reference.
    Registry {
        /// A PostgreSQL server to run on (the run creates and drops its own database);
        /// without it, SQLite in a temporary directory.
        #[arg(long, value_name = "URL")]
        postgres_url: Option<String>,
        /// Registrations per load.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Fixed rates in registrations per second (open loop); repeat for several loads.
        #[arg(long = "rate")]
        rates: Vec<u32>,
        /// Requests in flight at once (closed loop); repeat for several loads.
        #[arg(long = "concurrency", default_values_t = [200, 10_000])]
        concurrency: Vec<usize>,
        /// API clients, each with its own token and connection.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds of pgbench (PostgreSQL only).
        #[arg(long, default_value_t = 10)]
        pgbench_seconds: u32,
    },
    /// JagaWarga's flood (R-SC1): citizens' reports through HTTPS with real tokens at fixed
    /// rates and at the maximum, optionally with a ~200 KB photo each; every accepted report
    /// checked stored, routed and announced to its department once.
    Reports {
        /// A PostgreSQL server to run on (the run creates and drops its own database);
        /// without it, SQLite in a temporary directory.
        #[arg(long, value_name = "URL")]
        postgres_url: Option<String>,
        /// NATS JetStream as the bus (with --postgres-url).
        #[arg(long, value_name = "URL")]
        nats_url: Option<String>,
        /// Reports per load.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Fixed rates in reports per second; repeat for several loads.
        #[arg(long = "rate", default_values_t = [500, 1_000])]
        rates: Vec<u32>,
        /// Reports in flight in the max-rate load (0: none).
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Reports with a ~200 KB photo each, in a load of their own (0: none).
        #[arg(long, default_value_t = 500)]
        photo_count: usize,
        /// Citizens filing, each linked to a resident and holding a token.
        #[arg(long, default_value_t = 200)]
        citizens: usize,
    },
    /// The BPJS ledger under load, like Hyperledger Caliper: rate-controlled workers submit
    /// through the peers' gateways (or evaluate), against the network as processes and inside
    /// `warga up`; committed TPS, latency percentiles, and the ratio to this machine's
    /// signature-verification ceiling.
    Ledger {
        /// Where: the network as processes, `warga up` over gRPC, `warga up` through its
        /// HTTPS web gateway (`web`) — repeat for several.
        #[arg(long = "target", value_enum, default_values_t = [warga_bench::ledger::BenchTarget::Processes, warga_bench::ledger::BenchTarget::Up])]
        targets: Vec<warga_bench::ledger::BenchTarget>,
        /// What: repeat for several workloads.
        #[arg(long = "workload", value_enum, default_values_t = [
            warga_bench::ledger::Workload::IssueCard,
            warga_bench::ledger::Workload::VerifyCard,
            warga_bench::ledger::Workload::RecordVisit,
            warga_bench::ledger::Workload::Mix,
        ])]
        workloads: Vec<warga_bench::ledger::Workload>,
        /// Transactions per second (fixed-rate, after the ramp); 0: max-rate.
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// Seconds measured per workload.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Seconds of ramp before measuring.
        #[arg(long, default_value_t = 3)]
        ramp: u64,
        /// Workers: transactions outstanding at most (fixed-rate) or clients sending back to
        /// back (max-rate).
        #[arg(long, default_value_t = 256)]
        workers: usize,
        /// The network's BatchTimeout in milliseconds instead of the shipped file's 250 (a
        /// network tuned for latency).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_timeout_ms: Option<u64>,
    },
    /// Ordering throughput with 1, 2 and 4 channels on the same three orderer processes
    /// (one Raft group per channel): total and per channel.
    Channels {
        /// Seconds measured per round.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        seconds: u64,
        /// Workers per loaded channel, each broadcasting back to back.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4_096))]
        workers: u64,
    },
    /// How long a channel configuration update takes to apply on every peer of the network
    /// as processes, against an IssueCard measured the same way in the same run.
    ConfigUpdate {
        /// Updates (and as many reference transactions), one after another.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        updates: u32,
    },
    /// A long mixed load on one `warga up` (the ledger network inside): registrations,
    /// sign-ins, ledger submits and queries at fixed rates, its memory, open files and each
    /// workload's p99 recorded over time; a Markdown table, `DIR/soak.csv` and `DIR/soak.svg`.
    Soak {
        /// How long, in minutes.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=1_440))]
        minutes: u64,
        /// Seconds between recorded rows.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        sample: u64,
        /// Registrations per second.
        #[arg(long, default_value_t = 20)]
        registrations: u32,
        /// Sign-ins (client-credentials tokens) per second.
        #[arg(long, default_value_t = 2)]
        sign_ins: u32,
        /// Ledger submits (IssueCard through the web gateway) per second.
        #[arg(long, default_value_t = 10)]
        submits: u32,
        /// Ledger queries (VerifyCard through the web gateway) per second.
        #[arg(long, default_value_t = 50)]
        queries: u32,
        /// Where the CSV and the plot go.
        #[arg(long, value_name = "DIR", default_value = "soak")]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// `kill -9` of `warga up` after a random 1–3 s of load, restarted, ROUNDS times.
    Kill {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Registrations per second.
        #[arg(long, default_value_t = 200)]
        rate: u32,
    },
    /// `warga up` on NATS JetStream: a nats-server of the run's own, killed under load,
    /// restarted after DOWN seconds.
    Broker {
        #[arg(long, default_value_t = 30)]
        down_seconds: u64,
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// The nats-server executable.
        #[arg(long, value_name = "FILE", default_value = "nats-server")]
        nats_server: std::path::PathBuf,
    },
    /// `warga up` on a PostgreSQL server (a database of the run's own) while the shell
    /// command RESTART restarts the server, e.g. `pg_ctlcluster 15 main restart`: refusals
    /// must be 503 problem documents, and registrations acknowledged again by themselves.
    Postgres {
        #[arg(long, value_name = "URL")]
        postgres_url: String,
        #[arg(long, value_name = "COMMAND")]
        restart: String,
        #[arg(long, default_value_t = 100)]
        rate: u32,
    },
    /// `warga up` with its data directory inside DIR — a small filesystem of its own (e.g.
    /// `mount -t tmpfs -o size=64m tmpfs DIR`) — filled under load for FULL_SECONDS, then
    /// freed: refusals must be 503 problem documents, SQLite's integrity check must pass.
    DiskFull {
        #[arg(long, value_name = "DIR")]
        dir: std::path::PathBuf,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        full_seconds: u64,
        #[arg(long, default_value_t = 100)]
        rate: u32,
    },
    /// The ledger as processes under IssueCard submissions: the Raft leader killed every
    /// KILL_EVERY seconds for LEADER_SECONDS, two of three orderers down for OUTAGE seconds
    /// (nothing may be acknowledged), a peer killed PEER_KILLS times while blocks arrive;
    /// then every acknowledged transaction VALID on every peer, identical commit hashes, and
    /// `warga ledger verify` passing on each peer's ledger.
    Ledger {
        #[arg(long, default_value_t = 120)]
        leader_seconds: u64,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        kill_every: u64,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        outage: u64,
        #[arg(long, default_value_t = 20)]
        peer_kills: usize,
        /// Clients submitting one after another.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
        workers: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Import residents from a CSV file (header: nik,full_name,birth_place,birth_date,sex,
    /// address,rt_rw,village,district,religion,marital_status,occupation, and optionally
    /// postal_code; village is the 10-digit code of the region table). Valid rows are
    /// registered, residents already registered are skipped (re-running imports nothing
    /// twice), and rejected rows are reported with their reason.
    Import {
        file: std::path::PathBuf,
        /// Where to write the rejected rows (line and reason; no personal data).
        #[arg(long, default_value = "rejected.csv")]
        report: std::path::PathBuf,
    },
    /// Print the registry's attestation that a NIK is a registered, living resident: a JWS
    /// signed with the registry's attestation key, which the BPJS contract's IssueCard takes
    /// as its fourth argument (valid for ten minutes). Refused for an unknown or dead NIK.
    Attest {
        nik: String,
        /// The ledger's crypto directory holding `registry/attestor-key.pem` (default:
        /// `[ledger] crypto`, else DATA_DIR/ledger/crypto).
        #[arg(long)]
        crypto: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataKeysCommand {
    /// Make a new data key for new sealed values and re-wrap every data key with the current
    /// master key.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Recompute the statistics from the residents table and report whether the live counts
    /// agreed.
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write audit records as CSV (RFC 4180), oldest first.
    Export {
        /// Only records at or after this time (Unix milliseconds).
        #[arg(long)]
        from_ms: Option<i64>,
        /// Only records before this time (Unix milliseconds).
        #[arg(long)]
        to_ms: Option<i64>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Departments of the authority.
    #[command(subcommand)]
    Department(DepartmentCommand),
    /// Officer accounts.
    #[command(subcommand)]
    Officer(OfficerCommand),
    /// OAuth clients (applications that sign users in with warga).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum DepartmentCommand {
    /// Create a department.
    Create {
        /// Short slug, e.g. dinas-pu.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OfficerCommand {
    /// Create an officer account; prints its one-time password.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        department: Option<String>,
        /// staff, head or top.
        #[arg(long)]
        level: Option<String>,
        /// officer (default), registry_officer, ledger_member or ledger_auditor (reads the
        /// ledger, transacts nothing); repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A ledger member's or auditor's organisation, e.g. BPJSMSP.
        #[arg(long)]
        msp_id: Option<String>,
        /// A ledger member's health facility (BPJS's kode faskes), e.g. P3578010.
        #[arg(long)]
        facility: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints the secret of a confidential client once.
    Create {
        #[arg(long = "id")]
        client_id: String,
        #[arg(long)]
        name: String,
        /// Give the client a secret (needed for client credentials and introspection).
        #[arg(long)]
        confidential: bool,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// authorization_code, refresh_token or client_credentials; repeat for several.
        #[arg(long = "grant", required = true)]
        grants: Vec<String>,
        /// Roles of the client's own tokens (client credentials); repeat for several.
        #[arg(long = "service-role")]
        service_roles: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key now; the old one stays published until its tokens expire.
    Rotate,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on, overriding `http.listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Seed the demo world (five authorities with officers, 100 citizens; one shared demo
    /// password) and print how to sign in as each kind of user.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Comma-separated services to run (see `warga services`).
    #[arg(long, value_delimiter = ',', required = true, value_name = "LIST")]
    pub services: Vec<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Do not run the outbox relay and event consumers here (a stateless gateway replica).
    #[arg(long)]
    pub no_workers: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List dead-lettered events, oldest first.
    DeadLetters {
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give dead-lettered events back to their consumer with a fresh attempt budget.
    Replay {
        /// Only this consumer's dead letters.
        #[arg(long)]
        consumer: Option<String>,
        /// Only this event.
        #[arg(long = "event", value_name = "EVENT_ID")]
        event_id: Option<String>,
        /// Replay every dead letter (required when no filter is given).
        #[arg(long)]
        all: bool,
    },
}

/// `NAME=VALUE` of `--attr`.
fn attribute(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}
