//! Serving an application over HTTPS, with graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;

use crate::EdgeError;
use crate::tls::TlsMaterial;

/// A running HTTPS listener.
pub struct Server {
    pub local_addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `listen` (port 0 picks one); serve it with [`serve`].
pub fn bind(listen: SocketAddr) -> Result<std::net::TcpListener, EdgeError> {
    let refused = |source| EdgeError::Listen { addr: listen, source };
    let listener = std::net::TcpListener::bind(listen).map_err(refused)?;
    listener.set_nonblocking(true).map_err(refused)?;
    Ok(listener)
}

/// Binds `listen` (port 0 picks one) and serves `app` in the background.
pub fn start(listen: SocketAddr, tls: &TlsMaterial, app: Router) -> Result<Server, EdgeError> {
    serve(bind(listen)?, tls, app)
}

/// Serves `app` over TLS on a bound listener, in the background.
pub fn serve(listener: std::net::TcpListener, tls: &TlsMaterial, app: Router) -> Result<Server, EdgeError> {
    let local_addr = listener.local_addr().map_err(|e| EdgeError::Serve(e.to_string()))?;
    let handle = axum_server::Handle::new();
    // TCP_NODELAY on every accepted connection: without it, Nagle holds small answers back
    // behind delayed ACKs.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(RustlsConfig::from_config(tls.server_config.clone()))
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let server = axum_server::from_tcp(listener)
        .map_err(|e| EdgeError::Serve(e.to_string()))?
        .acceptor(acceptor)
        .handle(handle.clone());
    let task = tokio::spawn(server.serve(app.into_make_service_with_connect_info::<SocketAddr>()));
    Ok(Server {
        local_addr,
        handle,
        task,
    })
}

/// The base URL of a deployment: `http.public_url`, or the listener's address.
pub fn public_url(config: &warga_config::Config, local_addr: SocketAddr) -> String {
    config
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://{local_addr}"))
}

impl Server {
    /// Stops accepting connections, lets in-flight requests finish for up to `grace`, then
    /// closes what is left.
    pub async fn shutdown(self, grace: Duration) -> Result<(), EdgeError> {
        self.handle.graceful_shutdown(Some(grace));
        self.task
            .await
            .map_err(|e| EdgeError::Serve(format!("the server task failed: {e}")))?
            .map_err(|e| EdgeError::Serve(e.to_string()))
    }

    /// Open connections right now.
    pub fn connection_count(&self) -> usize {
        self.handle.connection_count()
    }
}
