//! `moat explain`. PLACEHOLDER until its issue lands.

/// Options of `moat explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
}

/// Entry point; returns the exit code.
pub fn run(_args: ExplainArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`explain` is not implemented yet")
}
