//! SWAG's fail2ban jails, run inside moat (no `NET_ADMIN`, no log
//! tailing): the jails of `/config/fail2ban/jail.local` with fail2ban's
//! `[DEFAULT]` inheritance, and their filters from
//! `/config/fail2ban/filter.d` (or moat's built-in ones), matched against
//! the access.log and error.log lines moat itself writes.
//!
//! Here: reading and compiling the configuration, and the ban table
//! ([`BanTable`]: failures within `findtime`, bans and their expiry,
//! increments), and its state file ([`save_state`], [`load_state`]).
//! [`Bans`] runs them together: it takes a request's log lines, bans, and
//! answers `banned(addr)` from a lock-free snapshot. [`BanHandle`] is what
//! the proxy holds: it closes a banned peer's connection at accept, answers
//! 403 to a banned realip client, and queues every finished request's lines
//! to the thread that runs the filters. `DISABLE_F2B=true` turns it all
//! off; `moat bans` lists, bans and unbans through the metrics endpoint.

mod addr;
mod builtin_filters;
mod config_file;
pub mod control;
mod error;
mod filter;
mod handle;
mod jails;
mod runtime;
mod store;
mod table;

pub use error::BansError;
pub use filter::{load as load_filter, Filter};
pub use handle::BanHandle;
pub use jails::{load, parse_time, BanLength, Increment, Jail, JailSet, LogSource};
pub use runtime::Bans;
pub use store::{load as load_state, save as save_state, StoreError, STATE_FILE};
pub use table::{Ban, BanTable, MAX_TRACKED};
