//! Checks of `Write::Check`: the guard on an object a command used without changing it (a
//! charge using a method), which writes nothing and fails the write set unless the object is
//! still at the version read.

use vinr_domain::customer::CustomerChanges;
use vinr_ports::Mode;
use vinr_ports::store::{Store, Write, WriteSet};

use super::fixtures::{Fx, List, all_ids, commit_conflicts, commit_ok, delete, update};
use super::guards::{Fresh, World};

/// What each kind number of [`check_of`] and [`only`] names, for messages.
const KINDS: [&str; 6] = [
    "customer",
    "method",
    "payment",
    "setup",
    "endpoint",
    "idempotency record",
];

/// `Write::Check` of `value`, read at version `expected`.
fn check<T>(expected: u64, value: T) -> Write<T> {
    Write::Check { expected, value }
}

/// A write set holding one check of `world`'s object of kind `kind`, expecting its stored
/// version plus `delta`; with `next`, the check carries the object's next version as its value
/// (same key, other fields), which a store must not write.
fn check_of(world: &World, kind: usize, delta: i64, next: bool) -> WriteSet {
    let v = |version: u64| {
        version
            .checked_add_signed(delta)
            .expect("suite bug: a version below 0")
    };
    let mut writes = WriteSet::default();
    match kind {
        0 => {
            let value = if next {
                world.next_customer()
            } else {
                world.customer.clone()
            };
            writes
                .customers
                .push(check(v(world.customer.version), value));
        }
        1 => {
            let value = if next {
                world.next_method()
            } else {
                world.method.clone()
            };
            writes
                .methods
                .push(check(v(world.method.method.version), value));
        }
        2 => {
            let value = if next {
                world.next_payment()
            } else {
                world.payment.clone()
            };
            writes
                .payments
                .push(check(v(world.payment.payment.version), value));
        }
        3 => {
            let value = if next {
                world.next_setup()
            } else {
                world.setup.clone()
            };
            writes
                .setups
                .push(check(v(world.setup.setup.version), value));
        }
        4 => {
            let value = if next {
                world.next_endpoint()
            } else {
                world.endpoint.clone()
            };
            writes
                .endpoints
                .push(check(v(world.endpoint.version), value));
        }
        _ => {
            let value = if next {
                world.next_record()
            } else {
                world.record.clone()
            };
            writes
                .idempotency
                .push(check(v(world.record.version), value));
        }
    }
    writes
}

/// Only the writes of kind `kind` of `writes` (no events).
fn only(writes: WriteSet, kind: usize) -> WriteSet {
    match kind {
        0 => WriteSet {
            customers: writes.customers,
            ..WriteSet::default()
        },
        1 => WriteSet {
            methods: writes.methods,
            ..WriteSet::default()
        },
        2 => WriteSet {
            payments: writes.payments,
            ..WriteSet::default()
        },
        3 => WriteSet {
            setups: writes.setups,
            ..WriteSet::default()
        },
        4 => WriteSet {
            endpoints: writes.endpoints,
            ..WriteSet::default()
        },
        _ => WriteSet {
            idempotency: writes.idempotency,
            ..WriteSet::default()
        },
    }
}

/// A check of `fresh`'s (unstored) object of kind `kind`, at version 1.
fn check_of_absent(fresh: &Fresh, kind: usize) -> WriteSet {
    let mut writes = WriteSet::default();
    match kind {
        0 => writes.customers.push(check(1, fresh.customers[0].clone())),
        1 => writes.methods.push(check(1, fresh.method.clone())),
        2 => writes.payments.push(check(1, fresh.payment.clone())),
        3 => writes.setups.push(check(1, fresh.setup.clone())),
        4 => writes.endpoints.push(check(1, fresh.endpoint.clone())),
        _ => writes.idempotency.push(check(1, fresh.record.clone())),
    }
    writes
}

/// A check at the stored version passes and writes nothing, for every kind: alone, with the
/// other writes of its write set (which apply), and even when the value it carries differs
/// from the stored object (a check names its object by key; only `expected` is compared).
pub async fn check_at_the_version_read_passes_and_writes_nothing(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Test);
    world.store(store).await;
    let fresh = Fresh::new(&fx, &world);
    let lists = [
        List::Customers(None),
        List::AttachedMethods,
        List::Payments(None, None),
        List::Endpoints,
        List::Events(None),
    ];
    let mut before = Vec::new();
    for list in lists {
        before.push(all_ids(store, Mode::Test, list).await);
    }

    for (kind, name) in KINDS.iter().enumerate() {
        let what = format!("a check of the {name} at its stored version");
        commit_ok(store, check_of(&world, kind, 0, false), &what).await;
        world
            .assert_as_stored(store, &format!("{what}: a check writes nothing"))
            .await;
        let what = format!("{what}, carrying another value of it");
        commit_ok(store, check_of(&world, kind, 0, true), &what).await;
        world
            .assert_as_stored(store, &format!("{what}: a check writes nothing"))
            .await;
    }
    for (list, ids) in lists.into_iter().zip(&before) {
        assert_eq!(
            &all_ids(store, Mode::Test, list).await,
            ids,
            "{list:?}: passing checks changed a list"
        );
    }

    // Every kind checked at once, among inserts of every kind and their events.
    let mut writes = fresh.inserts();
    for kind in 0..KINDS.len() {
        writes.extend(check_of(&world, kind, 0, kind % 2 == 0));
    }
    let what = "checks of every kind among inserts of every kind";
    commit_ok(store, writes, what).await;
    world
        .assert_as_stored(store, &format!("{what}: a check writes nothing"))
        .await;
    fresh.assert_present(store, what).await;
    let events = all_ids(store, Mode::Test, List::Events(None)).await;
    assert_eq!(
        events.len(),
        1 + fresh.events.len(),
        "{what}: a check appends no event"
    );

    // A passing check leaves the object's version as it was: an update from it still applies.
    commit_ok(
        store,
        world.updates(),
        "updates from the versions the checks saw",
    )
    .await;
    world
        .assert_updated(store, "after the checks and updates")
        .await;
}

/// A check expecting another version than the stored one (older or newer) conflicts, for every
/// kind, wherever it sits in its write set, and nothing of the write set is applied; so does
/// a check of an object that is not stored, or no longer is.
pub async fn stale_or_absent_check_conflicts_and_applies_nothing(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Live);
    world.store(store).await;
    let fresh = Fresh::new(&fx, &world);

    for delta in [-1i64, 1, 5] {
        for (kind, name) in KINDS.iter().enumerate() {
            for first in [true, false] {
                let mut writes = if first {
                    let mut w = check_of(&world, kind, delta, false);
                    w.extend(fresh.inserts());
                    w
                } else {
                    let mut w = fresh.inserts();
                    w.extend(check_of(&world, kind, delta, false));
                    w
                };
                // Valid updates of the other kinds ride along, and must not apply either.
                for other in (0..KINDS.len()).filter(|k| *k != kind) {
                    writes.extend(only(world.updates(), other));
                }
                let what = format!(
                    "a check of the {name} expecting version {delta:+} ({})",
                    if first { "first" } else { "last" }
                );
                commit_conflicts(store, writes, &what).await;
                world.assert_untouched(store, &what).await;
                fresh.assert_absent(store, &what).await;
            }
        }
    }

    for (kind, name) in KINDS.iter().enumerate() {
        let mut writes = check_of_absent(&fresh, kind);
        writes.events = fresh.events.clone();
        let what = format!("a check of a {name} that is not stored");
        commit_conflicts(store, writes, &what).await;
        fresh.assert_absent(store, &what).await;
    }

    // A check of an object deleted since it was read.
    commit_ok(
        store,
        WriteSet {
            methods: vec![delete(world.method.method.version, world.method.clone())],
            ..WriteSet::default()
        },
        "deleting the method",
    )
    .await;
    let writes = WriteSet {
        customers: vec![update(world.customer.version, world.next_customer())],
        methods: vec![check(world.method.method.version, world.method.clone())],
        ..WriteSet::default()
    };
    commit_conflicts(store, writes, "a check of a deleted method").await;
    assert_eq!(
        store
            .customer(Mode::Live, &world.customer.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&world.customer),
        "a check of a deleted method: the customer update must not apply"
    );
}

/// A check sees the earlier writes of its own write set, in order, as sequential statements
/// of one transaction would: after an update it passes at the new version and conflicts at the
/// old one; before an update from the same version it passes; after an insert it passes at
/// the inserted version; after a delete it conflicts. And the race it exists for: a command
/// that read a method before a concurrent detach is refused.
pub async fn check_sees_the_earlier_writes_of_its_write_set(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Test);
    world.store(store).await;

    for (kind, name) in KINDS.iter().enumerate() {
        let mut writes = only(world.updates(), kind);
        writes.extend(check_of(&world, kind, 0, false));
        let what = format!("an update of the {name}, then a check at the version before it");
        commit_conflicts(store, writes, &what).await;
        world.assert_untouched(store, &what).await;
    }
    for (kind, name) in KINDS.iter().enumerate() {
        let mut writes = check_of(&world, kind, 0, false);
        writes.extend(only(world.updates(), kind));
        commit_ok(
            store,
            writes,
            &format!("a check of the {name}, then an update from the same version"),
        )
        .await;
    }
    world
        .assert_updated(store, "after checks followed by updates")
        .await;

    // Every object is at its next version now: updating again and checking the result passes.
    let mut second = World::new(&fx, Mode::Test);
    second.record = fx.idempotency("scope-a", "key-second-world");
    second.store(store).await;
    let mut writes = second.updates();
    for kind in 0..KINDS.len() {
        writes.extend(check_of(&second, kind, 1, false));
    }
    commit_ok(
        store,
        writes,
        "updates of every kind, then checks at the new versions",
    )
    .await;
    second
        .assert_updated(store, "after updates followed by checks")
        .await;

    // Insert then check; delete then check.
    let fresh = Fresh::new(&fx, &second);
    let c = fresh.customers[0].clone();
    commit_ok(
        store,
        WriteSet {
            customers: vec![Write::Insert(c.clone()), check(c.version, c.clone())],
            ..WriteSet::default()
        },
        "an insert, then a check at the inserted version",
    )
    .await;
    let writes = WriteSet {
        customers: vec![delete(c.version, c.clone()), check(c.version, c.clone())],
        ..WriteSet::default()
    };
    commit_conflicts(
        store,
        writes,
        "a delete, then a check of the deleted object",
    )
    .await;
    assert_eq!(
        store.customer(Mode::Test, &c.id).await.unwrap().as_ref(),
        Some(&c),
        "a refused delete must not apply"
    );

    // The race: a charge read the method (and its customer), a detach committed first.
    let customer = fx.customer(Mode::Test);
    let method = fx.method(Mode::Test, Some(&customer.id), "fp-race");
    commit_ok(
        store,
        WriteSet {
            customers: vec![Write::Insert(customer.clone())],
            methods: vec![Write::Insert(method.clone())],
            ..WriteSet::default()
        },
        "storing a customer and its method",
    )
    .await;
    let detached = method.detached().unwrap();
    commit_ok(
        store,
        WriteSet {
            methods: vec![update(method.method.version, detached.clone())],
            ..WriteSet::default()
        },
        "the detach",
    )
    .await;
    let charge = WriteSet {
        customers: vec![update(
            customer.version,
            customer.updated(CustomerChanges::default()).unwrap(),
        )],
        methods: vec![check(method.method.version, method.clone())],
        ..WriteSet::default()
    };
    commit_conflicts(
        store,
        charge,
        "a charge using a method detached since it was read",
    )
    .await;
    assert_eq!(
        store
            .customer(Mode::Test, &customer.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&customer),
        "the refused charge's other writes must not apply"
    );
    assert_eq!(
        store
            .method(Mode::Test, &method.method.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&detached)
    );
}
