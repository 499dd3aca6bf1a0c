//! The PostgreSQL backend, for provinces that run several instances: claims lock rows with
//! `FOR UPDATE SKIP LOCKED`, so instances share the queue without sending anything twice.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::StoreError;

pub struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL groups commits itself.
    delivery: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        Ok(Self {
            delivery: pool.clone(),
            pool,
        })
    }

    /// PostgreSQL takes concurrent writers itself: no turn to wait for.
    async fn write_turn(&self) -> Option<()> {
        None
    }
}

super::backend::impl_store!(
    store = PostgresStore,
    db = sqlx::Postgres,
    name = "postgres",
    begin_write = "BEGIN",
    next_position = "nextval('outbox_position_seq')",
    lock_rows = " FOR UPDATE SKIP LOCKED",
    migrator = sqlx::migrate!("src/store/migrations/postgres"),
);
