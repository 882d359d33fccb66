//! What every scan phase shares: the rate limiter, round-trip-time estimates, the
//! scan's path to its targets (interface, addresses, next hops), and the source of
//! classified replies (XDP ring buffer or packet socket), and choosing the send and
//! receive paths with their fallbacks.

pub mod path;
pub mod rate;
pub mod replies;
pub mod rtt;
pub mod senders;
