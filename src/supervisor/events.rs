//! What the supervisor's main loop reacts to, from signals, the conf
//! watcher and services.

use tokio::sync::mpsc;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM or SIGINT: stop gracefully (a second one stops at once).
    Stop(&'static str),
    /// SIGHUP or a change under `nginx/`: reload the confs. The text says why.
    Reload(String),
    /// A service failed in a way retrying cannot fix: stop and exit 1.
    Fatal {
        /// The service's name.
        service: &'static str,
        /// The error.
        message: String,
    },
}

/// Sends events to the supervisor; cheap to clone, usable from any thread.
pub type EventSender = mpsc::UnboundedSender<Event>;
/// The supervisor's end of the channel.
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// A new event channel.
pub fn event_channel() -> (EventSender, EventReceiver) {
    mpsc::unbounded_channel()
}
