//! The registry of what each side does with a received message. Each side registers its own
//! inbound handlers (`programs::inbound::register`, `grid::inbound::register`); `startup`
//! composes the registry once and hands it to whatever receives messages. Integration runs a
//! flow's handler between the value maps (applied here) without naming either side.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::calendar::Calendar;
use crate::db::Tx;
use crate::integration::inbound::{recipient_of, HandlerError, Rejection};
use crate::integration::value_maps::{self, ValueMaps};
use crate::integration::wire::{self, Flow, Validate};

/// What a handler may read besides the message: the utility's calendar (local days) and the
/// time the message is handled at.
#[derive(Debug, Clone, Copy)]
pub struct HandlerCtx {
    pub cal: Calendar,
    pub now: DateTime<Utc>,
}

/// A flow's handler: applies the (translated) payload in the receiving transaction and
/// answers with the acknowledgement.
pub type Handler =
    for<'a> fn(&'a mut Tx, &'a Value, &'a HandlerCtx) -> BoxFuture<'a, Result<Value, HandlerError>>;

/// One handler per flow, filled by the sides at startup.
#[derive(Clone, Default)]
pub struct Handlers {
    by_flow: HashMap<Flow, Handler>,
}

impl Handlers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `flow`; a second registration of the same flow replaces the first.
    pub fn on(&mut self, flow: Flow, handler: Handler) -> &mut Self {
        self.by_flow.insert(flow, handler);
        self
    }

    /// The flows with a handler.
    pub fn flows(&self) -> impl Iterator<Item = Flow> + '_ {
        self.by_flow.keys().copied()
    }

    /// Applies `flow`'s message: value maps first (reading them), then the flow's handler.
    pub async fn handle(
        &self,
        tx: &mut Tx,
        flow: Flow,
        payload: &Value,
        ctx: &HandlerCtx,
    ) -> Result<Value, HandlerError> {
        let handler = self.handler(flow)?;
        let maps = ValueMaps::load(tx).await?;
        run(handler, tx, flow, payload, &maps, ctx).await
    }

    /// Like [`Handlers::handle`], with the value maps already read (a batch reads them once).
    pub async fn handle_with(
        &self,
        tx: &mut Tx,
        flow: Flow,
        payload: &Value,
        maps: &ValueMaps,
        ctx: &HandlerCtx,
    ) -> Result<Value, HandlerError> {
        let handler = self.handler(flow)?;
        run(handler, tx, flow, payload, maps, ctx).await
    }

    /// The flow's handler, or a rejection naming the flow and the side that lacks it.
    fn handler(&self, flow: Flow) -> Result<Handler, HandlerError> {
        self.by_flow.get(&flow).copied().ok_or_else(|| {
            reject(format!(
                "flow `{}` has no handler on the {} side of this server",
                flow.as_str(),
                recipient_of(flow).as_str()
            ))
        })
    }
}

async fn run(
    handler: Handler,
    tx: &mut Tx,
    flow: Flow,
    payload: &Value,
    maps: &ValueMaps,
    ctx: &HandlerCtx,
) -> Result<Value, HandlerError> {
    let (payload, applied) = value_maps::translate(maps, flow, payload).map_err(reject)?;
    let mut ack = handler(tx, &payload, ctx).await?;
    applied.restore(&mut ack);
    Ok(ack)
}

pub fn reject(msg: impl Into<String>) -> HandlerError {
    HandlerError::Rejected(Rejection::new(msg))
}

/// Reads and checks a flow's payload; what is wrong is named field by field.
pub fn decode<T: serde::de::DeserializeOwned + Validate>(
    payload: &Value,
) -> Result<T, HandlerError> {
    wire::decode_value::<T>(payload).map_err(|e| reject(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_registry_has_no_flows() {
        assert_eq!(Handlers::new().flows().count(), 0);
    }

    fn echo<'a>(
        _tx: &'a mut Tx,
        payload: &'a Value,
        _ctx: &'a HandlerCtx,
    ) -> BoxFuture<'a, Result<Value, HandlerError>> {
        Box::pin(async move { Ok(payload.clone()) })
    }

    #[test]
    fn a_flow_without_a_handler_is_rejected_naming_the_flow_and_side() {
        let mut handlers = Handlers::new();
        handlers.on(Flow::DeviceScore, echo);
        assert!(handlers.handler(Flow::DeviceScore).is_ok());
        match handlers.handler(Flow::StageStatus) {
            Err(HandlerError::Rejected(r)) => {
                assert!(r.detail.contains("`stage_status`"), "{}", r.detail);
                assert!(r.detail.contains("programs side"), "{}", r.detail);
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a flow nobody registered has a handler"),
        }
    }
}
