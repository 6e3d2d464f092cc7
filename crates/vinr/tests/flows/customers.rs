//! Customers (api.md §2): create, find by email, retrieve, update, validate, delete, page.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde_json::json;
use vinr::{
    CreateCustomer, CustomerId, Error, InvalidRequestCode, ListCustomers, UpdateCustomer, Vinr,
};

use super::support::{
    MASTERCARD, VISA, assert_invalid, assert_not_found, attach, create_ada, create_customer,
    event_kinds_about, events, events_about, methods_of,
};

/// The seed's `customers.create`: Ada with email, name and `internalId` metadata.
pub async fn ada_is_created_with_her_email_name_and_metadata(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let id = ada.id.as_str();
    assert!(id.starts_with("cust_"), "{id}");
    assert_eq!(id.len(), "cust_".len() + 24, "{id}");
    assert!(
        id["cust_".len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    assert_eq!(ada.email.as_deref(), Some("ada@example.com"));
    assert_eq!(ada.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(ada.metadata.get("internalId"), Some("user_8821"));
    assert_eq!(ada.metadata.len(), 1);
    assert_eq!(ada.default_method_id, None);
    assert_eq!(ada.version, 1);
    assert!(!ada.livemode);

    let created = events_about(vinr, "customer.created", id).await;
    assert_eq!(created.len(), 1, "one customer.created");
    assert!(!created[0].livemode);
    assert_eq!(created[0].data.object.version(), 1);
    assert!(created[0].data.previous_attributes.is_none());
}

/// `customers.list({ email })` matches the whole address, whatever its case, and nothing else.
pub async fn customers_are_found_by_exact_email_ignoring_case(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    let longer = create_customer(vinr, "ada@example.com.au").await;

    let by = |email: &str| {
        let email = email.to_owned();
        async move {
            vinr.customers()
                .list(ListCustomers {
                    email: Some(email),
                    ..Default::default()
                })
                .await
                .expect("listing by email")
        }
    };
    for spelling in ["ada@example.com", "ADA@example.COM", "Ada@Example.Com"] {
        let found = by(spelling).await;
        let ids: Vec<&CustomerId> = found.data.iter().map(|c| &c.id).collect();
        assert_eq!(ids, vec![&ada.id], "searching {spelling}");
        assert!(!found.has_more);
    }
    assert!(
        by("ada@example.co").await.data.is_empty(),
        "a prefix does not match"
    );
    assert!(
        by("da@example.com").await.data.is_empty(),
        "a suffix does not match"
    );
    let bobs: Vec<CustomerId> = by("BOB@example.com")
        .await
        .data
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(bobs, vec![bob.id]);
    let longers: Vec<CustomerId> = by("ada@example.com.au")
        .await
        .data
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(longers, vec![longer.id]);
}

/// `GET /v1/customers/{id}` gives back what was created.
pub async fn a_customer_is_retrieved_by_id(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let again = vinr
        .customers()
        .retrieve(&ada.id)
        .await
        .expect("retrieving Ada");
    assert_eq!(again, ada);
    let err = vinr
        .customers()
        .retrieve(&super::support::unknown_customer())
        .await
        .expect_err("an unknown id");
    assert_not_found(&err, None);
}

/// `customers.update`: fields change, metadata merges key by key (`""` removes a key), the
/// version goes up, and `customer.updated` carries the previous values.
pub async fn updating_a_customer_merges_metadata_and_reports_previous_attributes(vinr: &Vinr) {
    let ada = vinr
        .customers()
        .create(CreateCustomer {
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            metadata: Some(BTreeMap::from([
                ("internalId".into(), "user_8821".into()),
                ("tier".into(), "gold".into()),
            ])),
            ..Default::default()
        })
        .await
        .expect("creating Ada");

    let updated = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                name: Some(Some("Ada King".into())),
                metadata: Some(BTreeMap::from([
                    ("tier".into(), String::new()),
                    ("plan".into(), "pro".into()),
                ])),
                ..Default::default()
            },
        )
        .await
        .expect("updating Ada");
    assert_eq!(updated.id, ada.id);
    assert_eq!(updated.name.as_deref(), Some("Ada King"));
    assert_eq!(
        updated.email.as_deref(),
        Some("ada@example.com"),
        "untouched fields stay"
    );
    let metadata: BTreeMap<&str, &str> = updated.metadata.iter().collect();
    assert_eq!(
        metadata,
        BTreeMap::from([("internalId", "user_8821"), ("plan", "pro")])
    );
    assert_eq!(updated.version, 2);
    assert_eq!(
        vinr.customers().retrieve(&ada.id).await.expect("retrieve"),
        updated
    );

    let events = events_about(vinr, "customer.updated", ada.id.as_str()).await;
    assert_eq!(events.len(), 1, "one customer.updated");
    let previous = events[0]
        .data
        .previous_attributes
        .as_ref()
        .expect("customer.updated carries previousAttributes");
    assert_eq!(previous.get("name"), Some(&json!("Ada Lovelace")));
    assert_eq!(
        previous.get("metadata"),
        Some(&json!({"internalId": "user_8821", "tier": "gold"}))
    );
    assert!(
        !previous.contains_key("email"),
        "unchanged fields are not listed: {previous:?}"
    );
    assert_eq!(events[0].data.object.version(), 2);
}

/// An email that is not one: `invalid_email` on `email`, on create and on update.
pub async fn an_invalid_email_is_refused_with_its_param(vinr: &Vinr) {
    for bad in ["not-an-email", "ada@", "@example.com", "ada@example"] {
        let err = vinr
            .customers()
            .create(CreateCustomer {
                email: Some(bad.into()),
                ..Default::default()
            })
            .await
            .expect_err(bad);
        assert_invalid(&err, InvalidRequestCode::InvalidEmail, Some("email"));
    }
    assert!(
        events(vinr, Some("customer.created")).await.is_empty(),
        "nothing was created"
    );

    let ada = create_ada(vinr).await;
    let err = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                email: Some(Some("nope".into())),
                ..Default::default()
            },
        )
        .await
        .expect_err("an invalid email on update");
    assert_invalid(&err, InvalidRequestCode::InvalidEmail, Some("email"));
    assert_eq!(
        vinr.customers().retrieve(&ada.id).await.expect("retrieve"),
        ada,
        "nothing changed"
    );
}

/// Metadata limits: 50 keys, keys of 40 characters, values of 500; one more is
/// `invalid_metadata`.
pub async fn metadata_over_its_limits_is_refused(vinr: &Vinr) {
    let create = |metadata: BTreeMap<String, String>| async move {
        vinr.customers()
            .create(CreateCustomer {
                metadata: Some(metadata),
                ..Default::default()
            })
            .await
    };
    let keys = |n: usize| {
        (0..n)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect::<BTreeMap<_, _>>()
    };

    create(keys(50)).await.expect("50 keys are allowed");
    create(BTreeMap::from([("k".repeat(40), "v".into())]))
        .await
        .expect("a 40-character key is allowed");
    create(BTreeMap::from([("k".into(), "v".repeat(500))]))
        .await
        .expect("a 500-character value is allowed");

    for (what, metadata) in [
        ("51 keys", keys(51)),
        (
            "a 41-character key",
            BTreeMap::from([("k".repeat(41), "v".into())]),
        ),
        (
            "a 501-character value",
            BTreeMap::from([("k".into(), "v".repeat(501))]),
        ),
    ] {
        let err = create(metadata).await.expect_err(what);
        assert!(
            matches!(
                err,
                Error::InvalidRequest {
                    code: InvalidRequestCode::InvalidMetadata,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
    }

    let ada = create_ada(vinr).await;
    let err = vinr
        .customers()
        .update(
            &ada.id,
            UpdateCustomer {
                metadata: Some(keys(50)),
                ..Default::default()
            },
        )
        .await
        .expect_err("Ada's key plus 50 more is 51");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::InvalidMetadata,
                ..
            }
        ),
        "{err:?}"
    );
}

/// `DELETE /v1/customers/{id}`: `deleted: true`, gone for good, one `payment_method.detached` per
/// method, then `customer.deleted`.
pub async fn deleting_a_customer_detaches_every_method_then_announces_it(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let visa = attach(vinr, &ada.id, VISA).await;
    let mastercard = attach(vinr, &ada.id, MASTERCARD).await;
    assert_eq!(methods_of(vinr, &ada.id).await.len(), 2);

    let deleted = vinr
        .customers()
        .delete(&ada.id)
        .await
        .expect("deleting Ada");
    assert_eq!(deleted.id, ada.id);
    assert_eq!(deleted.object, "customer");
    assert!(deleted.deleted);

    let err = vinr
        .customers()
        .retrieve(&ada.id)
        .await
        .expect_err("a deleted customer");
    assert_not_found(&err, None);
    let again = vinr
        .customers()
        .delete(&ada.id)
        .await
        .expect_err("deleting twice");
    assert!(matches!(again, Error::NotFound { .. }), "{again:?}");
    let found = vinr
        .customers()
        .list(ListCustomers {
            email: Some("ada@example.com".into()),
            ..Default::default()
        })
        .await
        .expect("listing");
    assert!(found.data.is_empty(), "a deleted customer is not listed");

    // Oldest first: each method's detachment comes before the customer's deletion.
    let log: Vec<(String, String)> = {
        let mut all = events(vinr, None).await;
        all.reverse();
        all.into_iter()
            .map(|e| (e.kind.as_str().to_owned(), e.data.object.id().to_owned()))
            .collect()
    };
    let at = |kind: &str, id: &str| {
        let found: Vec<usize> = log
            .iter()
            .enumerate()
            .filter(|(_, (k, i))| k == kind && i == id)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(found.len(), 1, "exactly one {kind} about {id}: {log:?}");
        found[0]
    };
    let deleted_at = at("customer.deleted", ada.id.as_str());
    for pm in [&visa.id, &mastercard.id] {
        assert!(
            at("payment_method.detached", pm.as_str()) < deleted_at,
            "{log:?}"
        );
        let detached = events_about(vinr, "payment_method.detached", pm.as_str()).await;
        match &detached[0].data.object {
            vinr::EventObject::PaymentMethod(m) => assert_eq!(m.customer_id, None),
            other => panic!("payment_method.detached about {other:?}"),
        }
    }
    assert_eq!(
        event_kinds_about(vinr, ada.id.as_str()).await,
        vec!["customer.created", "customer.deleted"]
    );
}

async fn create_numbered(vinr: &Vinr, n: usize) -> Vec<CustomerId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = vinr
            .customers()
            .create(CreateCustomer {
                email: Some(format!("buyer{i}@example.com")),
                ..Default::default()
            })
            .await
            .expect("creating a customer");
        ids.push(c.id);
    }
    ids
}

/// 25 customers in pages of 10 (`startingAfter` = the last id): 10, 10, 5, each customer once,
/// newest first, `hasMore` true until the last page.
pub async fn twenty_five_customers_come_in_pages_of_ten_newest_first(vinr: &Vinr) {
    let mut created = create_numbered(vinr, 25).await;
    created.reverse();

    let mut seen: Vec<CustomerId> = Vec::new();
    let mut sizes = Vec::new();
    let mut more = Vec::new();
    loop {
        let page = vinr
            .customers()
            .list(ListCustomers {
                limit: Some(10),
                starting_after: seen.last().cloned(),
                ..Default::default()
            })
            .await
            .expect("listing a page");
        sizes.push(page.data.len());
        more.push(page.has_more);
        seen.extend(page.data.into_iter().map(|c| c.id));
        if !page.has_more {
            break;
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(more, vec![true, true, false]);
    assert_eq!(seen, created, "every customer once, newest first");

    let default = vinr
        .customers()
        .list(ListCustomers::default())
        .await
        .expect("default page");
    assert_eq!(default.data.len(), 10, "the default limit is 10");
    assert!(default.has_more);
}

/// `list_all` follows `startingAfter` for the caller and yields each of 25 customers once.
pub async fn list_all_streams_every_customer_once(vinr: &Vinr) {
    let mut created = create_numbered(vinr, 25).await;
    created.reverse();
    let streamed: Vec<CustomerId> = vinr
        .customers()
        .list_all(ListCustomers {
            limit: Some(10),
            ..Default::default()
        })
        .map(|r| r.expect("a streamed customer").id)
        .collect()
        .await;
    assert_eq!(streamed, created);
    let unique: BTreeSet<&CustomerId> = streamed.iter().collect();
    assert_eq!(unique.len(), 25);
}

/// `limit` must be 1 to 100.
pub async fn list_limits_outside_1_to_100_are_refused(vinr: &Vinr) {
    create_ada(vinr).await;
    for limit in [0, 101] {
        let err = vinr
            .customers()
            .list(ListCustomers {
                limit: Some(limit),
                ..Default::default()
            })
            .await
            .expect_err("limit out of range");
        assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("limit"));
    }
    for limit in [1, 100] {
        vinr.customers()
            .list(ListCustomers {
                limit: Some(limit),
                ..Default::default()
            })
            .await
            .expect("limit in range");
    }
}
