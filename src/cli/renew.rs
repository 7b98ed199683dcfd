//! `moat renew`. PLACEHOLDER until its issue lands.

/// Options of `moat renew`.
#[derive(Debug, clap::Args)]
pub struct RenewArgs {
    /// The /config directory (default: `CONFIG_DIR`, else `/config`).
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
}

/// Entry point; returns the exit code.
pub fn run(_args: RenewArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`renew` is not implemented yet")
}
