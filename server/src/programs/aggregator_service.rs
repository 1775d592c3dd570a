//! The aggregator page's and API's service on the program side (contact emails masked by
//! role; changes synced to the grid, flow 10).

use std::sync::Arc;

use async_trait::async_trait;

use app::access::Action;
use app::model::*;
use app::port::AggregatorPort;
use app::AppError;

use crate::access::{mask_for, require};
use crate::clock::Clock;
use crate::db::Db;

pub struct AggregatorService {
    pub db: Db,
    clock: Arc<dyn Clock>,
}

impl AggregatorService {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(AggregatorService { db, clock })
    }
}

#[async_trait]
impl AggregatorPort for AggregatorService {
    async fn list_aggregators(&self, viewer: &Viewer) -> Result<Vec<AggregatorDto>, AppError> {
        require(viewer, Action::ReadAggregators)?;
        let mut list = crate::programs::aggregator::list_aggregators(&self.db).await?;
        for a in &mut list {
            a.contact_email = mask_for(viewer, std::mem::take(&mut a.contact_email));
        }
        Ok(list)
    }

    async fn save_aggregator(
        &self,
        viewer: &Viewer,
        input: &AggregatorInput,
    ) -> Result<String, AppError> {
        require(viewer, Action::EditAggregators)?;
        let a = crate::programs::aggregator::parse(input)?;
        let (id, created) = crate::programs::aggregator::save_aggregator(
            &self.db,
            &viewer.username,
            &a,
            self.clock.now(),
        )
        .await?;
        Ok(format!(
            "Aggregator {} {} (id {id}); the grid side is being told.",
            a.name,
            if created { "added" } else { "saved" }
        ))
    }
}
