//! The event log (api.md §6): filter by type, snapshots ordered by `version`, retrieve by id.

use vinr::{EventObject, InvalidRequestCode, ListEvents, UpdateCustomer, Vinr};

use super::support::{
    VISA, assert_invalid, attach, create_ada, create_customer, events, events_about,
};

/// `type=customer.created` lists only those, newest first.
pub async fn events_are_filtered_by_type(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    attach(vinr, &ada.id, VISA).await;
    vinr.customers()
        .update(
            &ada.id,
            UpdateCustomer {
                name: Some(Some("Ada King".into())),
                ..Default::default()
            },
        )
        .await
        .expect("update");

    let created = vinr
        .events()
        .list(ListEvents {
            kind: Some("customer.created".into()),
            ..Default::default()
        })
        .await
        .expect("filtered list");
    assert!(!created.has_more);
    assert!(
        created
            .data
            .iter()
            .all(|e| e.kind.as_str() == "customer.created")
    );
    let about: Vec<&str> = created.data.iter().map(|e| e.data.object.id()).collect();
    assert_eq!(
        about,
        vec![bob.id.as_str(), ada.id.as_str()],
        "newest first"
    );

    let all = events(vinr, None).await;
    assert_eq!(all.len(), 4, "created ×2, attached, updated: {all:?}");
    let attached = events(vinr, Some("payment_method.attached")).await;
    assert_eq!(attached.len(), 1);
    assert!(matches!(
        attached[0].data.object,
        EventObject::PaymentMethod(_)
    ));

    let err = vinr
        .events()
        .list(ListEvents {
            kind: Some("customer.exploded".into()),
            ..Default::default()
        })
        .await
        .expect_err("an unknown type");
    assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("type"));

    let paged = vinr
        .events()
        .list(ListEvents {
            limit: Some(3),
            ..Default::default()
        })
        .await
        .expect("a page");
    assert_eq!(paged.data.len(), 3);
    assert!(paged.has_more);
    let rest = vinr
        .events()
        .list(ListEvents {
            limit: Some(3),
            starting_after: paged.data.last().map(|e| e.id.clone()),
            ..Default::default()
        })
        .await
        .expect("the next page");
    assert_eq!(rest.data.len(), 1);
    assert!(!rest.has_more);
}

/// Each snapshot carries the object's `version`: a customer updated twice has
/// `customer.updated` events with versions 2 and 3, so a receiver can drop stale ones.
pub async fn event_snapshots_carry_increasing_versions(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    for name in ["Ada King", "Augusta Ada King"] {
        vinr.customers()
            .update(
                &ada.id,
                UpdateCustomer {
                    name: Some(Some(name.into())),
                    ..Default::default()
                },
            )
            .await
            .expect("update");
    }
    let mut updates = events_about(vinr, "customer.updated", ada.id.as_str()).await;
    updates.reverse();
    let versions: Vec<u64> = updates.iter().map(|e| e.data.object.version()).collect();
    assert_eq!(versions, vec![2, 3]);
    let names: Vec<Option<String>> = updates
        .iter()
        .map(|e| match &e.data.object {
            EventObject::Customer(c) => c.name.clone(),
            other => panic!("customer.updated about {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        vec![Some("Ada King".into()), Some("Augusta Ada King".into())]
    );
    assert_eq!(
        vinr.customers()
            .retrieve(&ada.id)
            .await
            .expect("retrieve")
            .version,
        3
    );

    // An update that changes nothing is no new version and no event.
    vinr.customers()
        .update(
            &ada.id,
            UpdateCustomer {
                name: Some(Some("Augusta Ada King".into())),
                ..Default::default()
            },
        )
        .await
        .expect("a no-op update");
    assert_eq!(
        events_about(vinr, "customer.updated", ada.id.as_str())
            .await
            .len(),
        2
    );
}

/// `GET /v1/events/{id}` gives back the listed event.
pub async fn an_event_is_retrieved_by_id(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let created = events_about(vinr, "customer.created", ada.id.as_str()).await;
    let event = &created[0];
    assert!(event.id.as_str().starts_with("evt_"), "{}", event.id);
    assert_eq!(
        vinr.events().retrieve(&event.id).await.expect("retrieve"),
        *event
    );
    assert_eq!(event.created, ada.created);
    let json = serde_json::to_value(event).expect("json");
    assert_eq!(json["object"], "event");
    assert_eq!(json["type"], "customer.created");
    assert_eq!(json["data"]["object"]["object"], "customer");
    assert_eq!(json["data"]["object"]["id"], ada.id.as_str());

    let missing: vinr::EventId = "evt_000000000000000000000000".parse().expect("an id");
    let err = vinr
        .events()
        .retrieve(&missing)
        .await
        .expect_err("an unknown event");
    assert!(matches!(err, vinr::Error::NotFound { .. }), "{err:?}");
}
