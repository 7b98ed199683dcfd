//! `moat health`. PLACEHOLDER until its issue lands.

use super::ConfigArg;

/// Entry point; returns the exit code.
pub fn run(_args: ConfigArg) -> anyhow::Result<i32> {
    anyhow::bail!("`health` is not implemented yet")
}
