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

/// A flow's handler for many messages at once (translated payloads, in order), answering
/// each message's acknowledgement in order — what the one-by-one handler would have
/// answered had it run over them in turn. `Ok(None)` when these messages need the
/// one-by-one handler; an error fails them all (the caller then takes them one by one).
pub type BatchHandler = for<'a> fn(
    &'a mut Tx,
    &'a [Value],
    &'a HandlerCtx,
) -> BoxFuture<'a, Result<Option<Vec<Value>>, HandlerError>>;

/// One handler per flow, filled by the sides at startup.
#[derive(Clone, Default)]
pub struct Handlers {
    by_flow: HashMap<Flow, Handler>,
    batch_by_flow: HashMap<Flow, BatchHandler>,
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

    /// Registers a set-based handler for `flow`, used when several messages of the flow
    /// arrive together; `flow` keeps its one-by-one handler for single messages.
    pub fn on_batch(&mut self, flow: Flow, handler: BatchHandler) -> &mut Self {
        self.batch_by_flow.insert(flow, handler);
        self
    }

    /// Applies several messages of `flow` in order, with the value maps already read: through
    /// the flow's set-based handler when it has one and it takes them, else one by one. The
    /// first refusal fails them all.
    pub async fn handle_all_with(
        &self,
        tx: &mut Tx,
        flow: Flow,
        payloads: &[Value],
        maps: &ValueMaps,
        ctx: &HandlerCtx,
    ) -> Result<Vec<Value>, HandlerError> {
        let handler = self.handler(flow)?;
        if let (Some(batch), true) = (self.batch_by_flow.get(&flow), payloads.len() > 1) {
            let mut translated = Vec::with_capacity(payloads.len());
            let mut applied = Vec::with_capacity(payloads.len());
            for p in payloads {
                let (t, a) = value_maps::translate(maps, flow, p).map_err(reject)?;
                translated.push(t.into_owned());
                applied.push(a);
            }
            if let Some(mut acks) = batch(tx, &translated, ctx).await? {
                for (ack, a) in acks.iter_mut().zip(&applied) {
                    a.restore(ack);
                }
                return Ok(acks);
            }
        }
        let mut acks = Vec::with_capacity(payloads.len());
        for p in payloads {
            acks.push(run(handler, tx, flow, p, maps, ctx).await?);
        }
        Ok(acks)
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
