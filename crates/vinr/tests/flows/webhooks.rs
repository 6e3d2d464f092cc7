//! Webhook endpoints (api.md §6): the secret shown once, rotation, deletion, validation.

use vinr::{
    CreateWebhookEndpoint, Error, InvalidRequestCode, ListParams, RotateSecret, Vinr,
    WebhookEndpoint,
};

use super::support::assert_invalid;

async fn listed(vinr: &Vinr) -> Vec<WebhookEndpoint> {
    vinr.webhook_endpoints()
        .list(ListParams::default())
        .await
        .expect("listing endpoints")
        .data
}

/// An endpoint for every event: `whsec_` secret, `enabled`; the list never shows the secret.
pub async fn a_webhook_endpoint_shows_its_secret_only_once(vinr: &Vinr) {
    let ep = vinr
        .webhook_endpoints()
        .create(CreateWebhookEndpoint {
            url: "https://yoursite.com/webhooks/vinr".into(),
            events: vec!["*".into()],
        })
        .await
        .expect("create");
    assert!(ep.id.as_str().starts_with("we_"), "{}", ep.id);
    assert_eq!(ep.url, "https://yoursite.com/webhooks/vinr");
    assert_eq!(ep.events, vec!["*".to_owned()]);
    let secret = ep.secret.clone().expect("the secret, shown at creation");
    assert!(secret.expose().starts_with("whsec_"), "a whsec_ secret");
    assert!(secret.expose().len() > "whsec_".len() + 20);
    assert!(
        !format!("{ep:?}").contains(secret.expose()),
        "Debug redacts the secret"
    );
    let json = serde_json::to_value(&ep).expect("json");
    assert_eq!(json["status"], "enabled");
    assert_eq!(json["object"], "webhook_endpoint");

    let list = listed(vinr).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, ep.id);
    assert_eq!(list[0].secret, None, "the list never shows a secret");
    assert!(
        !serde_json::to_string(&list)
            .expect("json")
            .contains(secret.expose())
    );

    let only = vinr
        .webhook_endpoints()
        .create(CreateWebhookEndpoint {
            url: "http://127.0.0.1:9000/hook".into(),
            events: vec!["payment.succeeded".into(), "payment.failed".into()],
        })
        .await
        .expect("a local endpoint for two types (sandbox allows loopback)");
    let mut types = only.events.clone();
    types.sort();
    assert_eq!(
        types,
        vec!["payment.failed".to_owned(), "payment.succeeded".to_owned()]
    );
    assert_ne!(only.secret, ep.secret, "each endpoint has its own secret");
    assert_eq!(listed(vinr).await.len(), 2);
}

/// Rotating gives a new secret, different from the old.
pub async fn rotating_a_secret_gives_a_new_one(vinr: &Vinr) {
    let ep = vinr
        .webhook_endpoints()
        .create(CreateWebhookEndpoint {
            url: "https://yoursite.com/webhooks/vinr".into(),
            events: vec!["*".into()],
        })
        .await
        .expect("create");
    let old = ep.secret.clone().expect("secret");
    let rotated = vinr
        .webhook_endpoints()
        .rotate_secret(&ep.id, RotateSecret::default())
        .await
        .expect("rotate");
    let new = rotated.secret.clone().expect("the new secret is shown");
    assert_eq!(rotated.id, ep.id);
    assert!(new.expose().starts_with("whsec_"));
    assert_ne!(new.expose(), old.expose());
    let again = vinr
        .webhook_endpoints()
        .rotate_secret(
            &ep.id,
            RotateSecret {
                overlap_seconds: Some(0),
            },
        )
        .await
        .expect("rotate without overlap");
    let newest = again.secret.expect("secret");
    assert_ne!(newest.expose(), new.expose());
    assert_ne!(newest.expose(), old.expose());
    assert_eq!(listed(vinr).await[0].secret, None);
}

/// A deleted endpoint leaves the list; deleting it again is 404.
pub async fn a_deleted_endpoint_leaves_the_list(vinr: &Vinr) {
    let ep = vinr
        .webhook_endpoints()
        .create(CreateWebhookEndpoint {
            url: "https://yoursite.com/webhooks/vinr".into(),
            events: vec!["*".into()],
        })
        .await
        .expect("create");
    let deleted = vinr
        .webhook_endpoints()
        .delete(&ep.id)
        .await
        .expect("delete");
    assert_eq!(deleted.id, ep.id);
    assert!(deleted.deleted);
    assert_eq!(deleted.object, "webhook_endpoint");
    assert!(listed(vinr).await.is_empty());
    let err = vinr
        .webhook_endpoints()
        .delete(&ep.id)
        .await
        .expect_err("delete twice");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = vinr
        .webhook_endpoints()
        .rotate_secret(&ep.id, RotateSecret::default())
        .await
        .expect_err("rotate a deleted endpoint");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// The URL must be absolute http(s) (`invalid_url`); event types must exist
/// (`parameter_invalid` on `events`).
pub async fn an_endpoint_needs_a_valid_url_and_known_event_types(vinr: &Vinr) {
    for bad in ["not a url", "/webhooks", "ftp://yoursite.com/hook"] {
        let err = vinr
            .webhook_endpoints()
            .create(CreateWebhookEndpoint {
                url: bad.into(),
                events: vec!["*".into()],
            })
            .await
            .expect_err(bad);
        assert_invalid(&err, InvalidRequestCode::InvalidUrl, Some("url"));
    }
    for events in [
        vec!["payment.exploded".to_owned()],
        vec![],
        vec!["payment.succeeded".into(), "nope".into()],
    ] {
        let err = vinr
            .webhook_endpoints()
            .create(CreateWebhookEndpoint {
                url: "https://yoursite.com/webhooks/vinr".into(),
                events: events.clone(),
            })
            .await
            .expect_err("unknown event types");
        assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("events"));
    }
    assert!(listed(vinr).await.is_empty());
}
