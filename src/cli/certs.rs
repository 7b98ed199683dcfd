//! `moat certs`. PLACEHOLDER until its issue lands.

/// Options of `moat certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
}

/// Entry point; returns the exit code.
pub fn run(_args: CertsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`certs` is not implemented yet")
}
