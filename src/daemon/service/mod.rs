//! The daemon's service layer: one function per request, knowing nothing
//! of transports. Each takes what the request carries (its payload, the
//! requesting command's knobs, a sender for the events it streams) and
//! returns protocol types; the socket connection (`super::socket`) is one
//! thin adapter over it, and HTTP and NATS routes are the next.

pub mod admin;
pub mod chat;
pub mod restore;
pub mod smoke;
pub mod status;
pub mod weights;
