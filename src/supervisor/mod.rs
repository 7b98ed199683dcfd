//! PID 1 duties: signals, zombie reaping, start order, graceful shutdown and
//! reload.
//!
//! - Signals ([`SignalListener`]): SIGTERM/SIGINT stop gracefully within
//!   SHUTDOWN_GRACE and exit 0 (a second one exits at once); SIGHUP reloads
//!   the confs; SIGCHLD reaps every zombie, orphans re-parented to PID 1
//!   included.
//! - Reload ([`RouteReloader`]): `conf::load`, then an `arc-swap` of the
//!   whole [`crate::conf::RouteTable`]; a failed load logs each error with
//!   file and line and keeps the old table. A poll watcher over
//!   `/config/nginx` reloads the same way.
//! - Services ([`Service`]): the proxy and the ACME scheduler plug in as
//!   trait objects; a failed one restarts with backoff, a fatal one stops
//!   moat with exit 1.
//! - Wiring ([`AcmeService`], [`MetricsService`]; the proxy's own service is
//!   [`crate::proxy::ProxyService`]): the ACME renewal loop and the metrics
//!   endpoint as services, sharing the certificate store, the HTTP-01 tokens
//!   and the proxy's counters built by `moat run`.
//!
//! Not here: reading settings (`settings`), writing /config (`bootstrap`),
//! serving (`proxy`). The reaper collects every child's status, so a child
//! moat starts itself (a deploy hook) must go through [`run_command`].

mod acme_service;
mod allocator;
mod error;
mod events;
mod last_good;
mod logging;
mod main_loop;
mod metrics_service;
mod reaper;
mod restart;
mod routes;
mod service;
mod signals;
mod watcher;

#[cfg(test)]
mod tests;

pub use acme_service::{acme_config, AcmeService};
pub use allocator::{tunables_in_effect, tune_allocator};
pub use error::{ServiceError, SupervisorError};
pub use events::{event_channel, Event, EventReceiver, EventSender};
pub use last_good::LastGood;
pub use logging::{init_logging, init_logging_into, init_logging_with, log_panics};
pub use main_loop::{Supervisor, EXIT_FATAL};
pub use metrics_service::MetricsService;
pub use reaper::{reap_zombies, run_command};
pub use routes::{RouteReloader, SharedRoutes};
pub use service::{Service, ServiceContext, Shutdown, ShutdownTrigger};
pub use signals::SignalListener;
pub use watcher::{watch_confs, Fingerprint, POLL_INTERVAL};
