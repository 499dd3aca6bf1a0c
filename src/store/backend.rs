//! Puts a backend together: the statements of each concern (`ingest.rs`, `delivery.rs`,
//! `operator.rs`, `housekeeping.rs`, `leases.rs`) are written once, as macros, and
//! `impl_store!` applies them to a backend with the few fragments where the databases differ
//! (how a write transaction begins, how claims lock rows; and, as constants of the backend,
//! how queue positions are drawn and how keys are locked).
//! Must not hold statements of its own beyond the liveness and migration checks.

macro_rules! impl_store {
    (
        store = $Store:ident,
        name = $name:literal,
        db = $Db:ty,
        begin_write = $begin:literal,
        lock_rows = $lock:literal,
        migrator = $migrator:expr $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $Store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                $migrator.run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn pending_migrations(&self) -> Result<Vec<i64>, $crate::store::StoreError> {
                // sqlx's own ledger; missing (a store never migrated) means all are pending.
                let applied: Vec<i64> =
                    match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(&self.pool)
                        .await
                    {
                        Ok(v) => v,
                        // No ledger at all (SQLite "no such table", PostgreSQL 42P01).
                        Err(sqlx::Error::Database(e))
                            if e.code().as_deref() == Some("42P01")
                                || e.message().contains("no such table") =>
                        {
                            Vec::new()
                        }
                        Err(e) => return Err(e.into()),
                    };
                Ok($migrator
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .map(|m| m.version)
                    .filter(|v| !applied.contains(v))
                    .collect())
            }

            async fn backup_to(
                &self,
                out: &std::path::Path,
            ) -> Result<$crate::store::backup::BackupReport, $crate::store::backup::BackupError>
            {
                self.backup_into(out).await
            }

            fn work_listener(
                &self,
                wake: std::sync::Arc<tokio::sync::Notify>,
                shutdown: tokio_util::sync::CancellationToken,
            ) -> Option<futures::future::BoxFuture<'static, ()>> {
                self.listen_for_work(wake, shutdown)
            }
        }

        $crate::store::ingest::impl_ingest!(store = $Store, db = $Db, begin_write = $begin);
        $crate::store::delivery::impl_delivery!(
            store = $Store,
            db = $Db,
            begin_write = $begin,
            lock_rows = $lock,
        );
        $crate::store::operator::impl_operator!(
            store = $Store,
            begin_write = $begin,
            lock_rows = $lock,
        );
        $crate::store::housekeeping::impl_housekeeping!(store = $Store, begin_write = $begin);
        $crate::store::pauses::impl_pauses!(store = $Store, begin_write = $begin);
        $crate::store::leases::impl_leases!(store = $Store);
        $crate::store::catalog::impl_catalog!(
            store = $Store,
            begin_write = $begin,
            lock_rows = $lock,
        );
        $crate::store::postal::impl_postal!(store = $Store, begin_write = $begin);
        $crate::store::facts::impl_facts!(store = $Store, db = $Db);
        $crate::store::reconcile::impl_reconcile!(store = $Store, begin_write = $begin);
        $crate::store::sources::impl_sources!(store = $Store, db = $Db);
        $crate::store::audit::impl_audit!(store = $Store);
        $crate::store::browse::impl_browse!(store = $Store, db = $Db);
    };
}

pub(crate) use impl_store;
