//! Webhook endpoint records: where a merchant wants events delivered, and the secrets that
//! sign them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::EventFilter;
use crate::ids::{Entropy, WebhookEndpointId, base62_body};

/// A webhook signing secret, `whsec_…`. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A new secret from 48 random bytes (two draws of entropy): `whsec_` and 48 base62 chars.
    ///
    /// ```
    /// let s = vinr_domain::webhook::WebhookSecret::from_entropy(&[1; 24], &[2; 24]);
    /// assert!(s.expose().starts_with("whsec_"));
    /// assert_eq!(format!("{s:?}"), "WebhookSecret(whsec_…)");
    /// ```
    pub fn from_entropy(a: &Entropy, b: &Entropy) -> Self {
        Self(format!("whsec_{}{}", base62_body(a), base62_body(b)))
    }

    /// Wraps a stored secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; only signing and the one creation response may use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndpointStatus {
    /// Receives events.
    Enabled,
    /// Receives nothing.
    Disabled,
}

/// A webhook endpoint as the merchant sees it. `secret` is present only in the response that
/// creates the endpoint or rotates its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "webhook_endpoint", rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookEndpoint {
    /// `we_…`.
    pub id: WebhookEndpointId,
    /// Where events are POSTed.
    pub url: String,
    /// Event types delivered, or `["*"]`.
    pub events: Vec<String>,
    /// Enabled or disabled.
    pub status: EndpointStatus,
    /// The signing secret, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<WebhookSecret>,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// Whether it lives in live mode.
    pub livemode: bool,
}

/// One signing secret of an endpoint; an old one stays valid until `expires_at` after a
/// rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    /// The secret.
    pub secret: WebhookSecret,
    /// When it stops signing; `None` for the current secret.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An endpoint as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// The merchant's view, without its secret.
    pub endpoint: WebhookEndpoint,
    /// The current secret first, then older ones still in their overlap.
    pub secrets: Vec<EndpointSecret>,
    /// +1 on every change.
    pub version: u64,
}

impl EndpointRecord {
    /// A new endpoint with one secret.
    pub fn new(
        id: WebhookEndpointId,
        url: String,
        filter: &EventFilter,
        secret: WebhookSecret,
        livemode: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            endpoint: WebhookEndpoint {
                id,
                url,
                events: filter.to_wire(),
                status: EndpointStatus::Enabled,
                secret: None,
                created: now,
                livemode,
            },
            secrets: vec![EndpointSecret {
                secret,
                expires_at: None,
            }],
            version: 1,
        }
    }

    /// The endpoint with a new current secret; the old one signs too until `now + overlap`.
    /// Secrets whose overlap has ended are dropped.
    pub fn rotated(
        &self,
        secret: WebhookSecret,
        overlap: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = self.clone();
        let mut secrets = vec![EndpointSecret {
            secret,
            expires_at: None,
        }];
        for old in &self.secrets {
            let expires_at = old.expires_at.unwrap_or(now + overlap).min(now + overlap);
            if expires_at > now {
                secrets.push(EndpointSecret {
                    secret: old.secret.clone(),
                    expires_at: Some(expires_at),
                });
            }
        }
        next.secrets = secrets;
        next.version += 1;
        next
    }

    /// The secrets that sign deliveries made at `now`.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&WebhookSecret> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|t| t > now))
            .map(|s| &s.secret)
            .collect()
    }

    /// The endpoint as shown with its current secret (creation and rotation responses).
    pub fn with_secret(&self) -> WebhookEndpoint {
        let mut e = self.endpoint.clone();
        e.secret = self.secrets.first().map(|s| s.secret.clone());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn rotation_keeps_the_old_secret_for_the_overlap_only() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let filter = EventFilter::All;
        let s1 = WebhookSecret::from_entropy(&[1; 24], &[1; 24]);
        let s2 = WebhookSecret::from_entropy(&[2; 24], &[2; 24]);
        let e = EndpointRecord::new(
            WebhookEndpointId::from_entropy(&[3; 24]),
            "https://m.example/h".into(),
            &filter,
            s1.clone(),
            false,
            t0,
        );
        let r = e.rotated(s2.clone(), Duration::hours(1), t0);
        assert_eq!(r.signing_secrets(t0), vec![&s2, &s1]);
        assert_eq!(r.signing_secrets(t0 + Duration::hours(2)), vec![&s2]);
        assert_eq!(r.with_secret().secret, Some(s2));
        assert_eq!(r.endpoint.secret, None);
        let json = serde_json::to_value(&r.endpoint).unwrap();
        assert!(json.get("secret").is_none());
        assert_eq!(json["object"], "webhook_endpoint");
    }
}
