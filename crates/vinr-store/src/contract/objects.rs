//! Checks that objects come back as they went in, change as written, and stay in their mode.

use vinr_domain::customer::CustomerChanges;
use vinr_domain::event::EventType;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::payment::{PaymentInput, PaymentStatus};
use vinr_domain::setup::SetupInput;
use vinr_domain::webhook::WebhookSecret;
use vinr_ports::Mode;
use vinr_ports::event::EventObject;
use vinr_ports::store::{PageRequest, Store, StoreError, Write, WriteSet};

use super::fixtures::{
    Fx, List, all_ids, at, commit_ok, delete, entropy, idempotency_done, page_ids, texts,
    unknown_customer, update,
};

/// Every kind of object (customer, method, payment, setup, endpoint, event, idempotency
/// record), inserted in one commit, reads back equal in every field; ids never stored read as
/// `None`.
pub async fn insert_and_read_back_every_kind(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let customer = fx.customer(mode);
    let mut bare = fx.customer_with_email(mode, None);
    bare.metadata = Default::default();
    let attached = fx.method(mode, Some(&customer.id), "fp-attached");
    let unattached = fx.method(mode, None, "fp-unattached");
    // In creation order, so the list shows them reversed.
    let mut payments: Vec<_> = PaymentStatus::ALL
        .into_iter()
        .map(|s| fx.payment(mode, Some(&customer.id), s))
        .collect();
    payments.push(fx.hosted_payment_in_challenge(mode, &customer.id));
    payments.push(fx.payment(mode, None, PaymentStatus::Processing));
    let setups = [
        fx.setup(mode, &customer.id),
        fx.setup_in_challenge(mode, &customer.id),
    ];
    let endpoints = [fx.endpoint(mode, false), fx.endpoint(mode, true)];
    let created_event = fx.event(
        mode,
        EventType::CustomerCreated,
        EventObject::Customer(customer.clone()),
    );
    let mut updated_event = fx.event(
        mode,
        EventType::CustomerUpdated,
        EventObject::Customer(customer.clone()),
    );
    updated_event.data.previous_attributes = Some(serde_json::Map::from_iter([
        ("email".to_owned(), serde_json::Value::Null),
        (
            "metadata".to_owned(),
            serde_json::json!({ "tier": "gold", "n": 3 }),
        ),
    ]));
    // In creation order, so the list shows them reversed.
    let events = vec![
        created_event,
        updated_event,
        fx.event(
            mode,
            EventType::PaymentMethodAttached,
            EventObject::PaymentMethod(attached.method.clone()),
        ),
        fx.event(
            mode,
            EventType::SetupFailed,
            EventObject::Setup(setups[1].setup.clone()),
        ),
        fx.event(
            mode,
            EventType::PaymentRequiresAction,
            EventObject::Payment(payments[1].payment.clone()),
        ),
    ];
    let in_flight = fx.idempotency("key_scope_1", "order-4471");
    let done = idempotency_done(
        &fx.idempotency("key_scope_1", "order-4472"),
        "{\"id\":\"pay_x\",\"ö\":1}",
    );

    let writes = WriteSet {
        customers: vec![Write::Insert(customer.clone()), Write::Insert(bare.clone())],
        methods: vec![
            Write::Insert(attached.clone()),
            Write::Insert(unattached.clone()),
        ],
        payments: payments.iter().cloned().map(Write::Insert).collect(),
        setups: setups.iter().cloned().map(Write::Insert).collect(),
        endpoints: endpoints.iter().cloned().map(Write::Insert).collect(),
        idempotency: vec![
            Write::Insert(in_flight.clone()),
            Write::Insert(done.clone()),
        ],
        events: events.clone(),
    };
    commit_ok(store, writes, "inserting one object of every kind").await;

    for c in [&customer, &bare] {
        assert_eq!(
            store.customer(mode, &c.id).await.unwrap().as_ref(),
            Some(c),
            "customer {}",
            c.id
        );
    }
    for m in [&attached, &unattached] {
        assert_eq!(
            store.method(mode, &m.method.id).await.unwrap().as_ref(),
            Some(m),
            "method {}",
            m.method.id
        );
    }
    for p in &payments {
        assert_eq!(
            store.payment(mode, &p.payment.id).await.unwrap().as_ref(),
            Some(p),
            "payment {}",
            p.payment.id
        );
    }
    for s in &setups {
        assert_eq!(
            store.setup(mode, &s.setup.id).await.unwrap().as_ref(),
            Some(s),
            "setup {}",
            s.setup.id
        );
    }
    for e in &endpoints {
        let got = store.endpoint(mode, &e.endpoint.id).await.unwrap();
        assert_eq!(got.as_ref(), Some(e), "endpoint {}", e.endpoint.id);
    }
    for e in &events {
        assert_eq!(
            store.event(mode, &e.id).await.unwrap().as_ref(),
            Some(e),
            "event {}",
            e.id
        );
    }
    for r in [&in_flight, &done] {
        let got = store.idempotency(&r.scope, &r.key).await.unwrap();
        assert_eq!(
            got.as_ref(),
            Some(r),
            "idempotency record {}/{}",
            r.scope,
            r.key
        );
    }

    // Lists give the same objects, field for field.
    let listed = store
        .customers(mode, None, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        listed.items,
        vec![bare.clone(), customer.clone()],
        "customers list"
    );
    let listed = store
        .payments(mode, None, None, PageRequest::first(100))
        .await
        .unwrap();
    let mut newest_first = payments.clone();
    newest_first.reverse();
    assert_eq!(listed.items, newest_first, "payments list");
    let listed = store
        .customer_methods(mode, &customer.id, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        listed.items,
        vec![attached.clone()],
        "customer methods list"
    );
    let listed = store.endpoints(mode, PageRequest::first(10)).await.unwrap();
    assert_eq!(
        listed.items,
        vec![endpoints[1].clone(), endpoints[0].clone()],
        "endpoints list"
    );
    let listed = store
        .events(mode, None, PageRequest::first(10))
        .await
        .unwrap();
    let mut newest_first = events.clone();
    newest_first.reverse();
    assert_eq!(listed.items, newest_first, "events list");

    // Ids never stored.
    let nobody = 90_000;
    assert_eq!(
        store
            .customer(mode, &CustomerId::from_entropy(&entropy(nobody)))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .method(mode, &PaymentMethodId::from_entropy(&entropy(nobody)))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .payment(mode, &PaymentId::from_entropy(&entropy(nobody)))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .setup(mode, &SetupId::from_entropy(&entropy(nobody)))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .endpoint(mode, &WebhookEndpointId::from_entropy(&entropy(nobody)))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .event(mode, &EventId::from_entropy(&entropy(nobody)))
            .await,
        Ok(None)
    );
    assert_eq!(
        store.idempotency("key_scope_1", "never-used").await,
        Ok(None)
    );
    assert_eq!(
        store.idempotency("key_scope_2", "order-4471").await,
        Ok(None)
    );
}

/// Updates replace the stored object and deletes remove it, for every kind; an update keeps
/// the object's place in its lists, and a deleted customer leaves every list.
pub async fn update_and_delete_apply(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Live;
    let customer = fx.customer(mode);
    let other = fx.customer(mode);
    let method = fx.method(mode, Some(&customer.id), "fp-1");
    let payment = fx.payment(mode, Some(&customer.id), PaymentStatus::RequiresAction);
    let setup = fx.setup(mode, &customer.id);
    let endpoint = fx.endpoint(mode, false);
    let record = fx.idempotency("scope", "key-1");
    let writes = WriteSet {
        customers: vec![
            Write::Insert(customer.clone()),
            Write::Insert(other.clone()),
        ],
        methods: vec![Write::Insert(method.clone())],
        payments: vec![Write::Insert(payment.clone())],
        setups: vec![Write::Insert(setup.clone())],
        endpoints: vec![Write::Insert(endpoint.clone())],
        idempotency: vec![Write::Insert(record.clone())],
        events: vec![],
    };
    commit_ok(store, writes, "inserting the objects to change").await;

    let customer2 = customer
        .updated(CustomerChanges {
            name: Some(None),
            email: Some(Some("new.address@example.org".to_owned())),
            default_method_id: Some(Some(method.method.id.clone())),
            ..CustomerChanges::default()
        })
        .unwrap();
    let method2 = method.detached().unwrap();
    let now = payment.payment.created;
    let payment2 = payment
        .apply(PaymentInput::AuthenticationCompleted, now)
        .unwrap()
        .record;
    let setup2 = setup
        .apply(SetupInput::Cancel, setup.setup.created)
        .unwrap()
        .record;
    let endpoint2 = endpoint.rotated(
        WebhookSecret::from_entropy(&entropy(500), &entropy(501)),
        chrono::Duration::hours(1),
        at(fx.n()),
    );
    let record2 = idempotency_done(&record, "{}");
    let event = fx.event(
        mode,
        EventType::CustomerUpdated,
        EventObject::Customer(customer2.clone()),
    );
    let writes = WriteSet {
        customers: vec![update(customer.version, customer2.clone())],
        methods: vec![update(method.method.version, method2.clone())],
        payments: vec![update(payment.payment.version, payment2.clone())],
        setups: vec![update(setup.setup.version, setup2.clone())],
        endpoints: vec![update(endpoint.version, endpoint2.clone())],
        idempotency: vec![update(record.version, record2.clone())],
        events: vec![event.clone()],
    };
    commit_ok(store, writes, "updating one object of every kind").await;

    assert_eq!(
        store.customer(mode, &customer.id).await.unwrap(),
        Some(customer2.clone())
    );
    assert_eq!(
        store.method(mode, &method.method.id).await.unwrap(),
        Some(method2.clone())
    );
    assert_eq!(
        store.payment(mode, &payment.payment.id).await.unwrap(),
        Some(payment2.clone())
    );
    assert_eq!(
        store.setup(mode, &setup.setup.id).await.unwrap(),
        Some(setup2.clone())
    );
    assert_eq!(
        store.endpoint(mode, &endpoint.endpoint.id).await.unwrap(),
        Some(endpoint2.clone())
    );
    assert_eq!(
        store.idempotency("scope", "key-1").await.unwrap(),
        Some(record2.clone())
    );
    assert_eq!(store.event(mode, &event.id).await.unwrap(), Some(event));
    // The updated customer keeps its place: it was created first, so it stays last.
    assert_eq!(
        all_ids(store, mode, List::Customers(None)).await,
        texts([&other.id, &customer.id]),
        "an update must not move an object in its list"
    );

    let writes = WriteSet {
        customers: vec![delete(customer2.version, customer2.clone())],
        methods: vec![delete(method2.method.version, method2.clone())],
        payments: vec![delete(payment2.payment.version, payment2.clone())],
        setups: vec![delete(setup2.setup.version, setup2.clone())],
        endpoints: vec![delete(endpoint2.version, endpoint2.clone())],
        idempotency: vec![delete(record2.version, record2.clone())],
        events: vec![],
    };
    commit_ok(store, writes, "deleting one object of every kind").await;
    assert_eq!(store.customer(mode, &customer.id).await, Ok(None));
    assert_eq!(store.method(mode, &method.method.id).await, Ok(None));
    assert_eq!(store.payment(mode, &payment.payment.id).await, Ok(None));
    assert_eq!(store.setup(mode, &setup.setup.id).await, Ok(None));
    assert_eq!(store.endpoint(mode, &endpoint.endpoint.id).await, Ok(None));
    assert_eq!(store.idempotency("scope", "key-1").await, Ok(None));
    assert_eq!(
        all_ids(store, mode, List::Customers(None)).await,
        texts([&other.id])
    );
    assert_eq!(
        all_ids(
            store,
            mode,
            List::Customers(Some("new.address@example.org"))
        )
        .await,
        Vec::<String>::new(),
        "a deleted customer must leave the email filter too"
    );
    assert_eq!(
        all_ids(store, mode, List::Payments(None, None)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        all_ids(store, mode, List::Endpoints).await,
        Vec::<String>::new()
    );
    assert_eq!(
        page_ids(
            store,
            mode,
            List::Customers(None),
            10,
            Some(customer.id.as_str())
        )
        .await,
        Err(StoreError::CursorNotFound),
        "a deleted customer is no cursor"
    );

    // A deleted id is free again.
    commit_ok(
        store,
        WriteSet {
            customers: vec![Write::Insert(customer.clone())],
            ..WriteSet::default()
        },
        "re-inserting a deleted id",
    )
    .await;
    assert_eq!(
        store.customer(mode, &customer.id).await.unwrap(),
        Some(customer)
    );
}

/// A test-mode object is invisible to live reads and a live one to test reads: for every kind,
/// every single read, every list and filter, and every cursor. `stuck_payments` and
/// idempotency records are the exceptions the port names (any mode; scoped by key).
pub async fn modes_are_isolated(store: &dyn Store) {
    let fx = Fx::default();
    struct Objects {
        customer: vinr_domain::customer::Customer,
        method: vinr_domain::method::StoredMethod,
        payment: vinr_domain::payment::PaymentRecord,
        setup: vinr_domain::setup::SetupRecord,
        endpoint: vinr_domain::webhook::EndpointRecord,
        event: vinr_ports::event::Event,
    }
    let mut made = Vec::new();
    for mode in [Mode::Test, Mode::Live] {
        let customer = fx.customer_with_email(mode, Some("same@example.com"));
        let method = fx.method(mode, Some(&customer.id), "fp-same-card");
        let payment = fx.payment(mode, Some(&customer.id), PaymentStatus::Succeeded);
        let setup = fx.setup(mode, &customer.id);
        let endpoint = fx.endpoint(mode, false);
        let event = fx.event(
            mode,
            EventType::PaymentSucceeded,
            EventObject::Payment(payment.payment.clone()),
        );
        let writes = WriteSet {
            customers: vec![Write::Insert(customer.clone())],
            methods: vec![Write::Insert(method.clone())],
            payments: vec![Write::Insert(payment.clone())],
            setups: vec![Write::Insert(setup.clone())],
            endpoints: vec![Write::Insert(endpoint.clone())],
            idempotency: vec![],
            events: vec![event.clone()],
        };
        commit_ok(
            store,
            writes,
            "inserting one object of every kind in one mode",
        )
        .await;
        made.push((
            mode,
            Objects {
                customer,
                method,
                payment,
                setup,
                endpoint,
                event,
            },
        ));
    }

    for (mode, own) in &made {
        let mode = *mode;
        let other = match mode {
            Mode::Test => Mode::Live,
            Mode::Live => Mode::Test,
        };
        let m = format!("{mode:?} object read in {other:?}");
        assert_eq!(
            store
                .customer(mode, &own.customer.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&own.customer)
        );
        assert_eq!(
            store.customer(other, &own.customer.id).await,
            Ok(None),
            "customer: {m}"
        );
        assert_eq!(
            store
                .method(mode, &own.method.method.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&own.method)
        );
        assert_eq!(
            store.method(other, &own.method.method.id).await,
            Ok(None),
            "method: {m}"
        );
        assert_eq!(
            store
                .payment(mode, &own.payment.payment.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&own.payment)
        );
        assert_eq!(
            store.payment(other, &own.payment.payment.id).await,
            Ok(None),
            "payment: {m}"
        );
        assert_eq!(
            store
                .setup(mode, &own.setup.setup.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&own.setup)
        );
        assert_eq!(
            store.setup(other, &own.setup.setup.id).await,
            Ok(None),
            "setup: {m}"
        );
        assert_eq!(
            store
                .endpoint(mode, &own.endpoint.endpoint.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&own.endpoint)
        );
        assert_eq!(
            store.endpoint(other, &own.endpoint.endpoint.id).await,
            Ok(None),
            "endpoint: {m}"
        );
        assert_eq!(
            store.event(mode, &own.event.id).await.unwrap().as_ref(),
            Some(&own.event)
        );
        assert_eq!(
            store.event(other, &own.event.id).await,
            Ok(None),
            "event: {m}"
        );

        let fp = &own.method.method.fingerprint;
        assert_eq!(
            store
                .method_by_fingerprint(mode, &own.customer.id, fp)
                .await
                .unwrap()
                .as_ref(),
            Some(&own.method)
        );
        assert_eq!(
            store
                .method_by_fingerprint(other, &own.customer.id, fp)
                .await,
            Ok(None),
            "method_by_fingerprint: {m}"
        );

        let cust = &own.customer.id;
        let lists: [(List<'_>, &str); 8] = [
            (List::Customers(None), own.customer.id.as_str()),
            (
                List::Customers(Some("SAME@example.com")),
                own.customer.id.as_str(),
            ),
            (List::CustomerMethods(cust), own.method.method.id.as_str()),
            (List::AttachedMethods, own.method.method.id.as_str()),
            (List::Payments(None, None), own.payment.payment.id.as_str()),
            (
                List::Payments(Some(cust), Some(PaymentStatus::Succeeded)),
                own.payment.payment.id.as_str(),
            ),
            (List::Endpoints, own.endpoint.endpoint.id.as_str()),
            (
                List::Events(Some(EventType::PaymentSucceeded)),
                own.event.id.as_str(),
            ),
        ];
        for (list, id) in lists {
            assert_eq!(
                all_ids(store, mode, list).await,
                vec![id.to_owned()],
                "{list:?} in {mode:?}"
            );
            assert_eq!(
                page_ids(store, other, list, 10, Some(id)).await,
                Err(StoreError::CursorNotFound),
                "{list:?}: a {mode:?} object is no cursor in {other:?}"
            );
        }
        // The other mode's lists hold the other mode's objects only (checked from its side);
        // its per-customer lists of this mode's customer are empty.
        assert!(
            all_ids(store, other, List::CustomerMethods(cust))
                .await
                .is_empty()
        );
        assert!(
            all_ids(store, other, List::Payments(Some(cust), None))
                .await
                .is_empty()
        );
    }
    assert!(
        all_ids(
            store,
            Mode::Test,
            List::CustomerMethods(&unknown_customer())
        )
        .await
        .is_empty()
    );
}
