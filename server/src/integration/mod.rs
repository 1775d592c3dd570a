//! The integration between the program side and the grid side: messages in an outbox and
//! inbox, a delivery worker with retries, peers in this process or over HTTP, the flows'
//! wire types and handlers.

pub mod ack;
pub mod handlers;
pub mod inbound;
pub mod message;
pub mod monitor_chart;
pub mod monitor_service;
pub mod peer;
pub mod value_maps;
pub mod wire;
pub mod worker;
