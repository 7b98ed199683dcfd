//! Why a container is not published, or discovery cannot read Docker.

/// A label value moat refuses to put in a conf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("container {container}: label {label}={value:?} refused: {why}")]
pub struct LabelError {
    /// The container carrying it.
    pub container: String,
    /// The label (`swag_url`, ...).
    pub label: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub why: String,
}

/// What stops discovery for a while (the supervisor restarts it with backoff).
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The Docker API refused or could not be reached.
    #[error("Docker at {host}: {source}")]
    Docker {
        /// DOCKER_HOST as understood.
        host: String,
        /// What the client said.
        #[source]
        source: bollard::errors::Error,
    },
    /// The events stream ended (the daemon restarted).
    #[error("Docker at {host}: the events stream ended")]
    EventsEnded {
        /// DOCKER_HOST as understood.
        host: String,
    },
}
