//! Errors of the domain and service layer, mapped once from `sqlx::Error`.

use app::AppError;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("you are not signed in")]
    Unauthenticated,
    #[error("your role may not {0}")]
    Forbidden(String),
    #[error("too many failed sign-ins; try again in {0} seconds")]
    Throttled(i64),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for DomainError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => DomainError::NotFound("record".into()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                DomainError::Conflict("a record with the same key already exists".into())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                DomainError::Invalid("a referenced record does not exist".into())
            }
            sqlx::Error::Database(db) if db.is_check_violation() => {
                DomainError::Invalid(format!("a value is out of range ({})", db.message()))
            }
            _ => DomainError::Database(err),
        }
    }
}

impl From<serde_json::Error> for DomainError {
    fn from(err: serde_json::Error) -> Self {
        DomainError::Internal(format!("serialization: {err}"))
    }
}

impl DomainError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        DomainError::Invalid(msg.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        DomainError::NotFound(what.into())
    }

    /// True for the errors a caller caused (4xx) as opposed to a fault of ours (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, DomainError::Database(_) | DomainError::Internal(_))
    }
}

/// Converts to the UI's error. Faults of ours become an opaque reference id; the cause is
/// logged with the same id so support can find it.
impl From<DomainError> for AppError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(m) => AppError::BadRequest(m),
            DomainError::NotFound(m) => AppError::NotFound(m),
            DomainError::Conflict(m) => AppError::Conflict(m),
            DomainError::Unauthenticated => AppError::Unauthenticated,
            DomainError::Forbidden(m) => AppError::Forbidden(m),
            e @ DomainError::Throttled(_) => AppError::TooManyRequests(e.to_string()),
            e => {
                let reference = crate::error::reference_id();
                tracing::error!(reference = %reference, error = %e, "internal error");
                AppError::Internal(reference)
            }
        }
    }
}

pub fn reference_id() -> String {
    use rand::Rng;
    format!(
        "{:012x}",
        rand::thread_rng().gen::<u64>() & 0xffff_ffff_ffff
    )
}
