//! Checks of vault key rotation: the work list of cards sealed under other keys
//! (`cards_sealed_with_other_keys`), and re-sealing a card in place (`replace_sealed_card`).

use std::collections::BTreeMap;

use vinr_domain::customer::Customer;
use vinr_domain::ids::{PaymentId, PaymentMethodId, SetupId};
use vinr_domain::method::{SealedCard, StoredMethod};
use vinr_domain::payment::{PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_ports::Mode;
use vinr_ports::store::{CardOwner, PageRequest, Store, Write, WriteSet};

use super::fixtures::{Fx, List, all_ids, commit_conflicts, commit_ok, entropy, sealed, update};

/// The key the checks rotate to.
const ACTIVE: &str = "k2";

/// The mode of an object with this `livemode`.
fn mode_of(livemode: bool) -> Mode {
    if livemode { Mode::Live } else { Mode::Test }
}

/// An owner as text (its kind and id), to sort and compare work lists.
fn owner_text(owner: &CardOwner) -> String {
    format!("{owner:?}")
}

/// Sealed cards by owner text.
type Held = BTreeMap<String, SealedCard>;

/// Stored objects holding sealed cards under several keys, in both modes: methods in every
/// state, payments and setups with and without a pending card.
struct Cards {
    customers: Vec<Customer>,
    methods: Vec<StoredMethod>,
    payments: Vec<PaymentRecord>,
    setups: Vec<SetupRecord>,
}

impl Cards {
    fn new(fx: &Fx) -> Self {
        let c = fx.customer(Mode::Test);
        let live = fx.customer(Mode::Live);
        let method = |mode, customer: Option<&Customer>, key: &str| {
            let fingerprint = format!("fp-rotation-{}", fx.n());
            let mut m = fx.method(mode, customer.map(|c| &c.id), &fingerprint);
            m.sealed = sealed(fx.n(), key);
            m
        };
        let detached = method(Mode::Test, Some(&c), "k0")
            .detached()
            .expect("an attached method detaches");
        let methods = vec![
            method(Mode::Test, Some(&c), "k1"),
            method(Mode::Test, Some(&c), ACTIVE),
            detached,
            method(Mode::Test, None, "k3"),
            method(Mode::Live, Some(&live), "k1"),
            method(Mode::Live, Some(&live), ACTIVE),
        ];
        let with_card = |mut p: PaymentRecord, key: &str| {
            p.pending_card
                .as_mut()
                .expect("a payment in a hosted challenge holds a card")
                .sealed = sealed(fx.n(), key);
            p
        };
        let payments = vec![
            with_card(fx.hosted_payment_in_challenge(Mode::Test, &c.id), "k1"),
            with_card(fx.hosted_payment_in_challenge(Mode::Live, &live.id), ACTIVE),
            with_card(fx.hosted_payment_in_challenge(Mode::Live, &live.id), "k0"),
            fx.payment(Mode::Test, Some(&c.id), PaymentStatus::Processing),
        ];
        let setup_with_card = |mut s: SetupRecord, key: &str| {
            s.pending_card
                .as_mut()
                .expect("a setup in a challenge holds a card")
                .sealed = sealed(fx.n(), key);
            s
        };
        let setups = vec![
            setup_with_card(fx.setup_in_challenge(Mode::Test, &c.id), "k3"),
            setup_with_card(fx.setup_in_challenge(Mode::Live, &live.id), "k0"),
            fx.setup(Mode::Test, &c.id),
        ];
        Self {
            customers: vec![c, live],
            methods,
            payments,
            setups,
        }
    }

    /// Stores everything.
    async fn store(&self, store: &dyn Store) {
        let writes = WriteSet {
            customers: self.customers.iter().cloned().map(Write::Insert).collect(),
            methods: self.methods.iter().cloned().map(Write::Insert).collect(),
            payments: self.payments.iter().cloned().map(Write::Insert).collect(),
            setups: self.setups.iter().cloned().map(Write::Insert).collect(),
            ..WriteSet::default()
        };
        commit_ok(store, writes, "storing objects holding sealed cards").await;
    }

    /// Every sealed card the objects hold, by owner.
    fn held(&self) -> Held {
        let methods = self.methods.iter().map(|m| {
            (
                owner_text(&CardOwner::Method(m.method.id.clone())),
                m.sealed.clone(),
            )
        });
        let payments = self.payments.iter().filter_map(|p| {
            let card = p.pending_card.as_ref()?;
            Some((
                owner_text(&CardOwner::Payment(p.payment.id.clone())),
                card.sealed.clone(),
            ))
        });
        let setups = self.setups.iter().filter_map(|s| {
            let card = s.pending_card.as_ref()?;
            Some((
                owner_text(&CardOwner::Setup(s.setup.id.clone())),
                card.sealed.clone(),
            ))
        });
        methods.chain(payments).chain(setups).collect()
    }

    /// Every owner of a card.
    fn owners(&self) -> Vec<CardOwner> {
        let methods = self
            .methods
            .iter()
            .map(|m| CardOwner::Method(m.method.id.clone()));
        let payments = self
            .payments
            .iter()
            .filter(|p| p.pending_card.is_some())
            .map(|p| CardOwner::Payment(p.payment.id.clone()));
        let setups = self
            .setups
            .iter()
            .filter(|s| s.pending_card.is_some())
            .map(|s| CardOwner::Setup(s.setup.id.clone()));
        methods.chain(payments).chain(setups).collect()
    }

    /// Asserts every object reads back as first stored but for its sealed card, which is the
    /// one `cards` names: a re-seal changes nothing else, not even the version.
    async fn assert_stored(&self, store: &dyn Store, cards: &Held, what: &str) {
        let card = |owner: CardOwner| {
            cards
                .get(&owner_text(&owner))
                .cloned()
                .unwrap_or_else(|| panic!("suite bug: no card for {owner:?}"))
        };
        for m in &self.methods {
            let mut want = m.clone();
            want.sealed = card(CardOwner::Method(m.method.id.clone()));
            let got = store
                .method(mode_of(m.method.livemode), &m.method.id)
                .await
                .unwrap();
            assert_eq!(got, Some(want), "{what}: method {}", m.method.id);
        }
        for p in &self.payments {
            let mut want = p.clone();
            if let Some(pending) = want.pending_card.as_mut() {
                pending.sealed = card(CardOwner::Payment(p.payment.id.clone()));
            }
            let got = store
                .payment(mode_of(p.payment.livemode), &p.payment.id)
                .await
                .unwrap();
            assert_eq!(got, Some(want), "{what}: payment {}", p.payment.id);
        }
        for s in &self.setups {
            let mut want = s.clone();
            if let Some(pending) = want.pending_card.as_mut() {
                pending.sealed = card(CardOwner::Setup(s.setup.id.clone()));
            }
            let got = store
                .setup(mode_of(s.setup.livemode), &s.setup.id)
                .await
                .unwrap();
            assert_eq!(got, Some(want), "{what}: setup {}", s.setup.id);
        }
    }
}

/// The work list for `key_id` with `limit`, as owner texts and cards, sorted by owner; checks
/// it holds no owner twice.
async fn work_list(store: &dyn Store, key_id: &str, limit: usize) -> Vec<(String, SealedCard)> {
    let refs = store
        .cards_sealed_with_other_keys(key_id, limit)
        .await
        .unwrap_or_else(|e| panic!("cards_sealed_with_other_keys({key_id:?}, {limit}): {e:?}"));
    let mut list: Vec<(String, SealedCard)> = refs
        .into_iter()
        .map(|r| (owner_text(&r.owner), r.sealed))
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let before = list.len();
    let mut owners: Vec<&String> = list.iter().map(|(o, _)| o).collect();
    owners.dedup();
    assert_eq!(
        owners.len(),
        before,
        "the work list for {key_id:?} names an owner twice"
    );
    list
}

/// The ids of every list the objects of [`Cards`] appear in, to check a re-seal moves nothing.
async fn lists(store: &dyn Store, cards: &Cards) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for mode in [Mode::Test, Mode::Live] {
        for list in [
            List::AttachedMethods,
            List::Payments(None, None),
            List::Events(None),
        ] {
            all.push(all_ids(store, mode, list).await);
        }
    }
    for c in &cards.customers {
        let mode = mode_of(c.livemode);
        all.push(all_ids(store, mode, List::CustomerMethods(&c.id)).await);
    }
    all
}

/// The work list of a rotation holds every sealed card under a key other than the given one,
/// each once with its owner and the card as held: methods in every state (attached, detached,
/// never attached) and pending cards of payments and setups, in both modes; not the cards
/// under the given key, nor payments and setups without a card. `limit` bounds it (0 gives
/// nothing), and any limited list is part of the whole one.
pub async fn cards_sealed_with_other_keys_lists_every_card_under_another_key(store: &dyn Store) {
    assert!(
        work_list(store, ACTIVE, 100).await.is_empty(),
        "an empty store has no work list"
    );
    let fx = Fx::default();
    let cards = Cards::new(&fx);
    cards.store(store).await;
    let held = cards.held();

    for key in ["k0", "k1", ACTIVE, "k3", "k9", "", "contract-key"] {
        let want: Vec<(String, SealedCard)> = held
            .iter()
            .filter(|(_, card)| card.key_id != key)
            .map(|(o, c)| (o.clone(), c.clone()))
            .collect();
        assert_eq!(
            work_list(store, key, 100).await,
            want,
            "the work list for key {key:?}"
        );
        for limit in 0..=want.len() + 1 {
            let part = work_list(store, key, limit).await;
            assert_eq!(
                part.len(),
                limit.min(want.len()),
                "the work list for {key:?} with limit {limit}"
            );
            for item in &part {
                assert!(
                    want.contains(item),
                    "the work list for {key:?} with limit {limit} holds {:?}, which is no card under another key",
                    item.0
                );
            }
        }
    }
}

/// `replace_sealed_card` replaces an owner's card only if it still holds exactly the card
/// read (same key id and bytes) and answers whether it did: a second call with the same card
/// answers `false`; so does an owner without a card, or one never stored. A re-seal changes
/// nothing but the card: not the version (a guarded update from the version read still
/// applies), not the object's place in any list, and it writes no event.
pub async fn replace_sealed_card_replaces_only_the_card_read(store: &dyn Store) {
    let fx = Fx::default();
    let cards = Cards::new(&fx);
    cards.store(store).await;
    let lists_before = lists(store, &cards).await;
    let mut held = cards.held();

    for owner in cards.owners() {
        let text = owner_text(&owner);
        let card = held[&text].clone();
        if card.key_id == ACTIVE {
            continue;
        }
        let resealed = sealed(fx.n(), ACTIVE);
        let other_bytes = sealed(fx.n(), &card.key_id);
        assert_eq!(
            store
                .replace_sealed_card(&owner, &other_bytes, resealed.clone())
                .await,
            Ok(false),
            "{text}: a card other than the one held (same key id) must not be replaced"
        );
        let mut other_key = card.clone();
        other_key.key_id = "k9".to_owned();
        assert_eq!(
            store
                .replace_sealed_card(&owner, &other_key, resealed.clone())
                .await,
            Ok(false),
            "{text}: a card with the same bytes under another key id is not the one held"
        );
        cards
            .assert_stored(store, &held, &format!("{text}: after refused re-seals"))
            .await;
        assert_eq!(
            store
                .replace_sealed_card(&owner, &card, resealed.clone())
                .await,
            Ok(true),
            "{text}: the card held must be replaced"
        );
        held.insert(text.clone(), resealed.clone());
        assert_eq!(
            store
                .replace_sealed_card(&owner, &card, sealed(fx.n(), ACTIVE))
                .await,
            Ok(false),
            "{text}: re-sealing the same card twice must answer false the second time"
        );
        cards
            .assert_stored(store, &held, &format!("{text}: after its re-seal"))
            .await;
    }
    assert!(
        work_list(store, ACTIVE, 100).await.is_empty(),
        "every card is under the active key now"
    );

    // Owners without a card, and owners never stored.
    let any = sealed(fx.n(), "k1");
    let plain_payment = cards
        .payments
        .iter()
        .find(|p| p.pending_card.is_none())
        .expect("suite bug: a payment without a card");
    let plain_setup = cards
        .setups
        .iter()
        .find(|s| s.pending_card.is_none())
        .expect("suite bug: a setup without a card");
    let n = fx.n();
    for owner in [
        CardOwner::Payment(plain_payment.payment.id.clone()),
        CardOwner::Setup(plain_setup.setup.id.clone()),
        CardOwner::Method(PaymentMethodId::from_entropy(&entropy(n))),
        CardOwner::Payment(PaymentId::from_entropy(&entropy(n))),
        CardOwner::Setup(SetupId::from_entropy(&entropy(n))),
    ] {
        assert_eq!(
            store
                .replace_sealed_card(&owner, &any, sealed(fx.n(), ACTIVE))
                .await,
            Ok(false),
            "{owner:?} holds no card: nothing to replace"
        );
    }
    cards
        .assert_stored(store, &held, "after re-seals of owners without a card")
        .await;
    let ghost = PaymentMethodId::from_entropy(&entropy(n));
    for mode in [Mode::Test, Mode::Live] {
        assert_eq!(
            store.method(mode, &ghost).await,
            Ok(None),
            "a re-seal must not create an object"
        );
    }
    assert_eq!(
        lists(store, &cards).await,
        lists_before,
        "re-seals moved objects in a list, or wrote events"
    );

    // The versions stayed: guarded updates from the versions first read apply.
    let m = &cards.methods[0];
    let mut current = m.clone();
    current.sealed = held[&owner_text(&CardOwner::Method(m.method.id.clone()))].clone();
    let detached = current.detached().expect("an attached method detaches");
    let p = &cards.payments[0];
    let mut canceled = p.clone();
    if let Some(pending) = canceled.pending_card.as_mut() {
        pending.sealed = held[&owner_text(&CardOwner::Payment(p.payment.id.clone()))].clone();
    }
    canceled.payment.version += 1;
    commit_ok(
        store,
        WriteSet {
            methods: vec![update(m.method.version, detached.clone())],
            payments: vec![update(p.payment.version, canceled.clone())],
            ..WriteSet::default()
        },
        "updates from the versions read before the re-seals",
    )
    .await;
    assert_eq!(
        store.method(Mode::Test, &m.method.id).await.unwrap(),
        Some(detached)
    );
    commit_conflicts(
        store,
        WriteSet {
            payments: vec![update(p.payment.version, canceled)],
            ..WriteSet::default()
        },
        "the same update again, now stale",
    )
    .await;
}

/// A rotation drains its work list: taking a few cards at a time and re-sealing each ends
/// with every card under the active key, each re-sealed once, and the listed cards are always
/// the ones held.
pub async fn rotation_drains_the_work_list_in_batches(store: &dyn Store) {
    let fx = Fx::default();
    let batches = [Cards::new(&fx), Cards::new(&fx)];
    let mut held = Held::new();
    for cards in &batches {
        cards.store(store).await;
        held.extend(cards.held());
    }
    let to_rotate = held.values().filter(|c| c.key_id != ACTIVE).count();
    let mut resealed = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(
            rounds <= to_rotate + 1,
            "the work list does not shrink as cards are re-sealed"
        );
        let batch = store.cards_sealed_with_other_keys(ACTIVE, 3).await.unwrap();
        assert!(batch.len() <= 3, "a work list longer than its limit");
        if batch.is_empty() {
            break;
        }
        for r in batch {
            let text = owner_text(&r.owner);
            assert_eq!(
                held.get(&text),
                Some(&r.sealed),
                "{text}: the work list must show the card held"
            );
            let next = sealed(fx.n(), ACTIVE);
            assert_eq!(
                store
                    .replace_sealed_card(&r.owner, &r.sealed, next.clone())
                    .await,
                Ok(true),
                "{text}: re-sealing the listed card"
            );
            held.insert(text, next);
            resealed += 1;
        }
    }
    assert_eq!(resealed, to_rotate, "every card re-sealed exactly once");
    assert!(held.values().all(|c| c.key_id == ACTIVE));
    for cards in &batches {
        cards
            .assert_stored(store, &held, "after the rotation")
            .await;
    }
    // Sanity: the objects are still listed.
    let page = store
        .payments(Mode::Live, None, None, PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4, "the live payments of both batches");
}
