//! Docker discovery: routes from container labels, on SWAG's conf library.
//!
//! A running container labelled `swag=enable` gets
//! `/config/nginx/proxy-confs/auto-proxy-<name>.subdomain.conf`: the SWAG
//! sample named after it (or `swag_preset_conf`), else a generic template,
//! with swag-auto-proxy's labels applied ([`labels`], [`render`]). The file
//! goes when the container stops or loses the label; a conf of the user's
//! with that name, or `<name>.subdomain.conf`, wins ([`reconcile`]). The
//! conf watcher reloads the routes as after any edit, through the same
//! validation, and a label that would break the tree is refused before
//! anything is written.
//!
//! Docker is read, never written ([`docker`]): one listing at start, then
//! the events stream of containers and networks (no polling). The socket is root-equivalent; the
//! README shows a read-only socket proxy for `DOCKER_HOST=tcp://...`.

mod address;
mod docker;
mod error;
mod labels;
mod names;
mod reconcile;
mod render;

use std::task::Poll;
use std::time::Duration;

use futures_core::Stream as _;

pub use error::{DiscoveryError, LabelError};
pub use labels::{Auth, ContainerFacts, Publication, LABELS};
pub use names::published_names;
pub use reconcile::{conf_path, is_generated, Changes, Reconciler};
pub use render::{render, Base, HEADER};

use crate::bootstrap::Ownership;
use crate::supervisor::{Service, ServiceContext, ServiceError};

/// How long discovery waits after an event for the rest of a burst
/// (`docker compose up` starts many containers at once).
const SETTLE: Duration = Duration::from_millis(300);

/// The discovery task as a supervised service: off (one info line) when
/// DOCKER_HOST is `off` or no socket is mounted; restarted with backoff
/// when Docker cannot be reached or its events stream ends, relisting then.
pub struct DiscoveryService {
    owner: Ownership,
}

impl DiscoveryService {
    /// Discovery writing files owned by `owner` (PUID:PGID, like the rest of /config).
    pub fn new(owner: Ownership) -> Self {
        DiscoveryService { owner }
    }
}

#[async_trait::async_trait]
impl Service for DiscoveryService {
    fn name(&self) -> &'static str {
        "discovery"
    }

    async fn run(&self, ctx: ServiceContext) -> Result<(), ServiceError> {
        let Some(host) = ctx.settings.docker_host.resolve() else {
            let why = match ctx.settings.docker_host {
                crate::settings::DockerHost::Off => "DOCKER_HOST=off".to_owned(),
                _ if std::process::id() != 1 => format!(
                    "moat is not PID 1, so it reads {} only when DOCKER_HOST names it",
                    crate::settings::DEFAULT_DOCKER_SOCKET
                ),
                _ => format!(
                    "no {} mounted and DOCKER_HOST unset",
                    crate::settings::DEFAULT_DOCKER_SOCKET
                ),
            };
            tracing::info!("docker discovery: off ({why})");
            return Ok(());
        };
        let failed = |e: DiscoveryError| ServiceError::failed(e);
        let api = docker::DockerApi::connect(&host).map_err(failed)?;
        let version = api.version().await.map_err(failed)?;
        let own = api.own_networks().await;
        tracing::info!(
            host = api.host(),
            docker = %version,
            networks = ?own,
            "docker discovery: following containers labelled swag=enable"
        );
        let reconciler = std::sync::Arc::new(std::sync::Mutex::new(Reconciler::new(
            ctx.settings.config_dir.clone(),
            self.owner,
        )));
        let since = crate::acme::now_unix();
        sync(&api, &reconciler).await.map_err(failed)?;
        let mut events = std::pin::pin!(api.events(since));
        loop {
            let next = tokio::select! {
                _ = ctx.shutdown.requested() => return Ok(()),
                next = std::future::poll_fn(|cx| events.as_mut().poll_next(cx)) => next,
            };
            ended(next, &api).map_err(failed)?;
            // Let the burst finish, then drop the events it queued: the
            // listing that follows covers them.
            tokio::select! {
                _ = ctx.shutdown.requested() => return Ok(()),
                _ = tokio::time::sleep(SETTLE) => {}
            }
            let queued = std::future::poll_fn(|cx| loop {
                match events.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(()))) => continue,
                    Poll::Ready(other) => return Poll::Ready(other),
                    Poll::Pending => return Poll::Ready(Some(Ok(()))),
                }
            })
            .await;
            ended(queued, &api).map_err(failed)?;
            sync(&api, &reconciler).await.map_err(failed)?;
        }
    }
}

/// `Err` when the events stream failed or ended (the service restarts and
/// lists again).
fn ended(
    next: Option<Result<(), DiscoveryError>>,
    api: &docker::DockerApi,
) -> Result<(), DiscoveryError> {
    match next {
        Some(result) => result,
        None => Err(DiscoveryError::EventsEnded {
            host: api.host().to_owned(),
        }),
    }
}

/// Lists the labelled containers and moat's own networks (either may have
/// changed), then reconciles the files on a blocking thread (file I/O and
/// trial conf loads).
async fn sync(
    api: &docker::DockerApi,
    reconciler: &std::sync::Arc<std::sync::Mutex<Reconciler>>,
) -> Result<Changes, DiscoveryError> {
    let containers = api.labelled().await?;
    let own = api.own_networks().await;
    let reconciler = reconciler.clone();
    let changes = tokio::task::spawn_blocking(move || {
        reconciler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sync(&containers, own.as_deref())
    })
    .await
    .unwrap_or_default();
    Ok(changes)
}

#[cfg(test)]
mod tests;
