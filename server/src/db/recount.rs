//! Which nodes' maintained figures (migration 0024) a writer counts afresh: shared by the
//! grid side's figures (`db::network`) and the program side's (`db::program_network`), each
//! side counting its own table.

use crate::db::dialect::{list, Elem};
use crate::db::Tx;
use crate::error::DomainError;

/// Which transformers' maintained figures to count afresh.
#[derive(Debug, Clone, Copy)]
pub enum Recount<'a> {
    /// These transformers (a writer's batch) and the feeders they hang under.
    Transformers(&'a [i64]),
    /// Every transformer and feeder (the demo loader).
    All,
}

impl Recount<'_> {
    /// The bound list of ids (`$1`), and the filters on the transformers (`t`) and on the
    /// rows grouped under them (`column`).
    pub(crate) fn parts(
        &self,
        tx: &Tx,
        column: &str,
    ) -> Result<(Option<String>, String, String), DomainError> {
        Ok(match self {
            Recount::Transformers(ids) => {
                let in_list = tx.dialect().in_list(1, Elem::Int);
                (
                    Some(list(ids)?),
                    format!("t.kind = 'transformer' AND t.id IN ({in_list})"),
                    format!("{column} IN ({in_list})"),
                )
            }
            Recount::All => (None, "t.kind = 'transformer'".into(), "true".into()),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Recount::Transformers(ids) if ids.is_empty())
    }
}
