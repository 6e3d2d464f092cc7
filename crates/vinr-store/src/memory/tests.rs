use super::*;
use vinr_domain::customer::CustomerFields;

fn customer(n: u8) -> Customer {
    let at = DateTime::from_timestamp(1_900_000_000 + i64::from(n), 0).unwrap();
    Customer::new(
        CustomerId::from_entropy(&[n; 24]),
        CustomerFields::default(),
        false,
        at,
    )
}

fn insert(c: &Customer) -> WriteSet {
    WriteSet {
        customers: vec![Write::Insert(c.clone())],
        ..WriteSet::default()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn injected_failures_apply_nothing_then_stop() {
    block_on(async {
        let store = MemoryStore::new();
        let (a, b, c) = (customer(1), customer(2), customer(3));
        store.commit(insert(&a)).await.unwrap();
        assert_eq!(store.commit_count(), 1);

        store.fail_next_commits(2);
        let injected = Err(StoreError::Unavailable("injected".to_owned()));
        assert_eq!(store.commit(insert(&b)).await, injected);
        let next = a.updated(Default::default()).unwrap();
        let update = WriteSet {
            customers: vec![Write::Update {
                expected: 1,
                value: next.clone(),
            }],
            ..WriteSet::default()
        };
        assert_eq!(store.commit(update.clone()).await, injected);
        assert_eq!(store.customer(Mode::Test, &b.id).await, Ok(None));
        assert_eq!(store.customer(Mode::Test, &a.id).await, Ok(Some(a.clone())));
        assert_eq!(store.commit_count(), 1, "failed commits are not counted");

        // The injected failures are used up: commits work again.
        store.commit(update).await.unwrap();
        store.commit(insert(&c)).await.unwrap();
        assert_eq!(store.customer(Mode::Test, &a.id).await, Ok(Some(next)));
        assert_eq!(store.commit_count(), 3);

        // A conflict is not counted either, and an injected failure comes before the guards.
        assert_eq!(store.commit(insert(&c)).await, Err(StoreError::Conflict));
        store.fail_next_commits(1);
        assert_eq!(store.commit(insert(&c)).await, injected);
        assert_eq!(store.commit_count(), 3);
        store.fail_next_commits(0);
        store.commit(WriteSet::default()).await.unwrap();
        assert_eq!(store.commit_count(), 4);
    });
}

#[test]
fn clones_share_one_state() {
    block_on(async {
        let store = MemoryStore::new();
        let clone = store.clone();
        let a = customer(1);
        clone.commit(insert(&a)).await.unwrap();
        assert_eq!(store.customer(Mode::Test, &a.id).await, Ok(Some(a)));
        store.fail_next_commits(1);
        assert!(clone.commit(WriteSet::default()).await.is_err());
        assert_eq!(store.commit_count(), 1);
    });
}

#[test]
fn a_poisoned_lock_still_serves() {
    let store = MemoryStore::new();
    let clone = store.clone();
    let _ = std::thread::spawn(move || {
        let _guard = clone.lock();
        panic!("poisoning the lock on purpose");
    })
    .join();
    assert!(store.state.is_poisoned());
    block_on(async {
        let a = customer(1);
        store.commit(insert(&a)).await.unwrap();
        assert_eq!(store.customer(Mode::Test, &a.id).await, Ok(Some(a)));
    });
}

#[test]
fn the_store_is_shareable_across_tasks() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<MemoryStore>();
    let _: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
}

#[test]
fn debug_shows_counts_not_objects() {
    block_on(async {
        let store = MemoryStore::new();
        let mut a = customer(1);
        a.email = Some("ada@example.com".to_owned());
        store.commit(insert(&a)).await.unwrap();
        let text = format!("{store:?}");
        assert!(text.contains("customers: 1"), "{text}");
        assert!(
            !text.contains("ada@example.com") && !text.contains(a.id.as_str()),
            "{text}"
        );
    });
}
