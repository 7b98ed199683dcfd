//! The data plane: a Pingora service that terminates TLS with certificates
//! chosen per SNI, answers ACME HTTP-01 on port 80, and forwards requests as
//! the current [`crate::conf::RouteTable`] snapshot decides.
//!
//! PLACEHOLDER: the proxy-engine issue fills this module.
