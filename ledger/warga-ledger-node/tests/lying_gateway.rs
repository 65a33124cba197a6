//! What the client signs, it checked: a gateway that alters the transaction it assembled —
//! the chaincode's response, or the proposal itself — is refused before the client signs,
//! and nothing is ordered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::transport::{Certificate, Channel, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_node::embedded::{EmbeddedNetwork, client_of};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::gateway_client::GatewayClient;
use warga_ledger_proto::v1::gateway_server::{Gateway, GatewayServer};

/// A change a lying gateway makes to the transaction it returns.
type Alteration = fn(&mut v1::Transaction);

/// A gateway in front of the real one that changes what `Endorse` returns.
struct Lying {
    real: GatewayClient<Channel>,
    alter: Alteration,
    submitted: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Gateway for Lying {
    async fn evaluate(&self, request: Request<v1::SignedProposal>) -> Result<Response<v1::EvaluateResponse>, Status> {
        self.real.clone().evaluate(request.into_inner()).await
    }

    async fn endorse(&self, request: Request<v1::SignedProposal>) -> Result<Response<v1::Transaction>, Status> {
        let mut tx = self.real.clone().endorse(request.into_inner()).await?.into_inner();
        (self.alter)(&mut tx);
        Ok(Response::new(tx))
    }

    async fn submit(&self, request: Request<v1::Transaction>) -> Result<Response<v1::CommitStatus>, Status> {
        self.submitted.fetch_add(1, Ordering::SeqCst);
        self.real.clone().submit(request.into_inner()).await
    }

    async fn commit_status(
        &self,
        request: Request<v1::CommitStatusRequest>,
    ) -> Result<Response<v1::CommitStatus>, Status> {
        self.real.clone().commit_status(request.into_inner()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_gateway_is_refused_before_the_client_signs() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let net = EmbeddedNetwork::start(Network::parse(BPJS_EXAMPLE).unwrap(), "bpjs-main", dir.path(), true)
        .await
        .unwrap();
    let honest = net.client("BPJSMSP", "User1").unwrap();
    let bpjs_peer = net.peer("BPJSMSP").unwrap().clone();

    let alterations: [(&str, Alteration); 3] = [
        ("the chaincode's result", |tx| {
            tx.response.as_mut().unwrap().result = br#"{"status":"active"}"#.to_vec()
        }),
        ("the proposal's arguments", |tx| {
            tx.proposal.as_mut().unwrap().args[0] = "3171071203950005".into()
        }),
        ("an endorsement", |tx| {
            let signature = &mut tx.endorsements[0].signature;
            let last = signature.len() - 1;
            signature[last] ^= 1;
        }),
    ];
    for (what, alter) in alterations {
        // The lying gateway speaks with the BPJS peer's own TLS certificate.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let submitted = Arc::new(AtomicUsize::new(0));
        let real = GatewayClient::new(
            warga_ledger_orderer::grpc::client_channel(&bpjs_peer.tls, bpjs_peer.node.listen, &bpjs_peer.node.host)
                .unwrap(),
        );
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(
                &bpjs_peer.tls.certificate_pem,
                &bpjs_peer.tls.key_pem,
            ))
            .client_ca_root(Certificate::from_pem(bpjs_peer.tls.bundle()));
        let server = Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(GatewayServer::new(Lying {
                real,
                alter,
                submitted: submitted.clone(),
            }))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        let serving = tokio::spawn(server);

        let fooled = client_of(
            &net.network,
            &net.crypto,
            "BPJSMSP",
            "User1",
            addr,
            &bpjs_peer.node.host,
            "bpjs-main",
        )
        .unwrap();
        let refused = fooled
            .submit(
                "IssueCard",
                &[
                    "3171075203950004".into(),
                    "1".into(),
                    "2030-12-31".into(),
                    net.attest_alive("3171075203950004").unwrap(),
                ],
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::DataLoss, "{what}: {refused}");
        assert_eq!(submitted.load(Ordering::SeqCst), 0, "{what}: nothing was submitted");
        serving.abort();
    }
    // Nothing was ordered: the card does not exist.
    let missing = honest
        .evaluate("VerifyCard", &["3171075203950004".into()])
        .await
        .unwrap_err();
    assert!(missing.message().contains("no card"), "{missing}");
    net.shutdown().await;
}
