//! Command-line subcommands (`run`, `check`, `routes`, `explain`, `certs`, ...).
//!
//! PLACEHOLDER: the foundation issue fills this module.
