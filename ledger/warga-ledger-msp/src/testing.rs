//! A generated network for tests: crypto material for the example BPJS network in a
//! temporary directory, its MSPs, and transactions proposed, simulated, endorsed and signed
//! through the real path with real certificates. Behind the `testing` feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness (the `testing` feature): a failed setup must fail the test at once"
)]

use std::path::{Path, PathBuf};

use warga_ledger_core::bpjs::Bpjs;
use warga_ledger_core::chaincode::Simulator;
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_core::rwset::StateReader;
use warga_ledger_core::tx::{Endorsement, Proposal, Response, Transaction};

use crate::generate::{generate, organization_dir};
use crate::{Msps, SigningIdentity};

/// The example network with its crypto material.
pub struct TestNetwork {
    pub network: Network,
    pub dir: tempfile::TempDir,
    pub msps: Msps,
    /// The chaincode definition's sequence transactions are endorsed under (1 unless a
    /// test committed a new definition).
    pub chaincode_sequence: u64,
    nonce: u64,
}

fn domain(msp: &str) -> &'static str {
    match msp {
        "BPJSMSP" => "bpjs.warga.local",
        "PuskesmasMSP" => "puskesmas.warga.local",
        _ => "rumahsakit.warga.local",
    }
}

fn load(dir: &Path, msp: &str, kind: &str, name: &str) -> SigningIdentity {
    let d = domain(msp);
    let host = if kind == "peers" {
        format!("{name}.{d}")
    } else {
        format!("{name}@{d}")
    };
    let base: PathBuf = organization_dir(dir, false, d).join(kind).join(&host).join("msp");
    SigningIdentity::from_pem(
        msp,
        &std::fs::read(base.join(format!("signcerts/{host}-cert.pem"))).expect("certificate"),
        &std::fs::read(base.join("keystore/priv_sk")).expect("key"),
    )
    .expect("identity")
}

impl TestNetwork {
    pub fn new() -> TestNetwork {
        let network = Network::parse(BPJS_EXAMPLE).expect("example network");
        let dir = tempfile::tempdir().expect("temporary directory");
        let now = time::OffsetDateTime::now_utc();
        generate(&network, dir.path(), now).expect("crypto material");
        let mut msps = Msps::new(now.unix_timestamp());
        msps = crate::generate::load_msps(&network, dir.path(), msps.now_s).expect("MSPs");
        TestNetwork {
            network,
            dir,
            msps,
            chaincode_sequence: 1,
            nonce: 0,
        }
    }

    /// A channel's genesis block, with this network's CA certificates.
    pub fn genesis(&self, channel: &warga_ledger_core::network::Channel) -> warga_ledger_core::block::Block {
        crate::channel::genesis_block(&self.network, channel, self.dir.path()).expect("genesis block")
    }

    /// `User1` of an organisation.
    pub fn client(&self, msp: &str) -> SigningIdentity {
        load(self.dir.path(), msp, "users", "User1")
    }

    /// `orderer0` of the ordering organisation.
    pub fn orderer(&self) -> SigningIdentity {
        self.orderer_n(0)
    }

    /// `orderer<n>` of the ordering organisation.
    pub fn orderer_n(&self, n: usize) -> SigningIdentity {
        let o = &self.network.orderer.organization;
        let host = format!("orderer{n}.{}", o.domain);
        let base = organization_dir(self.dir.path(), true, &o.domain)
            .join("orderers")
            .join(&host)
            .join("msp");
        SigningIdentity::from_pem(
            o.msp_id.clone(),
            &std::fs::read(base.join(format!("signcerts/{host}-cert.pem"))).expect("certificate"),
            &std::fs::read(base.join("keystore/priv_sk")).expect("key"),
        )
        .expect("orderer identity")
    }

    /// The administrator of an organisation (`Admin@<domain>`), the ordering
    /// organisation's for `OrdererMSP`.
    pub fn admin(&self, msp: &str) -> SigningIdentity {
        if msp == self.network.orderer.organization.msp_id {
            let o = &self.network.orderer.organization;
            let host = format!("Admin@{}", o.domain);
            let base = organization_dir(self.dir.path(), true, &o.domain)
                .join("users")
                .join(&host)
                .join("msp");
            return SigningIdentity::from_pem(
                o.msp_id.clone(),
                &std::fs::read(base.join(format!("signcerts/{host}-cert.pem"))).expect("certificate"),
                &std::fs::read(base.join("keystore/priv_sk")).expect("key"),
            )
            .expect("orderer admin identity");
        }
        load(self.dir.path(), msp, "users", "Admin")
    }

    /// A revocation list (PEM) of `msp`'s CA revoking `identities`.
    pub fn revocation_list(&self, msp: &str, identities: &[&SigningIdentity]) -> String {
        let d = domain(msp);
        let org = organization_dir(self.dir.path(), false, d);
        let serials: Vec<String> = identities
            .iter()
            .map(|i| self.msps.identity(&i.creator()).expect("a valid identity").serial)
            .collect();
        let der = crate::revocation_list(
            &std::fs::read_to_string(org.join(format!("ca/ca.{d}-cert.pem"))).expect("CA certificate"),
            &std::fs::read_to_string(org.join("ca/priv_sk")).expect("CA key"),
            &serials,
            1,
            time::OffsetDateTime::now_utc(),
        )
        .expect("revocation list");
        crate::revocation_list_pem(&der)
    }

    /// A configuration update from `current` to `next`, signed by the administrators of
    /// `signers`.
    pub fn config_update(
        &self,
        current: &warga_ledger_core::config::ChannelConfig,
        next: warga_ledger_core::config::ChannelConfig,
        signers: &[&str],
    ) -> warga_ledger_core::config::ConfigEnvelope {
        let update = warga_ledger_core::config::ConfigUpdate::new(current, next);
        let bytes = update.signed_bytes();
        let signatures = signers
            .iter()
            .map(|msp| {
                let admin = self.admin(msp);
                warga_ledger_core::config::ConfigSignature {
                    signer: admin.creator(),
                    signature: admin.sign(&bytes).expect("signature"),
                }
            })
            .collect();
        warga_ledger_core::config::ConfigEnvelope { update, signatures }
    }

    /// `peer0` of an organisation.
    pub fn peer(&self, msp: &str) -> SigningIdentity {
        load(self.dir.path(), msp, "peers", "peer0")
    }

    /// The BPJS contract as the network's peers run it: trusting this network's registry.
    pub fn contract(&self) -> Bpjs {
        Bpjs::new(crate::attestor::registry_key(self.dir.path()).expect("the registry's key"))
    }

    /// The registry's attestation that `nik` is a living resident, made at `at_ms`.
    pub fn attest(&self, nik: &str, at_ms: i64) -> String {
        crate::attestor::Attestor::load(self.dir.path())
            .expect("the registry's attestation key")
            .attest(nik, warga_ledger_core::attestation::ALIVE, at_ms)
            .expect("an attestation")
    }

    /// A proposal of `client`, simulated against `state` and endorsed by the peers of
    /// `endorsers`, assembled and signed by the client. Panics if the contract refuses.
    #[allow(clippy::too_many_arguments)]
    pub fn transact(
        &mut self,
        state: &dyn StateReader,
        channel: &str,
        client: &SigningIdentity,
        function: &str,
        args: &[&str],
        endorsers: &[&str],
    ) -> Transaction {
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        self.transact_at(state, channel, client, function, args, endorsers, now_ms)
    }

    /// As [`TestNetwork::transact`], with the proposal timestamped `timestamp_ms` (a client
    /// may choose any).
    #[allow(clippy::too_many_arguments)]
    pub fn transact_at(
        &mut self,
        state: &dyn StateReader,
        channel: &str,
        client: &SigningIdentity,
        function: &str,
        args: &[&str],
        endorsers: &[&str],
        timestamp_ms: i64,
    ) -> Transaction {
        self.nonce += 1;
        let nonce = self.nonce.to_be_bytes().to_vec();
        let creator = client.creator();
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        // An IssueCard given three arguments gets the registry's attestation as its fourth.
        if function == "IssueCard" && args.len() == 3 {
            args.push(self.attest(&args[0], timestamp_ms));
        }
        let proposal = Proposal {
            channel: channel.into(),
            chaincode: "bpjs".into(),
            function: function.into(),
            args,
            tx_id: Proposal::compute_tx_id(&nonce, &creator),
            timestamp_ms,
            nonce,
            creator: creator.clone(),
        };
        let identity = self.msps.identity(&creator).expect("a valid client");
        let invoker = identity.invoker();
        // A visit's diagnosis, given here as a fourth argument, travels as transient data.
        let mut proposal = proposal;
        let mut transient = Default::default();
        if function == "RecordVisit" && proposal.args.len() == 4 {
            let diagnosis = proposal.args.pop().unwrap_or_default();
            transient = warga_ledger_core::bpjs::clinical_transient(&diagnosis, "", "testing-salt-00000001");
        }
        let collections = self
            .network
            .channel(channel)
            .and_then(|c| c.chaincodes.iter().find(|cc| cc.name == "bpjs"))
            .map(|cc| cc.collections.clone())
            .unwrap_or_default();
        let simulated = Simulator::new(state, "bpjs", channel, &proposal.tx_id, proposal.timestamp_ms, invoker)
            .with_private(&collections, "BPJSMSP", transient)
            .run(&self.contract(), function, &proposal.args)
            .unwrap_or_else(|e| panic!("{function} refused: {e}"));
        let response = Response {
            proposal_hash: proposal.hash(),
            rwset: simulated.rwset,
            event: simulated.event,
            result: simulated.result,
            chaincode_sequence: self.chaincode_sequence,
        };
        let endorsements: Vec<Endorsement> = endorsers
            .iter()
            .map(|msp| {
                let peer = self.peer(msp);
                let endorser = peer.creator();
                Endorsement {
                    signature: peer
                        .sign(&Endorsement::signed_bytes(&response, &endorser))
                        .expect("signature"),
                    endorser,
                }
            })
            .collect();
        let signature = client
            .sign(&Transaction::signed_bytes(&proposal, &response, &endorsements))
            .expect("signature");
        Transaction {
            proposal,
            response,
            endorsements,
            signature,
        }
    }
}

impl Default for TestNetwork {
    fn default() -> Self {
        Self::new()
    }
}
