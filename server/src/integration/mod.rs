//! The integration between the program side and the grid side: messages in an outbox and
//! inbox (`integration_messages`, `integration_attempts`: `message`), a delivery worker with
//! retries (`worker`), peers in this process or over HTTP (`peer`), the twelve flows' wire
//! types, one module per flow named by its code (`wire/`), receiving (`inbound`), the registry
//! each side fills with its inbound handlers (`handlers`; integration names neither side), acknowledgements (`ack`), value maps (`value_maps`,
//! table `value_maps`) and the monitor (`monitor_service`, `monitor_chart`). The HTTP
//! endpoints are in `web/integration.rs`.

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
