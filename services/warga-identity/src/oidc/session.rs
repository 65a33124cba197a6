//! The provider's browser session: its cookie and the account it signed in.

use super::*;

/// The signed-in account of the browser's provider session, if any.
pub(super) async fn current_session(
    state: &IdentityState,
    headers: &HeaderMap,
) -> Result<Option<(String, Account)>, StoreError> {
    let Some(session) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session_hash = token_hash(session);
    let row = sqlx::query(
        "SELECT account_id FROM identity_sessions WHERE id_hash = $1 AND revoked_at_ms IS NULL AND expires_at_ms > $2",
    )
    .bind(&session_hash)
    .bind(state.now_ms())
    .fetch_optional(state.store().reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let account = accounts::by_id(state.store().reader(), &row.get::<String, _>(0)).await?;
    Ok(account.filter(Account::is_active).map(|a| (session_hash, a)))
}
