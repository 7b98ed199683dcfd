//! Runs one service, restarting it with exponential backoff when it fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::ServiceError;
use super::events::{Event, EventSender};
use super::service::{Service, ServiceContext};

/// First restart delay.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest restart delay.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run this long resets the backoff: the service had recovered.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs `service` until shutdown, a fatal error, or a normal end.
pub async fn supervise(service: Arc<dyn Service>, ctx: ServiceContext, events: EventSender) {
    let name = service.name();
    let mut delay = BACKOFF_START;
    loop {
        let started = Instant::now();
        tracing::info!(service = name, "service starting");
        let svc = service.clone();
        let run_ctx = ctx.clone();
        // A separate task so a panic is caught as a JoinError, not fatal to moat.
        let outcome = tokio::spawn(async move { svc.run(run_ctx).await }).await;
        let failure = match outcome {
            Ok(Ok(())) => {
                tracing::info!(service = name, "service stopped");
                return;
            }
            Ok(Err(ServiceError::Fatal(e))) => {
                let message = e.to_string();
                tracing::error!(service = name, error = %message, "service failed fatally");
                let _ = events.send(Event::Fatal {
                    service: name,
                    message,
                });
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(join) => format!("panicked: {join}"),
        };
        if ctx.shutdown.is_requested() {
            tracing::warn!(service = name, error = %failure, "service failed while stopping");
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            delay = BACKOFF_START;
        }
        tracing::error!(
            service = name,
            error = %failure,
            retry_in_ms = delay.as_millis() as u64,
            "service failed; restarting after backoff"
        );
        tokio::select! {
            _ = ctx.shutdown.requested() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}
