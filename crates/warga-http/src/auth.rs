//! Authentication at the edge: bearer tokens become a [`Principal`] in the request.
//!
//! The `authenticate` middleware validates an `Authorization: Bearer` token when one is
//! sent — an invalid token is refused with 401 rather than treated as anonymous — and
//! leaves the principal in the request's extensions. Handlers take [`Auth`] (a principal is
//! required) or [`MaybeAuth`], and check roles with [`Auth::require_any`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use warga_auth::TokenValidator;
use warga_core::identity::{Principal, Role};

use crate::ApiError;

/// The authenticated caller; rejects with 401 when the request carried no valid token.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

/// The caller when authenticated, `None` for anonymous requests.
#[derive(Clone, Debug)]
pub struct MaybeAuth(pub Option<Principal>);

impl Auth {
    /// 403 unless the caller has one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        if self.0.has_any_role(roles) {
            Ok(&self.0)
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "requires one of the roles: {}",
                names.join(", ")
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))
    }
}

/// A set of roles, as a type, for [`Authorized`].
pub trait RoleSet: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// Citizens (residents' own accounts).
pub struct Citizens;
impl RoleSet for Citizens {
    const ROLES: &'static [Role] = &[Role::Citizen];
}

/// Department officers.
pub struct Officers;
impl RoleSet for Officers {
    const ROLES: &'static [Role] = &[Role::Officer];
}

/// The authenticated caller holding one of `R`'s roles, checked when the handler's arguments
/// are extracted — before a body is read, so a caller without the role gets 403 whatever it
/// sent. For handlers whose body extractor parses on extraction (multipart forms); others
/// take [`Auth`] and a [`crate::JsonBody`] parsed after [`Auth::require_any`].
pub struct Authorized<R: RoleSet>(pub Principal, std::marker::PhantomData<R>);

impl<S: Send + Sync, R: RoleSet> FromRequestParts<S> for Authorized<R> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require_any(R::ROLES)?;
        Ok(Authorized(auth.0, std::marker::PhantomData))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<Principal>().cloned()))
    }
}

/// The bearer token of a request, if it sent one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Paths whose requests are authenticated but never attributed: the caller's subject is not
/// recorded in the request's span (so in no log line or trace). JagaWarga's anonymous
/// reports are filed here; the handler keeps the account out of everything it stores.
pub const UNATTRIBUTED_PATHS: &[&str] = &["/api/v1/reports/anonymous"];

pub(crate) async fn authenticate(State(validator): State<TokenValidator>, mut req: Request, next: Next) -> Response {
    if let Some(token) = bearer_token(req.headers()) {
        match validator.validate(token).await {
            Ok(principal) => {
                if !UNATTRIBUTED_PATHS.contains(&req.uri().path()) {
                    tracing::Span::current().record("subject", principal.subject.as_str());
                }
                req.extensions_mut().insert(principal);
            }
            Err(error) => {
                warga_telemetry_auth_failure(&error);
                return ApiError::from(error).into_response();
            }
        }
    }
    next.run(req).await
}

fn warga_telemetry_auth_failure(error: &warga_auth::AuthError) {
    crate::middleware::AUTH_FAILURES
        .with_label_values(&[reason(error)])
        .inc();
    tracing::info!(reason = reason(error), "bearer token refused");
}

fn reason(error: &warga_auth::AuthError) -> &'static str {
    use warga_auth::AuthError::*;
    match error {
        Malformed => "malformed",
        UnsupportedAlgorithm(_) => "algorithm",
        MissingKeyId | UnknownKey => "unknown_key",
        BadSignature => "signature",
        Expired => "expired",
        NotYetValid => "not_yet_valid",
        WrongIssuer => "issuer",
        WrongAudience => "audience",
        Revoked => "revoked",
        MissingClaim(_) => "claims",
        IssuerUnavailable(_) | Keys(_) | Store(_) => "unavailable",
    }
}
