//! `exec`: a script of yours publishes and removes the record, for any DNS
//! host moat has no provider for. The contract is lego's exec provider: the
//! program is run as `<path> present <fqdn.> <value>` and
//! `<path> cleanup <fqdn.> <value>` (the name with its trailing dot), exit
//! status 0 meaning done. moat's own file `exec.ini` (SWAG has no such
//! plugin) names the program, its timeout, and variables for it
//! (`dns_exec_env_<NAME>`), so credentials stay in the 0600 ini file.
//!
//! The script runs through the supervisor's [`run_command`] (as PID 1 moat
//! reaps every child, and that is how a child's status survives it), with
//! stdin closed and a timeout after which it is killed with everything it
//! started (its process group). Its output is logged
//! at debug level, or in the error when it fails, with every
//! `dns_exec_env_*` value replaced by `***`, at most a few lines.
//!
//! [`run_command`]: crate::supervisor::run_command

use std::path::PathBuf;
use std::time::Duration;

use super::ini::IniFile;
use super::{DnsError, DnsProvider, RecordHandle, Secret};

/// `exec.ini`: the program to run.
pub const KEY_PATH: &str = "dns_exec_path";
/// `exec.ini`: seconds one run may take before it is killed; default
/// [`DEFAULT_TIMEOUT`].
pub const KEY_TIMEOUT: &str = "dns_exec_timeout";
/// `exec.ini`: seconds to expect before records are visible; default
/// [`DEFAULT_PROPAGATION`].
pub const KEY_PROPAGATION: &str = "dns_exec_propagation";
/// `exec.ini`: prefix of keys passed to the program as variables
/// (`dns_exec_env_API_TOKEN = ...` → `API_TOKEN`), redacted from its output.
pub const KEY_ENV_PREFIX: &str = "dns_exec_env_";
/// Default of [`KEY_TIMEOUT`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`KEY_PROPAGATION`].
pub const DEFAULT_PROPAGATION: Duration = Duration::from_secs(60);
const PLACEHOLDER_PATH: &str = "/path/to/your/dns-hook";
const PLUGIN: &str = "exec";
/// Lines of output shown in an error.
const OUTPUT_LINES: usize = 10;

/// Settings from `exec.ini`.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The program.
    pub path: PathBuf,
    /// How long one run may take.
    pub timeout: Duration,
    /// What `propagation_default` answers.
    pub propagation: Duration,
    /// Variables for the program (name, value).
    pub env: Vec<(String, Secret)>,
}

impl ExecConfig {
    /// Reads `exec.ini`; the program must exist and be executable.
    pub fn from_ini(ini: &IniFile) -> Result<Self, DnsError> {
        let what = "the path of your DNS hook program";
        let (path, line) = ini.required(KEY_PATH, what)?;
        ini.refuse_placeholder(KEY_PATH, path, line, PLACEHOLDER_PATH, what)?;
        let path = PathBuf::from(path);
        check_program(&path).map_err(|m| ini.error(Some(line), format!("{KEY_PATH}: {m}")))?;
        let seconds = |key: &str, default: Duration| -> Result<Duration, DnsError> {
            match ini.optional(key) {
                None => Ok(default),
                Some((v, line)) => match v.parse::<u64>() {
                    Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
                    _ => Err(ini.error(
                        Some(line),
                        format!("{key} must be a whole number of seconds above 0"),
                    )),
                },
            }
        };
        let env = ini
            .with_prefix(KEY_ENV_PREFIX)
            .into_iter()
            .map(|(key, value, line)| {
                let name = &key[KEY_ENV_PREFIX.len()..];
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(ini.error(
                        Some(line),
                        format!("{key}: the variable name after {KEY_ENV_PREFIX} must be letters, digits and _"),
                    ));
                }
                Ok((name.to_owned(), Secret::new(value)))
            })
            .collect::<Result<_, _>>()?;
        Ok(ExecConfig {
            path,
            timeout: seconds(KEY_TIMEOUT, DEFAULT_TIMEOUT)?,
            propagation: seconds(KEY_PROPAGATION, DEFAULT_PROPAGATION)?,
            env,
        })
    }
}

/// Why `path` cannot be run, if it cannot.
fn check_program(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "{} is not executable: run chmod +x on it",
            path.display()
        ));
    }
    Ok(())
}

/// The `exec` provider.
#[derive(Debug)]
pub struct ExecProvider {
    config: ExecConfig,
}

impl ExecProvider {
    /// A provider for `config`.
    pub fn new(config: ExecConfig) -> Result<Self, DnsError> {
        Ok(ExecProvider { config })
    }

    /// Builds the provider from `exec.ini`.
    pub fn from_ini(ini: &IniFile) -> Result<Box<dyn DnsProvider>, DnsError> {
        Ok(Box::new(Self::new(ExecConfig::from_ini(ini)?)?))
    }
}

#[async_trait::async_trait]
impl DnsProvider for ExecProvider {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    async fn preflight(&self, _domains: &[String]) -> Result<String, DnsError> {
        // Running the program would change records; check it can be run.
        check_program(&self.config.path).map_err(|m| DnsError::api(PLUGIN, m))?;
        Ok(format!(
            "{PLUGIN}: {} is executable (not run: it would change records)",
            self.config.path.display()
        ))
    }

    async fn present(&self, fqdn: &str, value: &str) -> Result<RecordHandle, DnsError> {
        let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
        self.run("present", &fqdn, value).await?;
        tracing::info!(%fqdn, program = %self.config.path.display(), "{PLUGIN}: TXT record presented");
        Ok(RecordHandle {
            fqdn,
            value: value.to_owned(),
            id: None,
            zone: None,
        })
    }

    async fn cleanup(&self, handle: &RecordHandle) -> Result<(), DnsError> {
        self.run("cleanup", &handle.fqdn, &handle.value).await?;
        tracing::info!(fqdn = %handle.fqdn, "{PLUGIN}: TXT record cleaned up");
        Ok(())
    }

    fn propagation_default(&self) -> Duration {
        self.config.propagation
    }
}

impl ExecProvider {
    /// `<path> <action> <fqdn.> <value>`; a non-zero exit, a failure to
    /// start, or the timeout is an error with the redacted output.
    async fn run(&self, action: &str, fqdn: &str, value: &str) -> Result<(), DnsError> {
        let mut cmd = std::process::Command::new(&self.config.path);
        cmd.arg(action)
            .arg(format!("{fqdn}."))
            .arg(value)
            .envs(self.config.env.iter().map(|(k, v)| (k, v.expose())));
        let timeout = self.config.timeout;
        let program = self.config.path.display().to_string();
        let out =
            tokio::task::spawn_blocking(move || crate::supervisor::run_command(&mut cmd, timeout))
                .await
                .map_err(|e| DnsError::api(PLUGIN, format!("{program} {action}: {e}")))?;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(DnsError::transient(
                    PLUGIN,
                    format!(
                        "{program} {action} {fqdn}. did not finish within {}s and was killed \
                         (raise {KEY_TIMEOUT} in {PLUGIN}.ini)",
                        timeout.as_secs()
                    ),
                ))
            }
            Err(e) => {
                return Err(DnsError::api(
                    PLUGIN,
                    format!(
                        "{program} {action}: cannot run: {e} (check {KEY_PATH} in {PLUGIN}.ini)"
                    ),
                ))
            }
        };
        let output = self.redact(&format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        if !output.is_empty() {
            tracing::debug!(program = %program, action, output = %output, "{PLUGIN}: program output");
        }
        if out.status.success() {
            return Ok(());
        }
        Err(DnsError::api(
            PLUGIN,
            format!(
                "{program} {action} {fqdn}. failed ({}){}",
                out.status,
                if output.is_empty() {
                    String::new()
                } else {
                    format!(": {output}")
                }
            ),
        ))
    }

    /// The last lines of `output`, trimmed, with every variable value given
    /// to the program replaced by `***`.
    fn redact(&self, output: &str) -> String {
        let mut text = output.trim().to_owned();
        for (_, v) in &self.config.env {
            if !v.expose().is_empty() {
                text = text.replace(v.expose(), "***");
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(OUTPUT_LINES);
        lines[start..]
            .iter()
            .map(|l| l.chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}
