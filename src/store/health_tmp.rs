//! TEMPORARY until the destination-health work lands (replaced by it).
use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DestinationHealth {
    pub peer: String,
    pub destination: String,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub last_error: Option<String>,
    pub failing_since_ms: Option<i64>,
    pub consecutive_failures: i64,
    pub paused_reason: Option<String>,
    pub paused_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DestinationBacklog {
    pub destination: String,
    pub pending: i64,
    pub inflight: i64,
    pub dead: i64,
    pub oldest_pending_ms: Option<i64>,
}

#[async_trait::async_trait]
pub trait HealthTmp {
    async fn destination_health(&self, peer: &str) -> Result<Vec<DestinationHealth>, StoreError>;
    async fn destination_backlog(&self, peer: &str) -> Result<Vec<DestinationBacklog>, StoreError>;
}

#[async_trait::async_trait]
impl<T: super::Store + ?Sized> HealthTmp for T {
    async fn destination_health(&self, _peer: &str) -> Result<Vec<DestinationHealth>, StoreError> {
        Ok(Vec::new())
    }
    async fn destination_backlog(
        &self,
        _peer: &str,
    ) -> Result<Vec<DestinationBacklog>, StoreError> {
        Ok(Vec::new())
    }
}
