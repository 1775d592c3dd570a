//! The home page's overview: totals, enrollment counts, recent audit entries and users, each
//! shown to the roles the policy lets see them.

use std::sync::Arc;

use async_trait::async_trait;

use app::access::{may, Action};
use app::model::*;
use app::port::HomePort;
use app::AppError;

use crate::audit::audit_dto;
use crate::db::{self, Db};
use crate::grid::network_service::NetworkService;

pub struct HomeService {
    pub db: Db,
    /// The network roll-up's cache, for the enrolled kW.
    network: Arc<NetworkService>,
}

impl HomeService {
    pub fn new(db: Db, network: Arc<NetworkService>) -> Arc<Self> {
        Arc::new(HomeService { db, network })
    }
}

#[async_trait]
impl HomePort for HomeService {
    async fn home(&self, viewer: &Viewer) -> Result<HomeDto, AppError> {
        let (customers, devices, enrollments) = db::device::totals(&self.db).await?;
        let enrolled_kw = Some(crate::figures::kw(
            self.network
                .feeder_figures()
                .await?
                .values()
                .map(|f| f.enrolled_kw)
                .sum(),
        ));
        let by_program = if may(viewer.role, Action::SeeEnrollmentCounts) {
            let programs = db::program::list_programs(&self.db).await?;
            db::program::enrollment_counts(&self.db)
                .await?
                .into_iter()
                .map(|(pid, status, count)| StatusCount {
                    program_code: programs
                        .iter()
                        .find(|p| p.id == pid)
                        .map(|p| p.code.clone())
                        .unwrap_or_default(),
                    status,
                    count,
                })
                .collect()
        } else {
            Vec::new()
        };
        let recent_audit = if may(viewer.role, Action::ReadAudit) {
            let f = db::audit::AuditFilter {
                limit: 10,
                ..Default::default()
            };
            db::audit::list_audit(&self.db, &f)
                .await?
                .0
                .into_iter()
                .map(audit_dto)
                .collect()
        } else {
            Vec::new()
        };
        let users = if may(viewer.role, Action::ManageUsers) {
            db::user::count_users(&self.db).await?
        } else {
            0
        };
        Ok(HomeDto {
            customers,
            devices,
            enrollments,
            enrolled_kw,
            by_program,
            recent_audit,
            users,
            backend: self.db.backend_name().to_string(),
        })
    }
}
