//! The embedded DNS server of user-defined networks (Docker's resolver at
//! 127.0.0.11): `wire` reads queries and builds the answers it gives
//! itself, `server` runs the loop that answers a network's container names
//! and forwards every other name to the upstream servers. What the names
//! are, where the server runs and how it is started belong to its callers
//! (they implement `server::Names`).

pub mod server;
pub mod wire;

pub use server::{Limits, Lookup, Names, ServeError, Upstream, serve, serve_with};
pub use wire::{Query, WireError};
