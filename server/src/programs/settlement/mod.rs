//! Settlement: what each customer delivered in an event, and the credit it earns.
//!
//! One *settlement* is one program's part of one event for one enrollment (a customer's
//! service point in a program). Documented choices (also in the README, "Settlement"):
//! - Only events the program side has seen complete (`F1CO`) are settled. An enrollment's
//!   window runs from the earliest start to the latest end of the stages its devices were
//!   reserved in, on the quarter-hour grid.
//! - An enrollment whose devices all opted out, or were all released (`D1CN`), is recorded as
//!   `opted_out` with no credit.
//! - The baseline is the program's method ([`baseline`](super::baseline)); the days excluded
//!   from it are the enrollment's other event days and the utility's holidays (table
//!   `holidays`). Energy is read at watt-hour resolution.
//!   Too few baseline days is `no_baseline`; a missing event-day interval is `no_data`. Both
//!   carry the reason and no credit; settling again once data arrives is a recalculation.
//! - Consumption-based credit: Σ over the window's quarter hours of kWh avoided × that
//!   interval's price (`settlement_prices`, else the program's `credit_rate` per kWh).
//!   Demand-based credit: average kW drop × `credit_rate` per kW. Never below zero; rounded
//!   to the cent.
//! - A premise meter is measured once, whichever enrollments are at it: its baseline leaves
//!   out the other event days of every enrollment at it, and its savings (kWh avoided, kW
//!   drop, credit) are apportioned among the enrollments at it that took part (not released,
//!   not `D1ND` or `D1ER`), in any program of the event, by dispatched kW
//!   ([`compute::share_meters`]); one that did not take part gets none. Each result keeps its
//!   `meter_share` (1 alone at its meter); baseline and actual kWh are the meter's.
//! - Programs settled per event post their credits when settled; end-of-season programs hold
//!   them as provisional until the season is settled ([`settle_season`]).
//! - A run writes, in one transaction: the run, the results that are new or changed, the
//!   summed quarter hours, an audit row per changed result with before and after
//!   (`settlement.recalculate`), and one for the run (`settlement.run`) carrying the count and
//!   SHA-256 digest of the part's stored results (`gridflex audit verify` recomputes it). An
//!   unchanged result is not rewritten.
//!
//! The parts: [`read`] loads what a run needs into plain structs; [`compute`] turns them into
//! results, pure (no database, no clock), property-tested; [`store`] compares with what is
//! stored and writes, with the audit entries, in one transaction; [`run`] puts the three
//! together for an event or a season; [`schedule`] is what the background loop settles on
//! its own; [`results`] is how the console, the reports and the billing export read the
//! stored results.

mod compute;
mod read;
mod results;
mod run;
mod schedule;
mod store;

pub use compute::ProgramTerms;
pub use read::program_by_code;
pub use results::{
    billing_csv, event_intervals, event_results, event_results_page, runs, season_summary,
    CustomerSeason, IntervalTotal, RunRow, SettlementRow,
};
pub use run::{settle_event, settle_season};
pub use schedule::{settle_due, Due};
pub use store::{RunSummary, SETTLEMENT_COLUMNS};
