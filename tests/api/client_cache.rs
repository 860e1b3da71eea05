//! The client cache of each node follows changes made elsewhere (another
//! node, the command line) through the change log, within a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera::domain::Username;

use crate::both_backends;
use crate::support::tester;
use crate::support::{spawn_app, spawn_node, Backend, TestApp, TestClient};

both_backends!(
    changes_on_one_node_reach_the_cache_of_another_within_a_second,
    a_change_this_build_does_not_know_drops_the_whole_cache
);

/// Polls until `expected` status or a 2 s deadline.
async fn eventually_status(node: &TestApp, client: &TestClient, expected: u16) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = node.token(client, &[]).await.status;
        if status == expected {
            return;
        }
        assert!(Instant::now() < deadline, "still {status}, wanted {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn changes_on_one_node_reach_the_cache_of_another_within_a_second(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_node(Arc::clone(&first.data), first.data.raw_settings(), first.clock.clone()).await;
    let client = first.deploy_client().await;
    assert_eq!(second.token(&client, &[]).await.status, 200, "second node now caches the client");

    first.core.admin.set_client_enabled(&tester(), &client.id, false).await.unwrap();
    eventually_status(&second, &client, 401).await;
    first.core.admin.set_client_enabled(&tester(), &client.id, true).await.unwrap();
    eventually_status(&second, &client, 200).await;

    let svc = Username::parse("svc-deploy").unwrap();
    first.core.admin.set_service_account_enabled(&tester(), &svc, false).await.unwrap();
    eventually_status(&second, &client, 400).await;
    first.core.admin.set_service_account_enabled(&tester(), &svc, true).await.unwrap();
    eventually_status(&second, &client, 200).await;

    let rotated = first.core.admin.rotate_client_secret(&tester(), &client.id, None).await.unwrap();
    let new = TestClient { id: client.id.clone(), secret: rotated.secret.unwrap().expose().to_owned() };
    eventually_status(&second, &new, 200).await;

    first.core.admin.delete_client(&tester(), &client.id).await.unwrap();
    eventually_status(&second, &new, 401).await;
}

/// A change log entry of a kind this build does not know (written by a newer
/// version) is never read as a client's: the node trusts nothing it cached.
async fn a_change_this_build_does_not_know_drops_the_whole_cache(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_node(Arc::clone(&first.data), first.data.raw_settings(), first.clock.clone()).await;
    let client = first.deploy_client().await;
    assert_eq!(second.token(&client, &[]).await.status, 200, "second node now caches the client");

    // Disabled behind every cache's back (no change recorded): the cached
    // client still answers.
    let pool = first.core.database.pool();
    sqlx::query("UPDATE clients SET enabled = 0 WHERE id = $1").bind(&client.id).execute(pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(second.token(&client, &[]).await.status, 200, "nothing told the cache");

    // Read as a client's change, it would evict only a client 'hook-1'.
    sqlx::query("INSERT INTO changes (entity, entity_id, changed_at) VALUES ('webhook', 'hook-1', 0)")
        .execute(pool)
        .await
        .unwrap();
    eventually_status(&second, &client, 401).await;
}
