//! Checks of `commit`: version guards, unique keys, and all-or-nothing write sets.

use vinr_domain::customer::{Customer, CustomerChanges};
use vinr_domain::event::EventType;
use vinr_domain::method::StoredMethod;
use vinr_domain::payment::{PaymentInput, PaymentRecord, PaymentStatus};
use vinr_domain::setup::{SetupInput, SetupRecord};
use vinr_domain::webhook::{EndpointRecord, WebhookSecret};
use vinr_ports::Mode;
use vinr_ports::event::{Event, EventObject};
use vinr_ports::store::{IdempotencyRecord, Store, Write, WriteSet};

use super::fixtures::{
    Fx, List, all_ids, commit_conflicts, commit_ok, delete, entropy, idempotency_done, update,
};

/// Puts `write` first or last in `writes`.
fn place<T>(at_front: bool, writes: &mut Vec<T>, write: T) {
    if at_front {
        writes.insert(0, write);
    } else {
        writes.push(write);
    }
}

/// One stored object of every kind, and their next versions.
pub(super) struct World {
    pub(super) mode: Mode,
    pub(super) customer: Customer,
    pub(super) method: StoredMethod,
    pub(super) payment: PaymentRecord,
    pub(super) setup: SetupRecord,
    pub(super) endpoint: EndpointRecord,
    pub(super) record: IdempotencyRecord,
    pub(super) event: Event,
}

impl World {
    pub(super) fn new(fx: &Fx, mode: Mode) -> Self {
        let customer = fx.customer(mode);
        let method = fx.method(mode, Some(&customer.id), "fp-world");
        let payment = fx.payment(mode, Some(&customer.id), PaymentStatus::Processing);
        let setup = fx.setup(mode, &customer.id);
        let endpoint = fx.endpoint(mode, false);
        let record = fx.idempotency("scope-a", "key-world");
        let event = fx.event(
            mode,
            EventType::CustomerCreated,
            EventObject::Customer(customer.clone()),
        );
        Self {
            mode,
            customer,
            method,
            payment,
            setup,
            endpoint,
            record,
            event,
        }
    }

    /// Inserts everything.
    pub(super) async fn store(&self, store: &dyn Store) {
        let writes = WriteSet {
            customers: vec![Write::Insert(self.customer.clone())],
            methods: vec![Write::Insert(self.method.clone())],
            payments: vec![Write::Insert(self.payment.clone())],
            setups: vec![Write::Insert(self.setup.clone())],
            endpoints: vec![Write::Insert(self.endpoint.clone())],
            idempotency: vec![Write::Insert(self.record.clone())],
            events: vec![self.event.clone()],
        };
        commit_ok(store, writes, "storing the initial objects").await;
    }

    pub(super) fn next_customer(&self) -> Customer {
        let changes = CustomerChanges {
            name: Some(Some("Grace Hopper".to_owned())),
            ..CustomerChanges::default()
        };
        self.customer.updated(changes).unwrap()
    }

    pub(super) fn next_method(&self) -> StoredMethod {
        self.method.detached().unwrap()
    }

    pub(super) fn next_payment(&self) -> PaymentRecord {
        let now = self.payment.payment.created;
        self.payment
            .apply(PaymentInput::Approved { method: None }, now)
            .unwrap()
            .record
    }

    pub(super) fn next_setup(&self) -> SetupRecord {
        self.setup
            .apply(SetupInput::Cancel, self.setup.setup.created)
            .unwrap()
            .record
    }

    pub(super) fn next_endpoint(&self) -> EndpointRecord {
        let secret = WebhookSecret::from_entropy(&entropy(900), &entropy(901));
        self.endpoint.rotated(
            secret,
            chrono::Duration::hours(1),
            self.endpoint.endpoint.created,
        )
    }

    pub(super) fn next_record(&self) -> IdempotencyRecord {
        idempotency_done(&self.record, "{\"ok\":true}")
    }

    /// A valid update of every object.
    pub(super) fn updates(&self) -> WriteSet {
        WriteSet {
            customers: vec![update(self.customer.version, self.next_customer())],
            methods: vec![update(self.method.method.version, self.next_method())],
            payments: vec![update(self.payment.payment.version, self.next_payment())],
            setups: vec![update(self.setup.setup.version, self.next_setup())],
            endpoints: vec![update(self.endpoint.version, self.next_endpoint())],
            idempotency: vec![update(self.record.version, self.next_record())],
            events: vec![],
        }
    }

    /// Asserts every object is exactly as first stored.
    pub(super) async fn assert_untouched(&self, store: &dyn Store, what: &str) {
        let m = format!("{what}: nothing of a refused write set may be applied");
        self.assert_as_stored(store, &m).await;
    }

    /// Asserts every object is exactly as first stored, failing with the message `m`.
    pub(super) async fn assert_as_stored(&self, store: &dyn Store, m: &str) {
        let mode = self.mode;
        assert_eq!(
            store
                .customer(mode, &self.customer.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&self.customer),
            "{m}"
        );
        assert_eq!(
            store
                .method(mode, &self.method.method.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&self.method),
            "{m}"
        );
        assert_eq!(
            store
                .payment(mode, &self.payment.payment.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&self.payment),
            "{m}"
        );
        assert_eq!(
            store
                .setup(mode, &self.setup.setup.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&self.setup),
            "{m}"
        );
        let endpoint = store
            .endpoint(mode, &self.endpoint.endpoint.id)
            .await
            .unwrap();
        assert_eq!(endpoint.as_ref(), Some(&self.endpoint), "{m}");
        let record = store
            .idempotency(&self.record.scope, &self.record.key)
            .await
            .unwrap();
        assert_eq!(record.as_ref(), Some(&self.record), "{m}");
        assert_eq!(
            store.event(mode, &self.event.id).await.unwrap().as_ref(),
            Some(&self.event),
            "{m}"
        );
    }

    /// Asserts every object is at its next version.
    pub(super) async fn assert_updated(&self, store: &dyn Store, what: &str) {
        let mode = self.mode;
        assert_eq!(
            store.customer(mode, &self.customer.id).await.unwrap(),
            Some(self.next_customer()),
            "{what}"
        );
        assert_eq!(
            store.method(mode, &self.method.method.id).await.unwrap(),
            Some(self.next_method()),
            "{what}"
        );
        assert_eq!(
            store.payment(mode, &self.payment.payment.id).await.unwrap(),
            Some(self.next_payment()),
            "{what}"
        );
        assert_eq!(
            store.setup(mode, &self.setup.setup.id).await.unwrap(),
            Some(self.next_setup()),
            "{what}"
        );
        let endpoint = store
            .endpoint(mode, &self.endpoint.endpoint.id)
            .await
            .unwrap();
        assert_eq!(endpoint, Some(self.next_endpoint()), "{what}");
        let record = store
            .idempotency(&self.record.scope, &self.record.key)
            .await
            .unwrap();
        assert_eq!(record, Some(self.next_record()), "{what}");
    }
}

/// New objects of every kind, not yet stored.
pub(super) struct Fresh {
    pub(super) mode: Mode,
    pub(super) customers: Vec<Customer>,
    pub(super) method: StoredMethod,
    pub(super) payment: PaymentRecord,
    pub(super) setup: SetupRecord,
    pub(super) endpoint: EndpointRecord,
    pub(super) record: IdempotencyRecord,
    pub(super) events: Vec<Event>,
}

impl Fresh {
    pub(super) fn new(fx: &Fx, world: &World) -> Self {
        let mode = world.mode;
        let customers = vec![fx.customer(mode), fx.customer(mode), fx.customer(mode)];
        let method = fx.method(mode, Some(&customers[0].id), "fp-fresh");
        let payment = fx.payment(mode, Some(&customers[0].id), PaymentStatus::Processing);
        let setup = fx.setup(mode, &customers[1].id);
        let endpoint = fx.endpoint(mode, true);
        let record = fx.idempotency("scope-a", "key-fresh");
        let events = vec![
            fx.event(
                mode,
                EventType::CustomerCreated,
                EventObject::Customer(customers[0].clone()),
            ),
            fx.event(
                mode,
                EventType::PaymentMethodAttached,
                EventObject::PaymentMethod(method.method.clone()),
            ),
            fx.event(
                mode,
                EventType::CustomerUpdated,
                EventObject::Customer(world.next_customer()),
            ),
        ];
        Self {
            mode,
            customers,
            method,
            payment,
            setup,
            endpoint,
            record,
            events,
        }
    }

    /// Inserts of everything.
    pub(super) fn inserts(&self) -> WriteSet {
        WriteSet {
            customers: self.customers.iter().cloned().map(Write::Insert).collect(),
            methods: vec![Write::Insert(self.method.clone())],
            payments: vec![Write::Insert(self.payment.clone())],
            setups: vec![Write::Insert(self.setup.clone())],
            endpoints: vec![Write::Insert(self.endpoint.clone())],
            idempotency: vec![Write::Insert(self.record.clone())],
            events: self.events.clone(),
        }
    }

    /// Asserts none of it is stored.
    pub(super) async fn assert_absent(&self, store: &dyn Store, what: &str) {
        let mode = self.mode;
        let m = format!("{what}: nothing of a refused write set may be applied");
        for c in &self.customers {
            assert_eq!(store.customer(mode, &c.id).await, Ok(None), "{m}");
        }
        assert_eq!(
            store.method(mode, &self.method.method.id).await,
            Ok(None),
            "{m}"
        );
        assert_eq!(
            store.payment(mode, &self.payment.payment.id).await,
            Ok(None),
            "{m}"
        );
        assert_eq!(
            store.setup(mode, &self.setup.setup.id).await,
            Ok(None),
            "{m}"
        );
        assert_eq!(
            store.endpoint(mode, &self.endpoint.endpoint.id).await,
            Ok(None),
            "{m}"
        );
        assert_eq!(
            store
                .idempotency(&self.record.scope, &self.record.key)
                .await,
            Ok(None),
            "{m}"
        );
        for e in &self.events {
            assert_eq!(store.event(mode, &e.id).await, Ok(None), "{m}");
        }
    }

    /// Asserts all of it is stored as written.
    pub(super) async fn assert_present(&self, store: &dyn Store, what: &str) {
        let mode = self.mode;
        for c in &self.customers {
            assert_eq!(
                store.customer(mode, &c.id).await.unwrap().as_ref(),
                Some(c),
                "{what}"
            );
        }
        assert_eq!(
            store
                .method(mode, &self.method.method.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&self.method),
            "{what}"
        );
        let payment = store.payment(mode, &self.payment.payment.id).await.unwrap();
        assert_eq!(payment.as_ref(), Some(&self.payment), "{what}");
        assert_eq!(
            store
                .setup(mode, &self.setup.setup.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&self.setup),
            "{what}"
        );
        let endpoint = store
            .endpoint(mode, &self.endpoint.endpoint.id)
            .await
            .unwrap();
        assert_eq!(endpoint.as_ref(), Some(&self.endpoint), "{what}");
        let record = store
            .idempotency(&self.record.scope, &self.record.key)
            .await
            .unwrap();
        assert_eq!(record.as_ref(), Some(&self.record), "{what}");
        for e in &self.events {
            assert_eq!(
                store.event(mode, &e.id).await.unwrap().as_ref(),
                Some(e),
                "{what}"
            );
        }
    }
}

/// The ids of every list of `mode`, to compare before and after a refused commit.
async fn every_list(store: &dyn Store, mode: Mode) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for list in [
        List::Customers(None),
        List::AttachedMethods,
        List::Payments(None, None),
        List::Endpoints,
        List::Events(None),
    ] {
        all.push(all_ids(store, mode, list).await);
    }
    all
}

/// An `Update` whose `expected` is not the stored version (older or newer) conflicts, for
/// every kind, and nothing of its write set is applied: not the other, valid writes, not its
/// events. Updating an absent object conflicts; so does a second update from the same version
/// (in a later commit, or twice in one write set).
pub async fn stale_update_conflicts_and_applies_nothing(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Test);
    world.store(store).await;
    let fresh = Fresh::new(&fx, &world);

    for delta in [-1i64, 1, 6] {
        for kind in 0..6 {
            let mut writes = fresh.inserts();
            writes.extend(world.updates());
            let stale = |v: u64| v.checked_add_signed(delta).unwrap();
            match kind {
                0 => {
                    writes.customers =
                        vec![update(stale(world.customer.version), world.next_customer())]
                }
                1 => {
                    writes.methods = vec![update(
                        stale(world.method.method.version),
                        world.next_method(),
                    )]
                }
                2 => {
                    writes.payments = vec![update(
                        stale(world.payment.payment.version),
                        world.next_payment(),
                    )]
                }
                3 => {
                    writes.setups =
                        vec![update(stale(world.setup.setup.version), world.next_setup())]
                }
                4 => {
                    writes.endpoints =
                        vec![update(stale(world.endpoint.version), world.next_endpoint())]
                }
                _ => {
                    writes.idempotency =
                        vec![update(stale(world.record.version), world.next_record())]
                }
            }
            let what = format!(
                "stale update (kind {kind}, expected version {delta:+}) among valid writes"
            );
            commit_conflicts(store, writes, &what).await;
            world.assert_untouched(store, &what).await;
            fresh.assert_absent(store, &what).await;
        }
    }

    // Updating an object that is not there.
    let ghost = fx.customer(Mode::Test);
    let writes = WriteSet {
        customers: vec![update(
            ghost.version,
            ghost.updated(CustomerChanges::default()).unwrap(),
        )],
        events: fresh.events.clone(),
        ..WriteSet::default()
    };
    commit_conflicts(store, writes, "updating an absent customer").await;
    fresh
        .assert_absent(store, "updating an absent customer")
        .await;
    let ghost_method = fx.method(Mode::Test, Some(&world.customer.id), "fp-ghost");
    let writes = WriteSet {
        methods: vec![update(1, ghost_method.detached().unwrap())],
        ..WriteSet::default()
    };
    commit_conflicts(store, writes, "updating an absent method").await;

    // Two updates from the same version in one write set: the second is a lost update.
    let mut twice = world.updates();
    let other_change = world
        .customer
        .updated(CustomerChanges {
            phone: Some(None),
            ..CustomerChanges::default()
        })
        .unwrap();
    twice
        .customers
        .push(update(world.customer.version, other_change.clone()));
    commit_conflicts(
        store,
        twice,
        "two updates of one customer from the same version",
    )
    .await;
    world
        .assert_untouched(store, "two updates from the same version")
        .await;

    // The valid updates commit; repeating them (now stale) conflicts.
    commit_ok(store, world.updates(), "valid updates of every kind").await;
    world.assert_updated(store, "after valid updates").await;
    for kind in 0..6 {
        // One kind per attempt, so each kind's guard is checked on its own.
        let all = world.updates();
        let one = match kind {
            0 => WriteSet {
                customers: all.customers,
                ..WriteSet::default()
            },
            1 => WriteSet {
                methods: all.methods,
                ..WriteSet::default()
            },
            2 => WriteSet {
                payments: all.payments,
                ..WriteSet::default()
            },
            3 => WriteSet {
                setups: all.setups,
                ..WriteSet::default()
            },
            4 => WriteSet {
                endpoints: all.endpoints,
                ..WriteSet::default()
            },
            _ => WriteSet {
                idempotency: all.idempotency,
                ..WriteSet::default()
            },
        };
        commit_conflicts(
            store,
            one,
            &format!("repeating an applied update (kind {kind})"),
        )
        .await;
    }
    world
        .assert_updated(store, "after repeated stale updates")
        .await;
    let reverted = WriteSet {
        customers: vec![update(world.customer.version, other_change)],
        ..WriteSet::default()
    };
    commit_conflicts(
        store,
        reverted,
        "an update from version 1 after version 2 was stored",
    )
    .await;
}

/// An `Insert` whose id (or idempotency key) is taken conflicts, for every kind and for events,
/// and leaves the stored object as it was; two inserts of one new id in one write set conflict
/// and store neither.
pub async fn insert_of_an_existing_key_conflicts(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Live);
    world.store(store).await;
    let fresh = Fresh::new(&fx, &world);
    let before = every_list(store, Mode::Live).await;

    for kind in 0..7 {
        let mut writes = fresh.inserts();
        match kind {
            0 => writes.customers.push(Write::Insert(world.next_customer())),
            1 => writes.methods.push(Write::Insert(world.next_method())),
            2 => writes.payments.push(Write::Insert(world.next_payment())),
            3 => writes.setups.push(Write::Insert(world.next_setup())),
            4 => writes.endpoints.push(Write::Insert(world.next_endpoint())),
            5 => writes.idempotency.push(Write::Insert(world.next_record())),
            _ => {
                let mut again = world.event.clone();
                again.kind = EventType::CustomerDeleted;
                writes.events.insert(0, again);
            }
        }
        let what = format!("insert of an existing id (kind {kind})");
        commit_conflicts(store, writes, &what).await;
        world.assert_untouched(store, &what).await;
        fresh.assert_absent(store, &what).await;
        assert_eq!(
            every_list(store, Mode::Live).await,
            before,
            "{what}: the lists changed"
        );
    }

    // The same new id twice in one write set.
    for kind in 0..3 {
        let mut writes = fresh.inserts();
        match kind {
            0 => writes
                .customers
                .push(Write::Insert(fresh.customers[2].clone())),
            1 => writes.events.push(fresh.events[0].clone()),
            _ => writes.idempotency.push(Write::Insert(fresh.record.clone())),
        }
        let what = format!("one new id inserted twice in one write set (kind {kind})");
        commit_conflicts(store, writes, &what).await;
        fresh.assert_absent(store, &what).await;
    }

    // An id taken in the other mode is taken too: ids are unique across modes.
    let mut twin = fresh.customers[0].clone();
    twin.livemode = !twin.livemode;
    commit_ok(store, fresh.inserts(), "inserting the fresh objects").await;
    let writes = WriteSet {
        customers: vec![Write::Insert(twin)],
        ..WriteSet::default()
    };
    commit_conflicts(
        store,
        writes,
        "inserting an id that exists in the other mode",
    )
    .await;
    fresh.assert_present(store, "after the refused twin").await;
}

/// A `Delete` whose `expected` is not the stored version conflicts and removes nothing, for
/// every kind; deleting an absent object conflicts; a valid delete removes the object, and
/// deleting it again conflicts.
pub async fn stale_delete_conflicts(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Test);
    world.store(store).await;
    let fresh = Fresh::new(&fx, &world);

    for wrong in [0, 2] {
        for kind in 0..6 {
            let mut writes = fresh.inserts();
            match kind {
                0 => writes.customers.push(delete(wrong, world.customer.clone())),
                1 => writes.methods.push(delete(wrong, world.method.clone())),
                2 => writes.payments.push(delete(wrong, world.payment.clone())),
                3 => writes.setups.push(delete(wrong, world.setup.clone())),
                4 => writes.endpoints.push(delete(wrong, world.endpoint.clone())),
                _ => writes.idempotency.push(delete(wrong, world.record.clone())),
            }
            let what = format!("delete of kind {kind} expecting version {wrong}");
            commit_conflicts(store, writes, &what).await;
            world.assert_untouched(store, &what).await;
            fresh.assert_absent(store, &what).await;
        }
    }

    // Deleting what is not there.
    let writes = WriteSet {
        customers: vec![delete(1, fresh.customers[0].clone())],
        ..WriteSet::default()
    };
    commit_conflicts(store, writes, "deleting an absent customer").await;
    let writes = WriteSet {
        idempotency: vec![delete(1, fresh.record.clone())],
        ..WriteSet::default()
    };
    commit_conflicts(store, writes, "deleting an absent idempotency record").await;

    // A valid delete, then the same delete again.
    let gone = || WriteSet {
        customers: vec![delete(world.customer.version, world.customer.clone())],
        methods: vec![delete(world.method.method.version, world.method.clone())],
        ..WriteSet::default()
    };
    commit_ok(store, gone(), "deleting a customer and its method").await;
    assert_eq!(
        store.customer(Mode::Test, &world.customer.id).await,
        Ok(None)
    );
    assert_eq!(
        store.method(Mode::Test, &world.method.method.id).await,
        Ok(None)
    );
    commit_conflicts(store, gone(), "deleting twice").await;
    assert_eq!(
        store
            .payment(Mode::Test, &world.payment.payment.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&world.payment),
        "deleting a customer removes only what the write set names"
    );
}

/// An idempotency key is unique per scope: a second `Insert` of the same `(scope, key)` in a
/// later commit conflicts (with the write set it came with) and leaves the first record; the
/// same key in another scope, and another key in the same scope, are free.
pub async fn idempotency_keys_are_unique_per_scope(store: &dyn Store) {
    let fx = Fx::default();
    let mode = Mode::Test;
    let first = fx.idempotency("sk_1", "order-1");
    let payment = fx.payment(mode, None, PaymentStatus::Processing);
    let writes = WriteSet {
        payments: vec![Write::Insert(payment.clone())],
        idempotency: vec![Write::Insert(first.clone())],
        ..WriteSet::default()
    };
    commit_ok(store, writes, "reserving a key with its payment").await;

    // A retry racing the first request: same key, another payment.
    let mut racer = fx.idempotency("sk_1", "order-1");
    racer.request_hash = "sha256:other".to_owned();
    let racer_payment = fx.payment(mode, None, PaymentStatus::Processing);
    let writes = WriteSet {
        payments: vec![Write::Insert(racer_payment.clone())],
        idempotency: vec![Write::Insert(racer)],
        ..WriteSet::default()
    };
    commit_conflicts(store, writes, "reserving a used key").await;
    assert_eq!(
        store.idempotency("sk_1", "order-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.payment(mode, &racer_payment.payment.id).await,
        Ok(None),
        "the losing request's payment must not be stored"
    );
    assert_eq!(
        store.payment(mode, &payment.payment.id).await.unwrap(),
        Some(payment)
    );

    let other_scope = fx.idempotency("sk_2", "order-1");
    let other_key = fx.idempotency("sk_1", "order-2");
    let case = fx.idempotency("sk_1", "ORDER-1");
    let writes = WriteSet {
        idempotency: vec![
            Write::Insert(other_scope.clone()),
            Write::Insert(other_key.clone()),
            Write::Insert(case.clone()),
        ],
        ..WriteSet::default()
    };
    commit_ok(
        store,
        writes,
        "the same key in another scope, another key, another case",
    )
    .await;
    assert_eq!(
        store.idempotency("sk_2", "order-1").await.unwrap(),
        Some(other_scope)
    );
    assert_eq!(
        store.idempotency("sk_1", "order-2").await.unwrap(),
        Some(other_key)
    );
    assert_eq!(
        store.idempotency("sk_1", "ORDER-1").await.unwrap(),
        Some(case)
    );
    assert_eq!(
        store.idempotency("sk_1", "order-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.idempotency("sk_3", "order-1").await, Ok(None));

    // Finishing the request is a guarded update like any other.
    let done = idempotency_done(&first, "{\"id\":\"pay_1\"}");
    commit_ok(
        store,
        WriteSet {
            idempotency: vec![update(first.version, done.clone())],
            ..WriteSet::default()
        },
        "finishing the request",
    )
    .await;
    assert_eq!(
        store.idempotency("sk_1", "order-1").await.unwrap(),
        Some(done)
    );
    commit_conflicts(
        store,
        WriteSet {
            idempotency: vec![update(first.version, idempotency_done(&first, "{}"))],
            ..WriteSet::default()
        },
        "finishing it twice",
    )
    .await;
}

/// A write set with many valid writes of every kind, events included, and one failing guard
/// anywhere in it applies nothing, whichever kind the failing guard is; without the failing
/// guard the same write set applies entirely.
pub async fn commit_is_atomic(store: &dyn Store) {
    let fx = Fx::default();
    let world = World::new(&fx, Mode::Live);
    world.store(store).await;
    let fresh = Fresh::new(&fx, &world);
    let good = || {
        let mut writes = fresh.inserts();
        writes.extend(world.updates());
        writes
    };
    let before = every_list(store, Mode::Live).await;
    let test_before = every_list(store, Mode::Test).await;

    for bad in 0..9 {
        for at_front in [true, false] {
            let mut writes = good();
            match bad {
                0 => place(
                    at_front,
                    &mut writes.customers,
                    update(0, world.next_customer()),
                ),
                1 => place(
                    at_front,
                    &mut writes.methods,
                    update(5, world.next_method()),
                ),
                2 => place(
                    at_front,
                    &mut writes.payments,
                    delete(3, world.payment.clone()),
                ),
                3 => place(at_front, &mut writes.setups, update(9, world.next_setup())),
                4 => place(
                    at_front,
                    &mut writes.endpoints,
                    Write::Insert(world.endpoint.clone()),
                ),
                5 => place(
                    at_front,
                    &mut writes.idempotency,
                    Write::Insert(world.next_record()),
                ),
                6 => place(at_front, &mut writes.events, world.event.clone()),
                7 => place(
                    at_front,
                    &mut writes.customers,
                    delete(1, fx.customer(Mode::Live)),
                ),
                _ => {
                    let absent = fx.payment(Mode::Live, None, PaymentStatus::Succeeded);
                    place(at_front, &mut writes.payments, update(1, absent));
                }
            }
            let what = format!(
                "one failing guard (case {bad}, {}) among many valid writes",
                if at_front { "first" } else { "last" }
            );
            commit_conflicts(store, writes, &what).await;
            world.assert_untouched(store, &what).await;
            fresh.assert_absent(store, &what).await;
            assert_eq!(
                every_list(store, Mode::Live).await,
                before,
                "{what}: the lists changed"
            );
        }
    }
    assert_eq!(every_list(store, Mode::Test).await, test_before);

    commit_ok(
        store,
        good(),
        "the same write set without the failing guard",
    )
    .await;
    world
        .assert_updated(store, "after the valid write set")
        .await;
    fresh
        .assert_present(store, "after the valid write set")
        .await;
    let events = all_ids(store, Mode::Live, List::Events(None)).await;
    assert_eq!(
        events.len(),
        1 + fresh.events.len(),
        "every event of the write set is appended"
    );
}
