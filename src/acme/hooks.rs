//! certbot deploy hooks: every executable in
//! `etc/letsencrypt/renewal-hooks/deploy/` runs after each new certificate
//! with `RENEWED_LINEAGE` and `RENEWED_DOMAINS`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// How long one hook may run before it is killed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(120);

/// Run the deploy hooks in name order; failures are logged, never fatal
/// (the certificate is already installed). Returns how many ran successfully.
pub async fn run_deploy_hooks(dir: &Path, lineage_dir: &Path, domains: &[String]) -> usize {
    let mut hooks: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .collect();
    hooks.sort();
    let mut ok = 0;
    for hook in hooks {
        let mut cmd = std::process::Command::new(&hook);
        cmd.env("RENEWED_LINEAGE", lineage_dir)
            .env("RENEWED_DOMAINS", domains.join(" "));
        // Through the supervisor: as PID 1 its reaper collects every child,
        // and `run_command` is how a child's status survives that.
        let run = tokio::task::spawn_blocking(move || {
            crate::supervisor::run_command(&mut cmd, HOOK_TIMEOUT)
        });
        let result = match run.await {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => Err(()),
            Ok(r) => Ok(r),
            Err(join) => Ok(Err(std::io::Error::other(join.to_string()))),
        };
        match result {
            Ok(Ok(out)) if out.status.success() => {
                ok += 1;
                tracing::info!(hook = %hook.display(), "deploy hook ran");
            }
            Ok(Ok(out)) => tracing::warn!(
                hook = %hook.display(),
                status = %out.status,
                stderr = %String::from_utf8_lossy(&out.stderr).trim(),
                "deploy hook failed"
            ),
            Ok(Err(e)) => {
                tracing::warn!(hook = %hook.display(), error = %e, "deploy hook could not start")
            }
            Err(_) => {
                tracing::warn!(hook = %hook.display(), "deploy hook timed out and was killed")
            }
        }
    }
    ok
}
