//! Whether this node's database answers, and how its connection pool
//! stands: what `/readyz` and `/metrics` report.

use std::time::Duration;

use crate::store::Database;

#[derive(Clone)]
pub struct DatabaseHealth(Database);

impl DatabaseHealth {
    pub fn new(database: Database) -> Self {
        Self(database)
    }

    /// The database answered a trivial query within `deadline`.
    pub async fn answers_within(&self, deadline: Duration) -> bool {
        matches!(tokio::time::timeout(deadline, self.0.ping()).await, Ok(Ok(())))
    }

    /// Open and idle connections of the pool.
    pub fn connections(&self) -> (u32, usize) {
        self.0.connections()
    }
}
