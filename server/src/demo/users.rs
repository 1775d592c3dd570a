//! The demo's five users, one per role, with the shared demo password.

use serde_json::json;

use crate::auth::hash_password;
use crate::db::audit::{append, NewAuditEntry};
use crate::db::{user, Db};
use crate::error::DomainError;

pub const DEMO_PASSWORD: &str = "gridflex-demo";
pub const DEMO_USERS: [(&str, &str, &str); 5] = [
    ("manager", "Maria Manager", "program_manager"),
    ("operator", "Omar Operator", "operator"),
    ("approver", "Ada Approver", "approver"),
    ("auditor", "Aude Auditor", "auditor"),
    ("admin", "Alex Admin", "admin"),
];

/// Creates the five demo users (password [`DEMO_PASSWORD`]) that do not exist yet.
pub async fn ensure_demo_users(db: &Db) -> Result<(), DomainError> {
    for (username, name, role) in DEMO_USERS {
        if user::get_user_by_name(db, username).await?.is_some() {
            continue;
        }
        let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))??;
        let mut tx = db.begin().await?;
        let id = user::insert_user(&mut tx, username, name, role, &hash).await?;
        append(
            &mut tx,
            NewAuditEntry::new("demo", "user.create", "user", id)
                .after(json!({"username": username, "role": role})),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
