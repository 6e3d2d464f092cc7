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

mod delivery {
    use super::*;
    use chrono::Duration;
    use vinr_domain::event::EventFilter;
    use vinr_domain::webhook::WebhookSecret;
    use vinr_ports::delivery::{DeliveryStatus, OutboxStats};
    use vinr_ports::event::{EventData, EventObject};

    fn endpoint(n: u8) -> EndpointRecord {
        EndpointRecord::new(
            WebhookEndpointId::from_entropy(&[n; 24]),
            format!("https://shop.example/hooks/{n}"),
            &EventFilter::All,
            WebhookSecret::from_entropy(&[n; 24], &[n; 24]),
            false,
            DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        )
    }

    fn event(n: u8) -> Event {
        let c = customer(n);
        Event {
            id: EventId::from_entropy(&[n; 24]),
            kind: EventType::CustomerCreated,
            created: c.created,
            livemode: false,
            data: EventData {
                object: EventObject::Customer(c),
                previous_attributes: None,
            },
        }
    }

    fn stored(endpoints: Vec<EndpointRecord>, events: Vec<Event>) -> MemoryStore {
        let store = MemoryStore::new();
        block_on(store.commit(WriteSet {
            endpoints: endpoints.into_iter().map(Write::Insert).collect(),
            events,
            ..WriteSet::default()
        }))
        .unwrap();
        store
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(2_000_000_000, 0).unwrap()
    }

    #[test]
    fn an_unreadable_filter_is_corrupt_and_fans_out_nothing() {
        let mut broken = endpoint(1);
        broken.endpoint.events = vec!["payment.refunded".to_owned()];
        let store = stored(vec![endpoint(2), broken], vec![event(3)]);
        block_on(async {
            let got = store.fan_out(now(), 10).await;
            assert!(matches!(&got, Err(StoreError::Corrupt(m)) if m.contains("events filter")));
            let stats = store.outbox_stats(now()).await.unwrap();
            assert_eq!(stats.unfanned_events, 1, "the event still waits");
            assert_eq!(store.deliveries(&event(3).id).await.unwrap(), Vec::new());
        });
    }

    #[test]
    fn a_lease_beyond_chronos_range_lasts_for_ever() {
        let store = stored(vec![endpoint(1)], vec![event(2)]);
        block_on(async {
            assert_eq!(store.fan_out(now(), 10).await, Ok(1));
            let jobs = store.claim_due(now(), Duration::MAX, 10).await.unwrap();
            assert_eq!(jobs.len(), 1);
            let much_later = DateTime::<Utc>::MAX_UTC - Duration::days(1);
            assert_eq!(
                store.claim_due(much_later, Duration::MAX, 10).await,
                Ok(Vec::new())
            );
            // Recording releases it all the same.
            let record = vinr_ports::delivery::AttemptRecord {
                attempt: 1,
                at: now(),
                status: Some(500),
                latency_ms: 3,
                error: Some("the receiver answered 500".to_owned()),
            };
            let next = DeliveryStatus::Pending { next_at: now() };
            assert_eq!(
                store.record_attempt(&jobs[0].key, record, next).await,
                Ok(true)
            );
            assert_eq!(
                store
                    .claim_due(now(), Duration::MAX, 10)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert_eq!(
                store.outbox_stats(now()).await,
                Ok(OutboxStats {
                    unfanned_events: 0,
                    pending_deliveries: 1,
                    oldest_due_seconds: 0,
                })
            );
        });
    }

    #[test]
    fn debug_counts_the_outbox() {
        let store = stored(vec![endpoint(1), endpoint(2)], vec![event(3), event(4)]);
        block_on(async {
            assert_eq!(store.fan_out(now(), 1).await, Ok(2));
        });
        let text = format!("{store:?}");
        assert!(
            text.contains("unfanned_events: 1") && text.contains("deliveries: 2"),
            "{text}"
        );
        assert!(!text.contains("whsec_"), "{text}");
    }
}
