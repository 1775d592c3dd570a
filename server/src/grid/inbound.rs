//! The flows the grid side receives, registered with integration's handler registry: all
//! handled by `registry` (flows 2, 3, 7–10 and 12).

use crate::grid::registry;
use crate::integration::handlers::Handlers;
use crate::integration::wire::Flow;

/// Registers the grid side's inbound handlers.
pub fn register(handlers: &mut Handlers) {
    handlers
        .on(Flow::EnrollmentSync, |tx, p, c| {
            Box::pin(registry::enrollment_sync(tx, p, c.now))
        })
        .on_batch(Flow::EnrollmentSync, |tx, ps, c| {
            Box::pin(registry::enrollment_sync_all(tx, ps, c.now))
        })
        .on(Flow::DeviceStatusCheck, |tx, p, _| {
            Box::pin(registry::device_status_check(tx, p))
        })
        .on(Flow::CustomerOptOut, |tx, p, c| {
            Box::pin(registry::customer_opt_out(tx, p, c.now))
        })
        .on(Flow::CustomerUnavailability, |tx, p, c| {
            Box::pin(registry::customer_unavailability(tx, p, c.now))
        })
        .on(Flow::ProgramRuleSync, |tx, p, c| {
            Box::pin(registry::program_rule_sync(tx, p, c.now))
        })
        .on(Flow::AggregatorSync, |tx, p, c| {
            Box::pin(registry::aggregator_sync(tx, p, c.now))
        })
        .on(Flow::DeviceScore, |tx, p, c| {
            Box::pin(registry::device_score(tx, p, c.now))
        });
}
