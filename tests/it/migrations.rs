use crate::common;

use common::{Backend, TestDb};

async fn migrations_apply_to_an_empty_database_and_a_second_run_is_a_no_op(backend: Backend) {
    let t = TestDb::empty(backend).await;
    t.db.migrate()
        .await
        .expect("first run applies every migration");
    let first = t.db.applied_migrations().await.unwrap();
    assert_eq!(first.len(), t.db.known_migrations());
    assert!(!first.is_empty());

    t.db.migrate().await.expect("second run succeeds");
    let second = t.db.applied_migrations().await.unwrap();
    assert_eq!(first, second, "the second run applied nothing new");
    t.cleanup().await;
}

on_both_backends!(migrations_apply_to_an_empty_database_and_a_second_run_is_a_no_op);
