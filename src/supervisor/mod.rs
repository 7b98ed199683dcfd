//! PID 1 duties: signals, zombie reaping, start order, graceful shutdown and reload.
//!
//! PLACEHOLDER: the foundation issue fills this module.
