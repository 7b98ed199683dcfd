//! `moat routes`. PLACEHOLDER until its issue lands.

/// Options of `moat routes`.
#[derive(Debug, clap::Args)]
pub struct RoutesArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
}

/// Entry point; returns the exit code.
pub fn run(_args: RoutesArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`routes` is not implemented yet")
}
