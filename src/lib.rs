//! moat: one binary that does SWAG's whole job.
//!
//! # Design overview
//! moat runs as PID 1 in a container. It reads the environment once
//! ([`settings`]), lays out `/config` the way SWAG does ([`bootstrap`]), loads the nginx-style
//! confs users drop into `proxy-confs/` ([`conf`]), serves them through a
//! Pingora reverse proxy ([`proxy`]), and obtains and renews certificates by
//! ACME ([`acme`]) with HTTP-01 or DNS-01 through pluggable providers ([`dns`]).
//! [`supervisor`] owns signals, zombie reaping, start order and shutdown.
//!
//! Data flows one way: settings → supervisor → (acme → certificate store) and
//! (conf → route table) → proxy. State shared between tasks crosses as
//! `arc-swap` snapshots; no lock is held across an `.await`.
//!
//! SWAG's fail2ban jails run in-process ([`bans`]) on the log lines the
//! proxy writes. What moat leaves to others: PHP, and nginx modules
//! outside the directives listed in `conf`'s documentation.
#![warn(missing_docs)]
#![forbid(unused_must_use)]
#![deny(unsafe_code)]

pub mod acme;
pub mod bans;
pub mod bootstrap;
pub mod cidr;
pub mod cli;
pub mod clock;
pub mod conf;
pub mod discovery;
pub mod dns;
pub mod limits;
pub mod proxy;
pub mod settings;
pub mod status;
pub mod supervisor;
