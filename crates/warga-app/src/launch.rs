//! From configuration to a running platform, and back.
//!
//! Start-up order: embedded ledger (its nodes and CAs, whose addresses the ledger's web
//! gateway is configured with) → database → migrations → bus → platform (keys, token
//! validation, rate limits) → identity bootstrap → HTTPS → event workers. Shutdown runs in
//! reverse: stop accepting requests and drain the workers together (in-flight work commits or
//! is handed back), then the ledger nodes, then the database.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;
use warga_bus::{Bus, Handler};
use warga_config::Config;
use warga_core::time::{Clock, SystemClock};
use warga_http::server::Server;
use warga_http::tls::TlsMaterial;
use warga_http::{Platform, Service};
use warga_identity::demo::DemoSummary;
use warga_ledger_node::embedded::EmbeddedNetwork;
use warga_store::Store;

use crate::AppError;
use crate::services;

/// What a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Everything in one process, the embedded ledger included.
    Up,
    /// Everything in one process, with the demo world seeded.
    Demo,
    /// The named services only; no embedded ledger.
    Serve,
}

/// A platform to start: configuration, services, and what the caller supplies instead of
/// the defaults (a clock, an open store, a bound listener, extra routes and handlers).
pub struct Launch {
    config: Config,
    services: Vec<Arc<dyn Service>>,
    mode: Mode,
    clock: Arc<dyn Clock>,
    store: Option<Store>,
    listener: Option<std::net::TcpListener>,
    routes: Router,
    handlers: Vec<Arc<dyn Handler>>,
    bootstrap: bool,
}

/// A running platform: serving HTTPS and, when enabled, handling events and running the
/// embedded ledger, until [`Running::shutdown`].
pub struct Running {
    /// `https://` and the listener's address.
    pub url: String,
    pub platform: Platform,
    pub tls: TlsMaterial,
    pub services: Vec<Arc<dyn Service>>,
    /// The first administrator's one-time password, when this start created the account.
    pub admin_password: Option<String>,
    /// The demo accounts, in [`Mode::Demo`].
    pub demo: Option<DemoSummary>,
    pub ledger: Option<EmbeddedNetwork>,
    /// The control socket (with the embedded ledger), through which `warga backup` asks.
    control: Option<crate::control::ControlSocket>,
    server: Server,
    workers: Option<Background>,
    /// The event handlers running here (empty without workers).
    handlers: Vec<Arc<dyn Handler>>,
    /// Whether the store was opened here (and so is closed at shutdown).
    owns_store: bool,
}

impl Launch {
    /// `services` on `config`: the wall clock, a store opened from the configuration, a
    /// listener bound at `http.listen`, and the first administrator created if there is none.
    pub fn new(config: Config, services: Vec<Arc<dyn Service>>, mode: Mode) -> Launch {
        Launch {
            config,
            services,
            mode,
            clock: Arc::new(SystemClock),
            store: None,
            listener: None,
            routes: Router::new(),
            handlers: Vec::new(),
            bootstrap: true,
        }
    }

    /// The clock of lockouts, codes and sessions (tests use a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Launch {
        self.clock = clock;
        self
    }

    /// An open, migrated store instead of one opened from the configuration; the caller
    /// closes it.
    pub fn store(mut self, store: Store) -> Launch {
        self.store = Some(store);
        self
    }

    /// A listener bound by the caller (so its port is known before anything starts).
    pub fn listener(mut self, listener: std::net::TcpListener) -> Launch {
        self.listener = Some(listener);
        self
    }

    /// Routes mounted beside the services' (tests add probes here).
    pub fn routes(mut self, routes: Router) -> Launch {
        self.routes = routes;
        self
    }

    /// Event handlers run beside the services'.
    pub fn handlers(mut self, handlers: Vec<Arc<dyn Handler>>) -> Launch {
        self.handlers = handlers;
        self
    }

    /// Whether to create the first administrator when the identity service runs and there
    /// is none (default: yes).
    pub fn bootstrap_admin(mut self, bootstrap: bool) -> Launch {
        self.bootstrap = bootstrap;
        self
    }

    /// Starts everything, in order; on an error nothing keeps running.
    pub async fn start(mut self) -> Result<Running, AppError> {
        let ledger_enabled = self
            .config
            .section::<warga_ledger_node::settings::LedgerConfig>()
            .enabled;
        let ledger = if self.mode != Mode::Serve && ledger_enabled {
            let ledger = crate::ledger::start(&self.config).await?;
            crate::ledger::configure_gateway(&mut self.config, &ledger);
            Some(ledger)
        } else {
            None
        };
        match self.start_platform().await {
            Ok(mut running) => {
                if let Some(ledger) = &ledger {
                    running.control = crate::control::ControlSocket::start(
                        running.platform.store.clone(),
                        crate::backup::LedgerStores::of(ledger),
                        &running.platform.config.data_dir,
                    )
                    .await;
                }
                running.ledger = ledger;
                Ok(running)
            }
            Err(error) => {
                if let Some(ledger) = ledger {
                    ledger.shutdown().await;
                }
                Err(error)
            }
        }
    }

    /// Everything but the embedded ledger.
    async fn start_platform(self) -> Result<Running, AppError> {
        let Launch {
            config,
            services,
            mode,
            clock,
            store,
            listener,
            routes,
            handlers,
            bootstrap,
        } = self;
        let listener = match listener {
            Some(listener) => listener,
            None => warga_http::server::bind(config.http.listen).map_err(AppError::Http)?,
        };
        let local_addr = listener
            .local_addr()
            .map_err(|e| AppError::Http(warga_http::EdgeError::Serve(e.to_string())))?;
        let public_url = warga_http::server::public_url(&config, local_addr);
        let owns_store = store.is_none();
        let (platform, bus) = assemble(config, store, public_url, clock).await?;
        let config = platform.config.clone();

        let admin_password = if bootstrap && services.iter().any(|s| s.name() == "identity") {
            warga_identity::bootstrap(&platform)
                .await
                .map_err(|e| AppError::Identity(e.to_string()))?
        } else {
            None
        };
        let demo = if mode == Mode::Demo {
            let summary = warga_identity::demo::seed(&platform)
                .await
                .map_err(|e| AppError::Identity(format!("cannot seed the demo: {e}")))?;
            for service in &services {
                service
                    .seed_demo(&platform)
                    .await
                    .map_err(|e| AppError::Identity(format!("cannot seed the {} demo: {e}", service.name())))?;
            }
            Some(summary)
        } else {
            None
        };

        let tls = warga_http::tls::load_or_generate(&config).map_err(AppError::Http)?;
        let app = warga_http::app_with(&platform, &services, routes);
        let server = warga_http::server::serve(listener, &tls, app).map_err(AppError::Http)?;

        let mut running_handlers = Vec::new();
        let workers = if config.workers.enabled {
            let mut all: Vec<Arc<dyn Handler>> = services.iter().flat_map(|s| s.handlers(&platform)).collect();
            all.extend(handlers);
            running_handlers = all.clone();
            match bus.start_workers(all, CancellationToken::new()).await {
                Ok(workers) => {
                    let jobs = services.iter().flat_map(|s| s.jobs(&platform)).collect();
                    let stop_jobs = CancellationToken::new();
                    let job_tasks = warga_http::spawn_jobs(jobs, stop_jobs.clone());
                    Some((workers, stop_jobs, job_tasks))
                }
                Err(error) => {
                    let _ = server.shutdown(Duration::ZERO).await;
                    return Err(AppError::Workers(error));
                }
            }
        } else {
            None
        };

        let url = format!("https://{}", server.local_addr);
        let names: Vec<_> = services.iter().map(|s| s.name()).collect();
        tracing::info!(%url, services = ?names, database = platform.store.backend().name(), bus = bus.backend_name(), "warga started");
        Ok(Running {
            url,
            platform,
            tls,
            services,
            admin_password,
            demo,
            ledger: None,
            control: None,
            server,
            workers,
            handlers: running_handlers,
            owns_store,
        })
    }
}

impl Running {
    /// The address the HTTPS listener is bound to.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr
    }

    /// Open HTTPS connections right now.
    pub fn connection_count(&self) -> usize {
        self.server.connection_count()
    }

    /// Events not yet wholly handled here: outbox rows not yet published, and events
    /// delivered to this process's consumers but not yet handled. Zero means every effect of
    /// what has been committed so far is in place (dead letters aside).
    pub async fn events_in_flight(&self) -> Result<u64, warga_bus::BusError> {
        let bus = &self.platform.bus;
        let mut total = bus.outbox_backlog().await?;
        for handler in &self.handlers {
            total += bus.pending(handler.as_ref()).await?;
        }
        Ok(total)
    }

    /// Whether event workers run in this process.
    pub fn has_workers(&self) -> bool {
        self.workers.is_some()
    }

    /// Stops in reverse order: requests drain for up to `grace` while the workers finish
    /// or hand back the event in hand, then the ledger nodes stop, then the database closes.
    pub async fn shutdown(self, grace: Duration) -> Result<(), AppError> {
        tracing::info!("shutting down: draining requests and workers");
        let Running {
            platform,
            ledger,
            control,
            server,
            workers,
            owns_store,
            ..
        } = self;
        // First, so that it lets go of the ledger's stores before the nodes close them.
        if let Some(control) = control {
            control.stop();
        }
        let (served, ()) = tokio::join!(server.shutdown(grace), async {
            if let Some(workers) = workers {
                stop_workers(workers).await;
            }
        });
        if let Some(ledger) = ledger {
            ledger.shutdown().await;
        }
        if owns_store {
            platform.store.close().await;
        }
        tracing::info!("stopped");
        served.map_err(AppError::Http)
    }
}

/// Event consumers and periodic jobs, stopped together (a job's pass in progress finishes).
type Background = (warga_bus::Workers, CancellationToken, Vec<tokio::task::JoinHandle<()>>);

async fn stop_workers((workers, stop_jobs, job_tasks): Background) {
    stop_jobs.cancel();
    let jobs = async {
        for task in job_tasks {
            let _ = task.await;
        }
    };
    tokio::join!(workers.shutdown(), jobs);
}

/// The platform of `config` without serving it: the store opened and migrated, the bus
/// connected, keys and token validation ready — for commands that act on the platform's
/// data.
pub async fn open_platform(config: Config) -> Result<Platform, AppError> {
    let public_url = warga_http::server::public_url(&config, config.http.listen);
    let (platform, _bus) = assemble(config, None, public_url, Arc::new(SystemClock)).await?;
    Ok(platform)
}

/// Store (opened and migrated unless given), bus and platform.
async fn assemble(
    config: Config,
    store: Option<Store>,
    public_url: String,
    clock: Arc<dyn Clock>,
) -> Result<(Platform, Bus), AppError> {
    // One crypto provider for every rustls user in the process (HTTPS, PostgreSQL, NATS).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = match store {
        Some(store) => store,
        None => services::open_store(&config).await?,
    };
    let bus = Bus::connect(&config.bus, store.clone()).await.map_err(AppError::Bus)?;
    let platform = Platform::build(Arc::new(config), store, bus.clone(), public_url, clock)
        .await
        .map_err(AppError::Platform)?;
    Ok((platform, bus))
}
