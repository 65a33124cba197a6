//! The HTTPS edge shared by every warga service.
//!
//! A service is a library that hands this crate an axum [`Router`](axum::Router), its
//! OpenAPI document and its event handlers ([`Service`]). [`app`] composes any set of
//! services with the operational endpoints (`/healthz`, `/readyz`, `/metrics`,
//! `/api/openapi.json`) and the middleware every request passes through: request id,
//! trace span (continuing an incoming `traceparent`), request metrics, panic catching,
//! timeout, global concurrency limit, body size limit, and the rendering of every error as
//! `application/problem+json`. [`server`] serves the result over rustls.
//!
//! Invariants: a handler never builds an error body itself — it returns [`ApiError`], whose
//! `type` URIs are stable API; internal error text is logged, never sent.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod client;
mod concurrency;
mod extract;
mod middleware;
mod ops;
mod problem;
pub mod ratelimit;
pub mod server;
mod service;
pub mod tls;
pub mod web;

pub use auth::{Auth, Authorized, Citizens, MaybeAuth, Officers, RoleSet, UNATTRIBUTED_PATHS};
pub use concurrency::ConcurrencyLimit;

/// Why the edge could not be set up or served: a listener, TLS material, keys, the rate
/// limiter's store. One line for the operator, naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTPS server: {0}")]
    Serve(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Auth(#[from] warga_auth::AuthError),
    #[error("the rate limiter's Redis: {0}")]
    Redis(#[from] redis::RedisError),
}
pub use extract::{FormFile, Json, JsonBody, JsonWithFiles, Query};
pub use middleware::REQUEST_ID_HEADER;
pub use ops::{app, app_with, openapi};
pub use problem::{ApiError, Detail, Problem, ProblemType, ProtocolError};
pub use service::{AuthContext, Job, LocalIssuer, Platform, Service, spawn_jobs};
