//! A JWT assertion (a client's `private_key_jwt`, a JWT bearer grant) is
//! accepted once, across every node, until it expires; then the purge
//! deletes the record.

use std::sync::Arc;

use tessera::clock::Clock as _;

use crate::both_backends;
use crate::support::{spawn_app, spawn_node, Backend};

both_backends!(
    an_assertion_is_used_once_on_every_node_and_purged_after_it_expires,
    concurrent_uses_of_one_assertion_have_one_winner,
    batched_uses_keep_one_winner_per_assertion_on_every_node,
);

async fn an_assertion_is_used_once_on_every_node_and_purged_after_it_expires(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_node(Arc::clone(&first.data), first.data.raw_settings(), first.clock.clone()).await;
    let now = first.clock.now();
    let (one, two) = (&first.core.store, &second.core.store);
    assert!(one.use_assertion("app", "jti-1", now.plus(120)).await.unwrap(), "first use");
    assert!(!two.use_assertion("app", "jti-1", now.plus(120)).await.unwrap(), "a replay, on another node");
    assert!(!one.use_assertion("app", "jti-1", now.plus(120)).await.unwrap(), "a replay, on the same node");
    assert!(two.use_assertion("other-app", "jti-1", now.plus(120)).await.unwrap(), "ids are per issuer");

    assert!(one.use_assertion("app", "jti-2", now.plus(10)).await.unwrap());
    first.clock.advance(11);
    let purge = first.core.retention.purge().await.unwrap();
    let purged = purge.tables.iter().find(|t| t.table == "used_assertions").unwrap().rows;
    assert_eq!(purged, 1, "only the expired one: {purge:?}");
    assert!(!one.use_assertion("app", "jti-1", now.plus(120)).await.unwrap(), "the live record stays");
}

async fn concurrent_uses_of_one_assertion_have_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let until = app.clock.now().plus(60);
    let store = &app.core.store;
    let attempts = (0..20).map(|_| store.use_assertion("app", "raced", until));
    let outcomes = futures_util::future::join_all(attempts).await;
    let wins = outcomes.into_iter().map(|o| o.unwrap()).filter(|won| *won).count();
    assert_eq!(wins, 1);
}

/// The replay guard writes concurrent uses in one statement: still one
/// winner per assertion, within a batch and across nodes.
async fn batched_uses_keep_one_winner_per_assertion_on_every_node(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_node(Arc::clone(&first.data), first.data.raw_settings(), first.clock.clone()).await;
    let until = first.clock.now().plus(60);
    let guards = [&first.core.replays, &second.core.replays];
    let uses: Vec<_> = (0..80)
        .map(|n| {
            let jti = format!("jti-{}", n % 20);
            let guard = guards[n % 2];
            async move { (jti.clone(), guard.first_use("app", &jti, until).await.unwrap()) }
        })
        .collect();
    let outcomes = futures_util::future::join_all(uses).await;
    let mut winners: Vec<String> = outcomes.into_iter().filter(|(_, won)| *won).map(|(jti, _)| jti).collect();
    winners.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("jti-{n}")).collect();
    expected.sort();
    assert_eq!(winners, expected, "each assertion wins exactly once");
    assert!(!first.core.store.use_assertion("app", "jti-3", until).await.unwrap(), "recorded for good");
}
