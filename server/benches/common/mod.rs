//! What the benchmarks share: a PostgreSQL database of their own for one run.

use std::future::Future;

use gridflex::db::{Db, DbOptions};

/// Runs `run` on a fresh schema `{prefix}_{pid}` of the PostgreSQL database at `url`, with
/// GridFlex's migrations applied, and drops the schema afterwards (whatever `run` answers).
pub async fn on_scratch_schema<F, Fut>(url: &str, prefix: &str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let schema = format!("{prefix}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(url).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await?;
    let result = async {
        let mut options = DbOptions::new(url);
        options.pg_schema = Some(schema.clone());
        let db = Db::connect(&options).await?;
        gridflex::startup::migrate(&db).await?;
        let result = run(db.clone()).await;
        db.close().await;
        result
    }
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await?;
    result
}
