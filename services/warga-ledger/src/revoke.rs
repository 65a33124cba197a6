//! A disabled account loses its ledger identities: the `ledger-identity-revoker` consumer
//! revokes each at its organisation's CA (whose revocation list every node of the
//! organisation refreshes, so endorsers and orderers refuse the certificate) and marks it
//! revoked here, so the gateway signs nothing more with it.

use sqlx::Row;
use warga_bus::{Handler, HandlerError};
use warga_core::Envelope;
use warga_store::Tx;
use warga_store::audit::{AuditRecord, Outcome};

use crate::access::Gateway;

/// The account event this consumer follows (`identity.account.disabled`, published by the
/// identity service; read here by its shape, so the services stay independent).
const ACCOUNT_DISABLED: &str = "identity.account.disabled";

#[derive(serde::Deserialize)]
struct AccountDisabled {
    account_id: String,
}

pub struct IdentityRevoker {
    gateway: Gateway,
}

impl IdentityRevoker {
    pub fn new(gateway: Gateway) -> IdentityRevoker {
        IdentityRevoker { gateway }
    }
}

#[async_trait::async_trait]
impl Handler for IdentityRevoker {
    fn name(&self) -> &'static str {
        "ledger-identity-revoker"
    }

    fn topics(&self) -> &'static [&'static str] {
        &[ACCOUNT_DISABLED]
    }

    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let disabled: AccountDisabled = serde_json::from_value(event.payload.clone())
            .map_err(|e| format!("an {ACCOUNT_DISABLED} event without an account id: {e}"))?;
        let rows =
            sqlx::query("SELECT msp_id, enrollment_id FROM ledger_identities WHERE subject = $1 AND status = 'active'")
                .bind(&disabled.account_id)
                .fetch_all(tx.conn())
                .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let access = self.gateway.access().await.map_err(|e| e.to_string())?;
        for row in rows {
            let msp_id: String = row.get(0);
            let enrollment_id: String = row.get(1);
            // At the CA first: a failure leaves the identity active here and the event is
            // retried; revoking twice at the CA changes nothing.
            access
                .revoke_at_ca(&msp_id, &enrollment_id)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(
                "UPDATE ledger_identities SET status = 'revoked', revoked_at_ms = $1 WHERE subject = $2 AND msp_id = $3",
            )
            .bind(warga_core::time::now_ms())
            .bind(&disabled.account_id)
            .bind(&msp_id)
            .execute(tx.conn())
            .await?;
            tx.audit(&AuditRecord {
                actor: "service:ledger-identity-revoker",
                action: "ledger.identity.revoke",
                target: &format!("ledger-identity:{msp_id}:{enrollment_id}"),
                outcome: Outcome::Success,
                details: Some(serde_json::json!({ "account": disabled.account_id })),
            })
            .await?;
            tracing::info!(%msp_id, %enrollment_id, "ledger identity revoked: its account was disabled");
        }
        access.forget(&disabled.account_id);
        Ok(())
    }
}
