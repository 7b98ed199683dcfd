//! How long-running parts of moat (the proxy, the ACME renewal loop) plug
//! into the supervisor.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::error::ServiceError;
use super::routes::SharedRoutes;
use crate::bootstrap::ConfigLayout;
use crate::settings::Settings;

/// A long-running part of moat that the supervisor starts after the
/// bootstrap, restarts with backoff when it fails, and stops on SIGTERM.
///
/// Contract for implementors:
/// - `run` returns `Ok(())` once `ctx.shutdown` fires and the service has
///   stopped (within `ctx.grace`); returning `Ok(())` earlier means "done for
///   good" and the service is not restarted.
/// - A retryable problem returns [`ServiceError::Failed`]; the next `run`
///   gets a fresh context after a backoff. [`ServiceError::Fatal`] stops moat.
/// - `run` must not block the async runtime: put blocking work (a Pingora
///   server's own threads) on `std::thread` or `spawn_blocking`.
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    /// Short name for logs (`proxy`, `acme`).
    fn name(&self) -> &'static str;

    /// Runs until shutdown or failure.
    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError>;
}

/// What every service gets from the supervisor.
#[derive(Clone)]
pub struct ServiceContext {
    /// The validated settings.
    pub settings: Arc<Settings>,
    /// Paths under /config.
    pub layout: ConfigLayout,
    /// The current route table; swapped whole on every successful reload.
    pub routes: SharedRoutes,
    /// Bumped after each successful reload (the value is the reload count),
    /// for services that must react beyond reading `routes` (new listeners).
    pub route_updates: watch::Receiver<u64>,
    /// Fires once when moat is stopping.
    pub shutdown: Shutdown,
    /// How long in-flight work may take after `shutdown` fires (SHUTDOWN_GRACE).
    pub grace: Duration,
}

impl ServiceContext {
    /// A context outside the supervisor (tests, one-shot commands): an
    /// empty route table that never changes (`route_updates.changed()`
    /// returns `Err`), and a shutdown fired through the returned trigger.
    pub fn standalone(settings: Arc<Settings>) -> (ServiceContext, ShutdownTrigger) {
        let (trigger, shutdown) = Shutdown::new();
        let reloader = super::routes::RouteReloader::new(settings.config_dir.clone());
        let ctx = ServiceContext {
            layout: ConfigLayout::new(&settings.config_dir),
            routes: reloader.routes(),
            route_updates: reloader.updates(),
            grace: settings.shutdown_grace,
            shutdown,
            settings,
        };
        (ctx, trigger)
    }
}

/// The supervisor's stop signal, as seen by a service.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A signal and the trigger that fires it.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// `true` once shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes when shutdown is requested (at once if it already was).
    pub async fn requested(&self) {
        let mut rx = self.rx.clone();
        // An error means the trigger is gone, which only happens at exit.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Lets Pingora wait on the supervisor instead of installing its own signal
/// handlers: pass `Box::new(shutdown)` as `RunArgs::shutdown_signal`.
#[async_trait::async_trait]
impl pingora::server::ShutdownSignalWatch for Shutdown {
    async fn recv(&self) -> pingora::server::ShutdownSignal {
        self.requested().await;
        pingora::server::ShutdownSignal::GracefulTerminate
    }
}

/// Fires the [`Shutdown`] signal; held by the supervisor.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl ShutdownTrigger {
    /// Requests shutdown of every service.
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}
