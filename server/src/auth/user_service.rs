//! The user port: signing in (throttled per address) and the administration of users.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use app::access::Action;
use app::model::*;
use app::port::UserPort;
use app::AppError;

use crate::access::require;
use crate::auth::{self, IpThrottle};
use crate::db::{self, Db};
use crate::error::DomainError;

pub struct UserService {
    pub db: Db,
    throttle: IpThrottle,
}

impl UserService {
    pub fn new(db: Db) -> Arc<Self> {
        Arc::new(UserService {
            db,
            throttle: IpThrottle::default(),
        })
    }
}

#[async_trait]
impl UserPort for UserService {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<Viewer, AppError> {
        Ok(auth::authenticate(&self.db, &self.throttle, username, password, client_ip).await?)
    }

    async fn viewer(&self, user_id: i64) -> Result<Option<Viewer>, AppError> {
        match db::user::get_user(&self.db, user_id).await? {
            Some(row) if !row.disabled => Ok(Some(auth::viewer_of(&row)?)),
            _ => Ok(None),
        }
    }

    async fn list_users(&self, viewer: &Viewer) -> Result<Vec<UserDto>, AppError> {
        require(viewer, Action::ManageUsers)?;
        let now = Utc::now(); // wall clock, as lock-outs are (see `auth::authenticate`)
        Ok(db::user::list_users(&self.db)
            .await?
            .into_iter()
            .filter_map(|u| {
                Some(UserDto {
                    role: Role::parse(&u.role)?,
                    locked: u.locked_until.is_some_and(|t| t > now),
                    id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                    disabled: u.disabled,
                    created_at: u.created_at,
                })
            })
            .collect())
    }

    async fn create_user(
        &self,
        viewer: &Viewer,
        username: &str,
        display_name: &str,
        role: &str,
        password: &str,
    ) -> Result<UserDto, AppError> {
        require(viewer, Action::ManageUsers)?;
        let id = auth::create_user(
            &self.db,
            &viewer.username,
            username,
            display_name,
            role,
            password,
        )
        .await?;
        let row = db::user::get_user(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?;
        Ok(UserDto {
            id,
            username: row.username,
            display_name: row.display_name,
            role: Role::parse(&row.role).unwrap_or(Role::Auditor),
            disabled: row.disabled,
            locked: false,
            created_at: row.created_at,
        })
    }

    async fn set_user_disabled(
        &self,
        viewer: &Viewer,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), AppError> {
        require(viewer, Action::ManageUsers)?;
        Ok(auth::set_user_disabled(&self.db, viewer, user_id, disabled).await?)
    }

    async fn reset_password(
        &self,
        viewer: &Viewer,
        user_id: i64,
        password: &str,
    ) -> Result<(), AppError> {
        require(viewer, Action::ManageUsers)?;
        Ok(auth::reset_password(&self.db, &viewer.username, user_id, password).await?)
    }

    async fn list_tokens(&self, viewer: &Viewer) -> Result<Vec<TokenDto>, AppError> {
        require(viewer, Action::ManageUsers)?;
        let now = Utc::now();
        Ok(db::token::list_tokens(&self.db)
            .await?
            .into_iter()
            .map(|t| TokenDto {
                expired: t.expires_at.is_some_and(|at| at <= now),
                name: t.name,
                role: t.role,
                scope: t.scope,
                created_at: t.created_at,
                expires_at: t.expires_at,
                last_used_at: t.last_used_at,
                revoked: t.revoked,
            })
            .collect())
    }

    async fn revoke_token(&self, viewer: &Viewer, name: &str) -> Result<(), AppError> {
        require(viewer, Action::ManageUsers)?;
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::BadRequest(
                "name: a token name of 1 to 100 characters".into(),
            ));
        }
        Ok(auth::revoke_token(&self.db, &viewer.username, name).await?)
    }
}
