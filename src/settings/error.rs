//! Why the environment was refused.

/// One refused variable. The message names the variable, its value and what
/// is allowed, so one line is enough to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A variable holds a value moat cannot use, or one that conflicts with
    /// another variable. Fix: set it to one of the allowed values.
    #[error("{var}={value:?}: {problem} (allowed: {allowed})")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// The value as given (after SWAG's normalisation).
        value: String,
        /// What is wrong with it.
        problem: String,
        /// What would be accepted.
        allowed: String,
    },
    /// A `FILE__NAME` variable whose file cannot be used. Fix: mount the
    /// secret at that path (or correct the path), or unset the variable.
    #[error("{var}={path:?}: {problem}")]
    SecretFile {
        /// The `FILE__...` variable's name.
        var: String,
        /// The path it names.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl SettingsError {
    /// The variable this error is about.
    pub fn var(&self) -> &str {
        match self {
            SettingsError::Invalid { var, .. } => var,
            SettingsError::SecretFile { var, .. } => var,
        }
    }
}

/// Every problem found in one pass over the environment, in variable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsErrors(pub Vec<SettingsError>);

impl std::fmt::Display for SettingsErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsErrors {}
