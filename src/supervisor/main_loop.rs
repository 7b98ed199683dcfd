//! The supervisor proper: starts the services, reacts to events, and stops
//! everything within the grace period.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::events::{Event, EventReceiver, EventSender};
use super::restart::supervise;
use super::routes::RouteReloader;
use super::service::{Service, ServiceContext, Shutdown};
use super::watcher::watch_confs;
use crate::bootstrap::ConfigLayout;
use crate::settings::Settings;

/// Exit status after a fatal service error.
pub const EXIT_FATAL: i32 = 1;

/// Owns the services, the route reloader and the stop signal.
pub struct Supervisor {
    settings: Arc<Settings>,
    layout: ConfigLayout,
    reloader: RouteReloader,
    services: Vec<Arc<dyn Service>>,
    events_tx: EventSender,
    events_rx: EventReceiver,
}

impl Supervisor {
    /// A supervisor fed by `events` (the channel the signal listener sends on).
    pub fn new(
        settings: Arc<Settings>,
        layout: ConfigLayout,
        reloader: RouteReloader,
        events: (EventSender, EventReceiver),
    ) -> Self {
        Supervisor {
            settings,
            layout,
            reloader,
            services: Vec::new(),
            events_tx: events.0,
            events_rx: events.1,
        }
    }

    /// Adds a service; services start in the order they were added.
    pub fn add(&mut self, service: impl Service) {
        self.services.push(Arc::new(service));
    }

    /// The number of services added.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Runs until SIGTERM/SIGINT (returns 0) or a fatal service error
    /// (returns [`EXIT_FATAL`]). Reloads on SIGHUP and conf changes.
    pub async fn run(mut self) -> i32 {
        let (trigger, shutdown) = Shutdown::new();
        let grace = self.settings.shutdown_grace;
        let ctx = ServiceContext {
            settings: self.settings.clone(),
            layout: self.layout.clone(),
            routes: self.reloader.routes(),
            route_updates: self.reloader.updates(),
            shutdown: shutdown.clone(),
            grace,
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(watch_confs(
            self.layout.nginx_dir(),
            self.events_tx.clone(),
            shutdown.clone(),
            self.reloader.loaded_tree(),
        ));
        for service in &self.services {
            tasks.spawn(supervise(
                service.clone(),
                ctx.clone(),
                self.events_tx.clone(),
            ));
        }
        tracing::info!(services = self.services.len(), "supervisor running");

        let code = loop {
            match self.events_rx.recv().await {
                Some(Event::Stop(signal)) => {
                    tracing::info!(signal, grace_ms = grace.as_millis() as u64, "stopping");
                    break 0;
                }
                Some(Event::Reload(reason)) => {
                    self.reloader.reload(&reason).await;
                }
                Some(Event::Fatal { service, message }) => {
                    tracing::error!(service, error = %message, "fatal error; stopping");
                    break EXIT_FATAL;
                }
                None => break 0,
            }
        };

        trigger.fire();
        let drained = tokio::select! {
            _ = drain(&mut tasks) => true,
            _ = tokio::time::sleep(grace + Duration::from_millis(250)) => false,
            _ = second_stop(&mut self.events_rx) => {
                tracing::warn!("second stop signal: exiting now");
                false
            }
        };
        if drained {
            tracing::info!("all services stopped");
        } else {
            tracing::warn!(
                still_running = tasks.len(),
                "grace period over; exiting with services still running"
            );
            tasks.abort_all();
        }
        code
    }
}

async fn drain(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}

async fn second_stop(events: &mut EventReceiver) {
    loop {
        match events.recv().await {
            Some(Event::Stop(_)) => return,
            Some(_) => continue,
            None => std::future::pending::<()>().await,
        }
    }
}
