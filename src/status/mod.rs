//! The status page: what moat serves, in one place a person can read.
//!
//! SWAG users get this from the `swag-dashboard` mod; Traefik and Caddy
//! users from their dashboards. moat answers it on the loopback metrics
//! endpoint only (`/` as HTML, `/api/status` as JSON for Homepage- or
//! Homarr-style widgets), never on the public listeners.
//!
//! [`collect`] reads the snapshots the other services already share (the
//! route table, the certificate store, the renewal state file, health and
//! the ban table) into a [`Status`]; [`html`] renders it as a plain
//! server-side page with an inline SVG time-line of the certificates, no
//! JavaScript.

mod model;
mod page;

pub use model::{collect, Sources, Status};
pub use page::html;
