//! Why the supervisor could not start or why a service stopped.

/// The supervisor itself failed to start. Fatal: moat exits non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The signal handlers could not be installed (a moat bug or a seccomp
    /// policy forbidding `rt_sigaction`).
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    /// The tracing subscriber could not be installed (already installed).
    #[error("installing the logger: {0}")]
    Logging(String),
}

/// How a service run ended, other than by a requested shutdown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Worth another try: the supervisor restarts the service with backoff
    /// (1 s doubling to 60 s) and logs the error each time.
    #[error("{0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Retrying cannot help (e.g. a port that cannot be bound): the
    /// supervisor stops every service and moat exits 1 with this reason.
    #[error("{0}")]
    Fatal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    /// A retryable failure from anything that converts into a boxed error.
    pub fn failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ServiceError::Failed(e.into())
    }

    /// A fatal failure from anything that converts into a boxed error.
    pub fn fatal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ServiceError::Fatal(e.into())
    }
}
