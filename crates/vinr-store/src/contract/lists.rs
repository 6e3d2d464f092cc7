//! Checks of the lists: order, pages, cursors and filters, and the recovery sweep's query.

use vinr_domain::customer::{Customer, CustomerChanges};
use vinr_domain::event::EventType;
use vinr_domain::ids::{CustomerId, EventId, PaymentId, PaymentMethodId, WebhookEndpointId};
use vinr_domain::method::{Fingerprint, MethodState};
use vinr_domain::payment::{PaymentInput, PaymentStatus};
use vinr_ports::Mode;
use vinr_ports::event::EventObject;
use vinr_ports::store::{PageRequest, Store, StoreError, Write, WriteSet};

use super::fixtures::{Fx, List, all_ids, at, commit_ok, entropy, page_ids, texts, update, walk};

/// Stores `count` objects for every list (customers, one customer's methods, payments,
/// endpoints, events), one commit each, and returns the customer owning the methods and each
/// list's ids oldest first.
async fn fill(
    store: &dyn Store,
    fx: &Fx,
    mode: Mode,
    count: usize,
) -> (CustomerId, Vec<Vec<String>>) {
    let owner = fx.customer(mode);
    commit_ok(
        store,
        WriteSet {
            customers: vec![Write::Insert(owner.clone())],
            ..WriteSet::default()
        },
        "owner",
    )
    .await;
    let mut ids = vec![vec![owner.id.to_string()], vec![], vec![], vec![], vec![]];
    for i in 0..count {
        let customer = fx.customer(mode);
        let method = fx.method(mode, Some(&owner.id), &format!("fp-{i}"));
        let payment = fx.payment(mode, Some(&owner.id), PaymentStatus::Succeeded);
        let endpoint = fx.endpoint(mode, false);
        let event = fx.customer_event(mode, EventType::CustomerCreated);
        ids[0].push(customer.id.to_string());
        ids[1].push(method.method.id.to_string());
        ids[2].push(payment.payment.id.to_string());
        ids[3].push(endpoint.endpoint.id.to_string());
        ids[4].push(event.id.to_string());
        let writes = WriteSet {
            customers: vec![Write::Insert(customer)],
            methods: vec![Write::Insert(method)],
            payments: vec![Write::Insert(payment)],
            endpoints: vec![Write::Insert(endpoint)],
            events: vec![event],
            ..WriteSet::default()
        };
        commit_ok(store, writes, "filling the lists").await;
    }
    (owner.id, ids)
}

fn newest_first(mut ids: Vec<String>) -> Vec<String> {
    ids.reverse();
    ids
}

/// Every list is newest first; `limit` caps a page and `has_more` says whether older objects
/// follow (false when the page ends exactly at the last object).
pub async fn lists_are_newest_first_with_limit_and_has_more(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let (owner, ids) = fill(store, &fx, mode, 5).await;
    let lists = [
        (List::Customers(None), newest_first(ids[0].clone())),
        (List::CustomerMethods(&owner), newest_first(ids[1].clone())),
        (List::AttachedMethods, newest_first(ids[1].clone())),
        (List::Payments(None, None), newest_first(ids[2].clone())),
        (
            List::Payments(Some(&owner), Some(PaymentStatus::Succeeded)),
            newest_first(ids[2].clone()),
        ),
        (List::Endpoints, newest_first(ids[3].clone())),
        (List::Events(None), newest_first(ids[4].clone())),
    ];
    for (list, expected) in lists {
        let n = expected.len();
        assert_eq!(
            all_ids(store, mode, list).await,
            expected,
            "{list:?}: newest first"
        );
        for limit in [1, 3, n - 1, n, n + 1, 100] {
            let (page, has_more) = page_ids(store, mode, list, limit, None).await.unwrap();
            let want: Vec<String> = expected.iter().take(limit).cloned().collect();
            assert_eq!(page, want, "{list:?} limit {limit}");
            assert_eq!(has_more, limit < n, "{list:?} limit {limit}: has_more");
        }
    }
    // An empty list.
    let nobody = CustomerId::from_entropy(&entropy(77_777));
    assert_eq!(
        page_ids(store, mode, List::CustomerMethods(&nobody), 10, None).await,
        Ok((vec![], false))
    );
    assert_eq!(
        page_ids(store, Mode::Live, List::Customers(None), 10, None).await,
        Ok((vec![], false))
    );
}

/// Lists order by creation time, newest first, and objects created in the same second by
/// insertion order (the later insert first), whether they came in separate commits or in one
/// write set; an update never moves an object.
pub async fn lists_order_by_created_then_insertion(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Live;
    let second = at(fx.n());
    let mut same_second: Vec<Customer> = (0..4).map(|_| fx.customer(mode)).collect();
    for c in &mut same_second {
        c.created = second;
    }
    // Two commits of one customer, then one commit of two.
    for c in &same_second[..2] {
        commit_ok(
            store,
            WriteSet {
                customers: vec![Write::Insert(c.clone())],
                ..WriteSet::default()
            },
            "tie",
        )
        .await;
    }
    let writes = WriteSet {
        customers: same_second[2..]
            .iter()
            .cloned()
            .map(Write::Insert)
            .collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "two ties in one write set").await;
    let expected = texts(same_second.iter().rev().map(|c| &c.id));
    assert_eq!(
        all_ids(store, mode, List::Customers(None)).await,
        expected,
        "ties: later insert first"
    );

    // Created earlier but inserted later: creation time wins.
    let mut older = fx.customer(mode);
    older.created = second - chrono::Duration::seconds(30);
    let newer = fx.customer(mode);
    for c in [&newer, &older] {
        commit_ok(
            store,
            WriteSet {
                customers: vec![Write::Insert(c.clone())],
                ..WriteSet::default()
            },
            "order",
        )
        .await;
    }
    let mut expected = vec![newer.id.to_string()];
    expected.extend(texts(same_second.iter().rev().map(|c| &c.id)));
    expected.push(older.id.to_string());
    assert_eq!(
        all_ids(store, mode, List::Customers(None)).await,
        expected,
        "by creation time first"
    );

    // Updating the oldest customers keeps their places.
    let first = &same_second[0];
    let changed = first
        .updated(CustomerChanges {
            name: Some(Some("Moved?".to_owned())),
            ..CustomerChanges::default()
        })
        .unwrap();
    let older_changed = older.updated(CustomerChanges::default()).unwrap();
    let writes = WriteSet {
        customers: vec![
            update(first.version, changed),
            update(older.version, older_changed),
        ],
        ..WriteSet::default()
    };
    commit_ok(store, writes, "updating the oldest customers").await;
    assert_eq!(
        all_ids(store, mode, List::Customers(None)).await,
        expected,
        "an update must not move an object"
    );
    assert_eq!(
        walk(store, mode, List::Customers(None), 2).await,
        expected,
        "paging through ties"
    );
}

/// `starting_after` pages through 25 objects in pages of 10 (10, 10, 5) and gives every object
/// exactly once, in order, for every list.
pub async fn starting_after_pages_through_every_object_once(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Live;
    let (owner, ids) = fill(store, &fx, mode, 25).await;
    let mut customers = newest_first(ids[0].clone());
    assert_eq!(customers.len(), 26);
    customers.pop(); // The owner, created first; the walk below starts from the newest 25.
    let lists = [
        (List::CustomerMethods(&owner), newest_first(ids[1].clone())),
        (List::AttachedMethods, newest_first(ids[1].clone())),
        (List::Payments(None, None), newest_first(ids[2].clone())),
        (
            List::Payments(Some(&owner), None),
            newest_first(ids[2].clone()),
        ),
        (List::Endpoints, newest_first(ids[3].clone())),
        (List::Events(None), newest_first(ids[4].clone())),
        (
            List::Events(Some(EventType::CustomerCreated)),
            newest_first(ids[4].clone()),
        ),
    ];
    for (list, expected) in lists {
        assert_eq!(expected.len(), 25);
        let (p1, more1) = page_ids(store, mode, list, 10, None).await.unwrap();
        let (p2, more2) = page_ids(store, mode, list, 10, p1.last().map(String::as_str))
            .await
            .unwrap();
        let (p3, more3) = page_ids(store, mode, list, 10, p2.last().map(String::as_str))
            .await
            .unwrap();
        assert_eq!(
            (p1.len(), p2.len(), p3.len()),
            (10, 10, 5),
            "{list:?}: page sizes"
        );
        assert_eq!(
            (more1, more2, more3),
            (true, true, false),
            "{list:?}: has_more"
        );
        let all: Vec<String> = [p1, p2, p3].concat();
        assert_eq!(all, expected, "{list:?}: every object once, in order");
        assert_eq!(
            walk(store, mode, list, 10).await,
            expected,
            "{list:?}: walk"
        );
        assert_eq!(
            walk(store, mode, list, 7).await,
            expected,
            "{list:?}: walk by 7"
        );
        assert_eq!(
            walk(store, mode, list, 25).await,
            expected,
            "{list:?}: one exact page"
        );
    }
    // Customers: 26 with the owner, the last page holds the owner alone.
    let mut all_customers = customers.clone();
    all_customers.push(owner.to_string());
    assert_eq!(
        walk(store, mode, List::Customers(None), 10).await,
        all_customers
    );
    // A cursor at the very last object gives an empty last page.
    let last = all_customers.last().cloned();
    assert_eq!(
        page_ids(store, mode, List::Customers(None), 10, last.as_deref()).await,
        Ok((vec![], false))
    );
    // Paging goes on from a cursor in the middle.
    let (page, more) = page_ids(
        store,
        mode,
        List::Customers(None),
        3,
        Some(&all_customers[4]),
    )
    .await
    .unwrap();
    assert_eq!(page, all_customers[5..8].to_vec());
    assert!(more);
}

/// A `starting_after` naming no object of the list's kind and mode gives `CursorNotFound`;
/// an object of the kind that the list's filter leaves out (another customer's method, a
/// detached method, a payment of another status, an event of another type, a customer with
/// another email) is still a valid position to page on from.
pub async fn unknown_cursor_is_rejected(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let a = fx.customer_with_email(mode, Some("a@example.com"));
    let b = fx.customer_with_email(mode, Some("b@example.com"));
    let ma = fx.method(mode, Some(&a.id), "fp-a");
    let mb = fx.method(mode, Some(&b.id), "fp-b");
    let md = fx.method(mode, Some(&a.id), "fp-d");
    let mu = fx.method(mode, None, "fp-u");
    let paid = fx.payment(mode, Some(&a.id), PaymentStatus::Succeeded);
    let failed = fx.payment(mode, Some(&b.id), PaymentStatus::Failed);
    let endpoint = fx.endpoint(mode, false);
    let created = fx.customer_event(mode, EventType::CustomerCreated);
    let deleted = fx.customer_event(mode, EventType::CustomerDeleted);
    let writes = WriteSet {
        customers: vec![Write::Insert(a.clone()), Write::Insert(b.clone())],
        methods: [&ma, &mb, &md, &mu]
            .into_iter()
            .cloned()
            .map(Write::Insert)
            .collect(),
        payments: vec![Write::Insert(paid.clone()), Write::Insert(failed.clone())],
        endpoints: vec![Write::Insert(endpoint.clone())],
        events: vec![created.clone(), deleted.clone()],
        ..WriteSet::default()
    };
    commit_ok(store, writes, "objects for cursors").await;
    let md2 = md.detached().unwrap();
    let writes = WriteSet {
        methods: vec![update(md.method.version, md2)],
        ..WriteSet::default()
    };
    commit_ok(store, writes, "detaching a method").await;

    let never = 88_888;
    let never_customer = CustomerId::from_entropy(&entropy(never)).to_string();
    let never_method = PaymentMethodId::from_entropy(&entropy(never)).to_string();
    let never_payment = PaymentId::from_entropy(&entropy(never)).to_string();
    let never_endpoint = WebhookEndpointId::from_entropy(&entropy(never)).to_string();
    let never_event = EventId::from_entropy(&entropy(never)).to_string();
    let cases: Vec<(List<'_>, String, &str)> = vec![
        (
            List::Customers(None),
            never_customer,
            "a customer never stored",
        ),
        (
            List::Customers(Some("a@example.com")),
            b.id.to_string(),
            "a customer with another email",
        ),
        (
            List::CustomerMethods(&a.id),
            never_method.clone(),
            "a method never stored",
        ),
        (
            List::CustomerMethods(&a.id),
            mb.method.id.to_string(),
            "another customer's method",
        ),
        (
            List::CustomerMethods(&a.id),
            md.method.id.to_string(),
            "a detached method",
        ),
        (
            List::CustomerMethods(&a.id),
            mu.method.id.to_string(),
            "an unattached method",
        ),
        (List::AttachedMethods, never_method, "a method never stored"),
        (
            List::AttachedMethods,
            md.method.id.to_string(),
            "a detached method",
        ),
        (
            List::AttachedMethods,
            mu.method.id.to_string(),
            "an unattached method",
        ),
        (
            List::Payments(None, None),
            never_payment,
            "a payment never stored",
        ),
        (
            List::Payments(None, Some(PaymentStatus::Succeeded)),
            failed.payment.id.to_string(),
            "a payment of another status",
        ),
        (
            List::Payments(Some(&a.id), None),
            failed.payment.id.to_string(),
            "another customer's payment",
        ),
        (List::Endpoints, never_endpoint, "an endpoint never stored"),
        (List::Events(None), never_event, "an event never stored"),
        (
            List::Events(Some(EventType::CustomerCreated)),
            deleted.id.to_string(),
            "an event of another type",
        ),
    ];
    for (list, cursor, why) in cases {
        let got = page_ids(store, mode, list, 10, Some(&cursor)).await;
        if why.contains("never stored") {
            assert_eq!(got, Err(StoreError::CursorNotFound), "{list:?} after {why}");
        } else {
            // A cursor is a position in the list's order: an object of the right kind that
            // left (or never matched) the filter still marks where the next page starts.
            assert!(
                got.is_ok(),
                "{list:?} after {why} must page on, got {got:?}"
            );
        }
    }
    // The same cursors are fine in the lists that hold them.
    assert_eq!(
        page_ids(
            store,
            mode,
            List::CustomerMethods(&b.id),
            10,
            Some(mb.method.id.as_str())
        )
        .await,
        Ok((vec![], false))
    );
    assert_eq!(
        page_ids(
            store,
            mode,
            List::Events(None),
            10,
            Some(deleted.id.as_str())
        )
        .await
        .unwrap()
        .0,
        texts([&created.id])
    );
}

/// The email filter compares `email_lookup_key`s: case-insensitively (Unicode too) and exactly
/// (no prefix, suffix or substring match); it follows an email changed by an update, and pages
/// like any list.
pub async fn email_filter_is_case_insensitive_and_exact(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let ada = fx.customer_with_email(mode, Some("ada@example.com"));
    let ada_caps = fx.customer_with_email(mode, Some("ADA@Example.COM"));
    let ada_co = fx.customer_with_email(mode, Some("ada@example.co"));
    let xada = fx.customer_with_email(mode, Some("xada@example.com"));
    let ada_org = fx.customer_with_email(mode, Some("ada@example.com.org"));
    let bob = fx.customer_with_email(mode, Some("bob@example.com"));
    let nobody = fx.customer_with_email(mode, None);
    let asa = fx.customer_with_email(mode, Some("ÅSA@Exämple.com"));
    let all = [
        &ada, &ada_caps, &ada_co, &xada, &ada_org, &bob, &nobody, &asa,
    ];
    let writes = WriteSet {
        customers: all.iter().map(|c| Write::Insert((*c).clone())).collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "customers with emails").await;

    let cases: [(&str, Vec<&CustomerId>); 9] = [
        ("Ada@Example.com", vec![&ada_caps.id, &ada.id]),
        ("ada@example.com", vec![&ada_caps.id, &ada.id]),
        ("ada@example.co", vec![&ada_co.id]),
        ("ADA@EXAMPLE.CO", vec![&ada_co.id]),
        ("ada@example", vec![]),
        ("example.com", vec![]),
        ("da@example.com", vec![]),
        ("åsa@exÄmple.com", vec![&asa.id]),
        ("nobody@example.com", vec![]),
    ];
    for (email, expected) in cases {
        assert_eq!(
            all_ids(store, mode, List::Customers(Some(email))).await,
            texts(expected),
            "customers with email {email:?}"
        );
    }
    assert_eq!(
        all_ids(store, mode, List::Customers(None)).await.len(),
        all.len(),
        "no filter: everyone"
    );

    // Paging within the filter.
    let (page, more) = page_ids(
        store,
        mode,
        List::Customers(Some("ada@EXAMPLE.com")),
        1,
        None,
    )
    .await
    .unwrap();
    assert_eq!((page, more), (texts([&ada_caps.id]), true));
    let (page, more) = page_ids(
        store,
        mode,
        List::Customers(Some("ada@EXAMPLE.com")),
        1,
        Some(ada_caps.id.as_str()),
    )
    .await
    .unwrap();
    assert_eq!((page, more), (texts([&ada.id]), false));

    // An update changes what the filter finds.
    let bob2 = bob
        .updated(CustomerChanges {
            email: Some(Some("Ada@example.com".to_owned())),
            ..CustomerChanges::default()
        })
        .unwrap();
    let ada2 = ada
        .updated(CustomerChanges {
            email: Some(None),
            ..CustomerChanges::default()
        })
        .unwrap();
    let writes = WriteSet {
        customers: vec![update(bob.version, bob2), update(ada.version, ada2)],
        ..WriteSet::default()
    };
    commit_ok(store, writes, "changing emails").await;
    assert_eq!(
        all_ids(store, mode, List::Customers(Some("ada@example.com"))).await,
        texts([&bob.id, &ada_caps.id]),
        "the filter follows updated emails"
    );
    assert!(
        all_ids(store, mode, List::Customers(Some("bob@example.com")))
            .await
            .is_empty()
    );
}

/// `customer_methods`, `attached_methods` and `method_by_fingerprint` see attached methods
/// only, and only the right customer's; `method` reads a method in any state.
pub async fn method_lists_see_attached_methods_only(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Live;
    let a = fx.customer(mode);
    let b = fx.customer(mode);
    let m1 = fx.method(mode, Some(&a.id), "fp-one");
    let m2 = fx.method(mode, Some(&a.id), "fp-shared");
    let m3 = fx.method(mode, None, "fp-shared");
    let m4 = fx.method(mode, Some(&b.id), "fp-b");
    let m5 = fx.method(mode, Some(&a.id), "fp-lonely");
    let writes = WriteSet {
        customers: vec![Write::Insert(a.clone()), Write::Insert(b.clone())],
        methods: [&m1, &m2, &m3, &m4, &m5]
            .into_iter()
            .cloned()
            .map(Write::Insert)
            .collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "methods").await;
    let m2d = m2.detached().unwrap();
    let m5d = m5.detached().unwrap();
    let m6 = fx.method(mode, Some(&a.id), "fp-shared");
    let writes = WriteSet {
        methods: vec![
            update(m2.method.version, m2d.clone()),
            update(m5.method.version, m5d.clone()),
            Write::Insert(m6.clone()),
        ],
        ..WriteSet::default()
    };
    commit_ok(
        store,
        writes,
        "detaching two, attaching a new card with a detached one's fingerprint",
    )
    .await;

    assert_eq!(
        all_ids(store, mode, List::CustomerMethods(&a.id)).await,
        texts([&m6.method.id, &m1.method.id])
    );
    assert_eq!(
        all_ids(store, mode, List::CustomerMethods(&b.id)).await,
        texts([&m4.method.id])
    );
    assert_eq!(
        all_ids(store, mode, List::AttachedMethods).await,
        texts([&m6.method.id, &m4.method.id, &m1.method.id])
    );
    let by_fp = |c: &CustomerId, f: &str| {
        let (c, f) = (c.clone(), Fingerprint::new(f));
        async move { store.method_by_fingerprint(mode, &c, &f).await.unwrap() }
    };
    assert_eq!(
        by_fp(&a.id, "fp-shared").await,
        Some(m6.clone()),
        "the attached one, not the detached"
    );
    assert_eq!(by_fp(&a.id, "fp-one").await, Some(m1.clone()));
    assert_eq!(
        by_fp(&a.id, "fp-lonely").await,
        None,
        "a detached method is not found"
    );
    assert_eq!(by_fp(&a.id, "fp-b").await, None, "another customer's card");
    assert_eq!(by_fp(&b.id, "fp-b").await, Some(m4.clone()));
    assert_eq!(
        by_fp(&b.id, "fp-shared").await,
        None,
        "an unattached method belongs to nobody"
    );
    assert_eq!(by_fp(&a.id, "fp-none").await, None);

    // Single reads see every state.
    assert_eq!(
        store.method(mode, &m2.method.id).await.unwrap(),
        Some(m2d.clone())
    );
    assert_eq!(m2d.state, MethodState::Detached);
    assert_eq!(store.method(mode, &m3.method.id).await.unwrap(), Some(m3));
    assert_eq!(store.method(mode, &m5.method.id).await.unwrap(), Some(m5d));
}

/// `payments` filters by customer, by status, by both, or by neither, and follows a status
/// changed by an update.
pub async fn payments_filter_by_customer_and_status(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let a = fx.customer(mode);
    let b = fx.customer(mode);
    use PaymentStatus as S;
    let p1 = fx.payment(mode, Some(&a.id), S::Processing);
    let p2 = fx.payment(mode, Some(&a.id), S::Succeeded);
    let p3 = fx.payment(mode, Some(&b.id), S::Succeeded);
    let p4 = fx.payment(mode, None, S::RequiresPaymentMethod);
    let p5 = fx.payment(mode, Some(&a.id), S::Failed);
    let p6 = fx.payment(mode, Some(&b.id), S::Canceled);
    let p7 = fx.payment(mode, Some(&a.id), S::RequiresAction);
    let all = [&p1, &p2, &p3, &p4, &p5, &p6, &p7];
    let writes = WriteSet {
        customers: vec![Write::Insert(a.clone()), Write::Insert(b.clone())],
        payments: all.iter().map(|p| Write::Insert((*p).clone())).collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "payments").await;
    let ids = |ps: &[&vinr_domain::payment::PaymentRecord]| texts(ps.iter().map(|p| &p.payment.id));
    let stranger = CustomerId::from_entropy(&entropy(66_666));
    let cases: Vec<(Option<&CustomerId>, Option<S>, Vec<String>)> = vec![
        (None, None, ids(&[&p7, &p6, &p5, &p4, &p3, &p2, &p1])),
        (Some(&a.id), None, ids(&[&p7, &p5, &p2, &p1])),
        (Some(&b.id), None, ids(&[&p6, &p3])),
        (None, Some(S::Succeeded), ids(&[&p3, &p2])),
        (Some(&a.id), Some(S::Succeeded), ids(&[&p2])),
        (Some(&b.id), Some(S::Processing), vec![]),
        (None, Some(S::RequiresPaymentMethod), ids(&[&p4])),
        (None, Some(S::RequiresAction), ids(&[&p7])),
        (None, Some(S::Canceled), ids(&[&p6])),
        (None, Some(S::Failed), ids(&[&p5])),
        (Some(&stranger), None, vec![]),
    ];
    for (customer, status, expected) in cases {
        assert_eq!(
            all_ids(store, mode, List::Payments(customer, status)).await,
            expected,
            "payments of {customer:?} in {status:?}"
        );
    }
    // A status change moves the payment between filtered lists.
    let p1_done = p1
        .apply(PaymentInput::Approved { method: None }, p1.payment.created)
        .unwrap()
        .record;
    commit_ok(
        store,
        WriteSet {
            payments: vec![update(p1.payment.version, p1_done)],
            ..WriteSet::default()
        },
        "approving a payment",
    )
    .await;
    assert_eq!(
        all_ids(store, mode, List::Payments(None, Some(S::Processing))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        all_ids(store, mode, List::Payments(Some(&a.id), Some(S::Succeeded))).await,
        ids(&[&p2, &p1])
    );
}

/// `stuck_payments(before, limit)` returns payments of both modes in `processing` created
/// strictly before `before`, oldest first, at most `limit`; other statuses and newer payments
/// are not stuck, and a payment leaves the sweep once it moves on.
pub async fn stuck_payments_are_processing_and_old_oldest_first(store: &dyn Store) {
    let fx = Fx::default();
    use PaymentStatus as S;
    let old_done = fx.payment(Mode::Test, None, S::Succeeded);
    let p1 = fx.payment(Mode::Test, None, S::Processing);
    let p2 = fx.payment(Mode::Live, None, S::Processing);
    let waiting = fx.payment(Mode::Test, None, S::RequiresAction);
    let p3 = fx.payment(Mode::Test, None, S::Processing);
    let at_cutoff = fx.payment(Mode::Live, None, S::Processing);
    let cutoff = at_cutoff.payment.created;
    let later = fx.payment(Mode::Test, None, S::Processing);
    // Inserted newest first, so insertion order cannot pass for age.
    let writes = WriteSet {
        payments: [&later, &at_cutoff, &p3, &waiting, &p2, &p1, &old_done]
            .into_iter()
            .cloned()
            .map(Write::Insert)
            .collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "payments for the sweep").await;
    let ids = |ps: Vec<vinr_domain::payment::PaymentRecord>| {
        texts(ps.iter().map(|p| p.payment.id.to_string()))
    };

    let stuck = store.stuck_payments(cutoff, 10).await.unwrap();
    assert_eq!(
        stuck,
        vec![p1.clone(), p2.clone(), p3.clone()],
        "processing, older than the cutoff, oldest first, any mode"
    );
    assert_eq!(
        ids(store.stuck_payments(cutoff, 2).await.unwrap()),
        ids(vec![p1.clone(), p2.clone()]),
        "limit"
    );
    assert_eq!(
        ids(store.stuck_payments(p2.payment.created, 10).await.unwrap()),
        ids(vec![p1.clone()]),
        "strictly before"
    );
    assert!(
        store
            .stuck_payments(p1.payment.created, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let everything = store
        .stuck_payments(cutoff + chrono::Duration::days(1), 100)
        .await
        .unwrap();
    assert_eq!(
        ids(everything),
        ids(vec![
            p1.clone(),
            p2.clone(),
            p3.clone(),
            at_cutoff.clone(),
            later.clone()
        ])
    );

    // Finished payments leave the sweep.
    let p1_done = p1
        .apply(PaymentInput::Approved { method: None }, p1.payment.created)
        .unwrap()
        .record;
    commit_ok(
        store,
        WriteSet {
            payments: vec![update(p1.payment.version, p1_done)],
            ..WriteSet::default()
        },
        "p1 done",
    )
    .await;
    assert_eq!(
        ids(store.stuck_payments(cutoff, 10).await.unwrap()),
        ids(vec![p2, p3])
    );
}

/// `events` filters by type, pages within the filter, and keeps each mode's events apart.
pub async fn events_filter_by_type(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let c = fx.customer(mode);
    let kinds = [
        EventType::CustomerCreated,
        EventType::PaymentSucceeded,
        EventType::CustomerUpdated,
        EventType::PaymentSucceeded,
        EventType::PaymentFailed,
        EventType::PaymentSucceeded,
    ];
    let events: Vec<_> = kinds
        .iter()
        .map(|k| fx.event(mode, *k, EventObject::Customer(c.clone())))
        .collect();
    let live = fx.event(
        Mode::Live,
        EventType::PaymentSucceeded,
        EventObject::Customer(c.clone()),
    );
    let mut all = events.clone();
    all.push(live.clone());
    commit_ok(
        store,
        WriteSet {
            events: all,
            ..WriteSet::default()
        },
        "events",
    )
    .await;

    let of = |k: EventType| texts(events.iter().rev().filter(|e| e.kind == k).map(|e| &e.id));
    for kind in EventType::ALL {
        assert_eq!(
            all_ids(store, mode, List::Events(Some(*kind))).await,
            of(*kind),
            "events of type {kind}"
        );
    }
    assert_eq!(
        all_ids(store, mode, List::Events(None)).await,
        texts(events.iter().rev().map(|e| &e.id))
    );
    assert_eq!(
        walk(
            store,
            mode,
            List::Events(Some(EventType::PaymentSucceeded)),
            2
        )
        .await,
        of(EventType::PaymentSucceeded)
    );
    assert_eq!(
        all_ids(
            store,
            Mode::Live,
            List::Events(Some(EventType::PaymentSucceeded))
        )
        .await,
        texts([&live.id])
    );
    let page = store
        .events(
            mode,
            Some(EventType::PaymentSucceeded),
            PageRequest::first(1),
        )
        .await
        .unwrap();
    assert_eq!(page.items, vec![events[5].clone()]);
    assert!(page.has_more);
}
