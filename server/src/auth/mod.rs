//! Accounts: argon2 password hashes, sign-in with throttling, user administration, API tokens
//! (tables `users`, `api_tokens`; sessions in `session`, the user port in `user_service`).
//! Who may do what is not here: it is the one policy table, `app::access::POLICY`.

pub mod session;
pub mod user_service;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use app::model::{Role, Viewer};

use crate::db::audit::{append, NewAuditEntry};
use crate::db::token::{get_token_by_hash, insert_token, touch_token};
use crate::db::user::{self, UserRow};
use crate::db::Db;
use crate::error::DomainError;

/// Consecutive failures allowed before an account is locked for a while.
pub const MAX_FAILURES: i32 = 5;
/// Failures from one address in [`IP_WINDOW`] before that address must wait.
pub const MAX_IP_FAILURES: u32 = 20;
pub const IP_WINDOW: Duration = Duration::from_secs(600);

pub fn hash_password(password: &str) -> Result<String, DomainError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashing is deliberately slow: keep it off the async workers.
async fn hash_blocking(password: String) -> Result<String, DomainError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
}

async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

pub fn check_new_password(password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < 12 {
        return Err(DomainError::invalid(
            "the password must have at least 12 characters",
        ));
    }
    if n > 256 {
        return Err(DomainError::invalid(
            "the password must have at most 256 characters",
        ));
    }
    Ok(())
}

pub fn check_username(username: &str) -> Result<(), DomainError> {
    let ok_len = (3..=32).contains(&username.len());
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "the username must be 3 to 32 characters: lower-case letters, digits, '.', '_' or '-'",
        ))
    }
}

/// A random password for the first admin (printed once).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::thread_rng().gen();
    format!("gfx_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long an account stays locked after `failures` consecutive failures.
pub fn lockout_for(failures: i32) -> Option<chrono::Duration> {
    (failures >= MAX_FAILURES).then(|| {
        let exp = (failures - MAX_FAILURES).min(5) as u32;
        chrono::Duration::seconds((30 * 2i64.pow(exp)).min(900))
    })
}

/// Failed sign-ins per client address, in memory (each process keeps its own window).
///
/// It also counts failed sign-ins for names that are no account, locked on the same schedule
/// as real accounts, so a lockout answers alike for known and unknown names and does not
/// tell an attacker which names exist.
#[derive(Default)]
pub struct IpThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    unknown_names: Mutex<HashMap<String, (i32, Option<Instant>)>>,
}

impl IpThrottle {
    /// Seconds a name that is no account must still wait, as a real account would.
    fn unknown_name_locked(&self, name: &str) -> Option<i64> {
        let map = self.unknown_names.lock().unwrap_or_else(|e| e.into_inner());
        let until = map.get(name)?.1?;
        let left = until.checked_duration_since(Instant::now())?;
        Some((left.as_secs() as i64).max(1))
    }

    fn unknown_name_failed(&self, name: &str) {
        let mut map = self.unknown_names.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            let now = Instant::now();
            map.retain(|_, (_, until)| until.is_some_and(|u| u > now));
        }
        let entry = map.entry(name.to_string()).or_insert((0, None));
        entry.0 += 1;
        entry.1 = lockout_for(entry.0)
            .and_then(|d| d.to_std().ok())
            .map(|d| Instant::now() + d);
    }

    /// Seconds the address must still wait, if it is blocked.
    pub fn blocked(&self, ip: &str) -> Option<u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(ip).and_then(|(n, since)| {
            let elapsed = since.elapsed();
            (*n >= MAX_IP_FAILURES && elapsed < IP_WINDOW)
                .then(|| (IP_WINDOW - elapsed).as_secs().max(1))
        })
    }

    pub fn fail(&self, ip: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < IP_WINDOW);
        }
        let entry = map.entry(ip.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= IP_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn succeed(&self, ip: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ip);
    }
}

pub fn viewer_of(row: &UserRow) -> Result<Viewer, DomainError> {
    let role = Role::parse(&row.role)
        .ok_or_else(|| DomainError::Internal(format!("user {} has an unknown role", row.id)))?;
    Ok(Viewer {
        user_id: row.id,
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        role,
    })
}

/// A hash to verify against when the user does not exist, so timing does not tell.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

pub async fn authenticate(
    db: &Db,
    throttle: &IpThrottle,
    username: &str,
    password: &str,
    ip: &str,
) -> Result<Viewer, DomainError> {
    if let Some(wait) = throttle.blocked(ip) {
        return Err(DomainError::Throttled(wait as i64));
    }
    let Some(row) = user::get_user_by_name(db, username).await? else {
        if let Some(wait) = throttle.unknown_name_locked(username) {
            return Err(DomainError::Throttled(wait));
        }
        verify_blocking(password.to_string(), dummy_hash().to_string()).await;
        throttle.fail(ip);
        throttle.unknown_name_failed(username);
        tracing::info!(outcome = "unknown_user", "sign-in refused");
        return Err(DomainError::Unauthenticated);
    };
    // Lock-outs are on the wall clock: a simulated clock must not unlock an account.
    let now = Utc::now();
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        return Err(DomainError::Throttled((until - now).num_seconds().max(1)));
    }
    if !verify_blocking(password.to_string(), row.password_hash.clone()).await {
        let failures = row.failed_logins + 1;
        let until = lockout_for(failures).map(|d| now + d);
        user::record_failure(db, row.id, until).await?;
        throttle.fail(ip);
        tracing::info!(
            user_id = row.id,
            failures,
            "sign-in refused: wrong password"
        );
        return Err(DomainError::Unauthenticated);
    }
    if row.disabled {
        tracing::info!(user_id = row.id, "sign-in refused: disabled");
        return Err(DomainError::Unauthenticated);
    }
    user::record_success(db, row.id).await?;
    throttle.succeed(ip);
    tracing::info!(user_id = row.id, "signed in");
    viewer_of(&row)
}

pub async fn create_user(
    db: &Db,
    actor: &str,
    username: &str,
    display_name: &str,
    role: &str,
    password: &str,
) -> Result<i64, DomainError> {
    check_username(username)?;
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(DomainError::invalid(
            "the display name must have 1 to 100 characters",
        ));
    }
    let role =
        Role::parse(role).ok_or_else(|| DomainError::invalid(format!("unknown role `{role}`")))?;
    check_new_password(password)?;
    let hash = hash_blocking(password.to_string()).await?;
    let mut tx = db.begin().await?;
    let id = user::insert_user(&mut tx, username, display_name, role.as_str(), &hash).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "user.create", "user", id).after(
            json!({"username": username, "display_name": display_name, "role": role.as_str()}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn set_user_disabled(
    db: &Db,
    actor: &Viewer,
    user_id: i64,
    disabled: bool,
) -> Result<(), DomainError> {
    if actor.user_id == user_id && disabled {
        return Err(DomainError::invalid("you cannot disable your own account"));
    }
    let before = user::get_user(db, user_id)
        .await?
        .ok_or_else(|| DomainError::not_found("user"))?;
    let mut tx = db.begin().await?;
    user::set_disabled(&mut tx, user_id, disabled).await?;
    append(
        &mut tx,
        NewAuditEntry::new(
            &actor.username,
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            "user",
            user_id,
        )
        .before(json!({"disabled": before.disabled}))
        .after(json!({"disabled": disabled})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn reset_password(
    db: &Db,
    actor: &str,
    user_id: i64,
    password: &str,
) -> Result<(), DomainError> {
    check_new_password(password)?;
    user::get_user(db, user_id)
        .await?
        .ok_or_else(|| DomainError::not_found("user"))?;
    let hash = hash_blocking(password.to_string()).await?;
    let mut tx = db.begin().await?;
    user::set_password_hash(&mut tx, user_id, &hash).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "user.password_reset", "user", user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The role a machine client acts with: a console role, or `integration` (later flows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub token_id: i64,
    pub name: String,
    pub role: Option<Role>,
    /// The side an integration token speaks for, if it is limited to one.
    pub scope: Option<String>,
}

pub async fn create_token(
    db: &Db,
    actor: &str,
    name: &str,
    role: &str,
) -> Result<String, DomainError> {
    create_expiring_token(db, actor, name, role, None, None).await
}

/// Like [`create_token`], refused from `expires_at` on; an integration token with a `scope`
/// (`programs` or `grid`) may post only the flows that side sends.
pub async fn create_expiring_token(
    db: &Db,
    actor: &str,
    name: &str,
    role: &str,
    expires_at: Option<DateTime<Utc>>,
    scope: Option<&str>,
) -> Result<String, DomainError> {
    match scope {
        None => {}
        Some("programs" | "grid") if role == "integration" => {}
        Some("programs" | "grid") => {
            return Err(DomainError::invalid(
                "only integration tokens have a scope (the side they speak for)",
            ))
        }
        Some(other) => {
            return Err(DomainError::invalid(format!(
                "unknown scope `{other}` (programs or grid)"
            )))
        }
    }
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(DomainError::invalid(
            "the token name must have 1 to 64 characters",
        ));
    }
    if Role::parse(role).is_none() && role != "integration" {
        return Err(DomainError::invalid(format!(
            "unknown role `{role}` (program_manager, operator, approver, auditor, admin or integration)"
        )));
    }
    let token = generate_token();
    let mut tx = db.begin().await?;
    let id = insert_token(&mut tx, name, role, &token_hash(&token), expires_at, scope).await?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "token.create", "api_token", id)
            .after(json!({"name": name, "role": role, "expiresAt": expires_at, "scope": scope})),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Gives the token `name` a new value, printed once; the old value stops working at once.
pub async fn rotate_token(db: &Db, actor: &str, name: &str) -> Result<String, DomainError> {
    let token = generate_token();
    let mut tx = db.begin().await?;
    let id = crate::db::token::rotate_token(&mut tx, name, &token_hash(&token))
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("active token `{name}`")))?;
    append(
        &mut tx,
        NewAuditEntry::new(actor, "token.rotate", "api_token", id).after(json!({"name": name})),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes the active token `name` (it stops working at once), audited in the same
/// transaction; the CLI and the console's Users page both revoke through here.
pub async fn revoke_token(db: &Db, actor: &str, name: &str) -> Result<(), DomainError> {
    let mut tx = db.begin().await?;
    if !crate::db::token::revoke_token(&mut tx, name).await? {
        return Err(DomainError::NotFound(format!("active token `{name}`")));
    }
    append(
        &mut tx,
        NewAuditEntry::new(actor, "token.revoke", "api_token", name),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resolves a bearer token to its client; revoked, expired or unknown tokens are refused.
pub async fn client_for_token(db: &Db, token: &str) -> Result<ApiClient, DomainError> {
    let now = Utc::now(); // wall clock: token expiry is access control
    let row = get_token_by_hash(db, &token_hash(token))
        .await?
        .filter(|t| !t.revoked && t.expires_at.is_none_or(|at| at > now))
        .ok_or(DomainError::Unauthenticated)?;
    touch_token(db, row.id).await?;
    Ok(ApiClient {
        token_id: row.id,
        name: row.name,
        role: Role::parse(&row.role),
        scope: row.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_verifies_only_its_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough password").is_ok());
    }

    #[test]
    fn lockout_starts_at_the_fifth_failure_and_grows() {
        assert_eq!(lockout_for(4), None);
        assert_eq!(lockout_for(5), Some(chrono::Duration::seconds(30)));
        assert_eq!(lockout_for(6), Some(chrono::Duration::seconds(60)));
        assert_eq!(lockout_for(50), Some(chrono::Duration::seconds(900)));
    }

    #[test]
    fn an_address_is_blocked_after_too_many_failures() {
        let t = IpThrottle::default();
        for _ in 0..MAX_IP_FAILURES - 1 {
            t.fail("10.0.0.1");
        }
        assert!(t.blocked("10.0.0.1").is_none());
        t.fail("10.0.0.1");
        assert!(t.blocked("10.0.0.1").is_some());
        assert!(t.blocked("10.0.0.2").is_none());
        t.succeed("10.0.0.1");
        assert!(t.blocked("10.0.0.1").is_none());
    }

    #[test]
    fn tokens_are_stored_as_hashes() {
        let t = generate_token();
        assert!(t.starts_with("gfx_"));
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }

    #[test]
    fn usernames_are_checked() {
        assert!(check_username("ada.l").is_ok());
        assert!(check_username("Ada").is_err());
        assert!(check_username("a").is_err());
    }
}
