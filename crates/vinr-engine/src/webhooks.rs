//! Webhook endpoint records: create (with a generated `whsec_` secret), list, delete, rotate.
//! Delivery itself is the dispatcher's job; the engine only keeps the records and the event log.

use async_trait::async_trait;
use chrono::Duration;
use vinr_domain::error::InvalidRequestCode;
use vinr_domain::event::EventFilter;
use vinr_domain::ids::WebhookEndpointId;
use vinr_domain::url::parse_http_url;
use vinr_domain::webhook::{EndpointRecord, WebhookEndpoint, WebhookSecret};
use vinr_ports::api::WebhookEndpointsApi;
use vinr_ports::params::{
    CreateWebhookEndpoint, Deleted, DeletedWebhookEndpoint, List, ListParams, RotateSecret,
};
use vinr_ports::store::{IdempotencyState, PageRequest, Write, WriteSet};
use vinr_ports::{Error, Mode, RequestContext};

use crate::Engine;
use crate::core::{Begin, EngineError, encode_outcome, idem_write, record_done, retry};

/// The overlap of a rotation when none is asked: 24 hours.
const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// The longest overlap accepted: 7 days.
const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

impl Engine {
    fn new_secret(&self) -> WebhookSecret {
        WebhookSecret::from_entropy(&self.entropy(), &self.entropy())
    }

    async fn load_endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<EndpointRecord, EngineError> {
        self.ports().store.endpoint(mode, id).await?.ok_or_else(|| {
            EngineError::Api(Error::not_found("webhook endpoint", id.as_str(), None))
        })
    }

    async fn try_create_endpoint(
        &self,
        ctx: &RequestContext,
        params: &CreateWebhookEndpoint,
    ) -> Result<WebhookEndpoint, EngineError> {
        let idem = match self.begin(ctx, "create_webhook_endpoint", params).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let url = parse_http_url("url", &params.url)?;
        if ctx.mode == Mode::Live && !url.to_ascii_lowercase().starts_with("https://") {
            return Err(Error::invalid(
                InvalidRequestCode::InvalidUrl,
                "url",
                "live webhook endpoints must use https",
            )
            .into());
        }
        vinr_domain::limits::check_webhook_events(&params.events)?;
        let filter = EventFilter::parse(&params.events).map_err(|_| {
            Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "events",
                "events must be a non-empty list of event types, or [\"*\"]",
            )
        })?;
        let now = self.now();
        let record = EndpointRecord::new(
            WebhookEndpointId::from_entropy(&self.entropy()),
            url,
            &filter,
            self.new_secret(),
            ctx.mode.livemode(),
            now,
        );
        let shown = record.with_secret();
        let mut ws = WriteSet::default();
        ws.endpoints.push(Write::Insert(record));
        if let Some(k) = &idem {
            let outcome = encode_outcome::<WebhookEndpoint>(&Ok(shown.clone()));
            ws.idempotency
                .push(idem_write(k, IdempotencyState::Done { outcome }, now));
        }
        self.ports().store.commit(ws).await?;
        Ok(shown)
    }

    async fn try_delete_endpoint(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
    ) -> Result<DeletedWebhookEndpoint, EngineError> {
        let record = self.load_endpoint(ctx.mode, id).await?;
        let ws = WriteSet {
            endpoints: vec![Write::Delete {
                expected: record.version,
                value: record,
            }],
            ..WriteSet::default()
        };
        self.ports().store.commit(ws).await?;
        Ok(Deleted {
            id: id.clone(),
            object: "webhook_endpoint".to_owned(),
            deleted: true,
        })
    }

    async fn try_rotate(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
        params: &RotateSecret,
    ) -> Result<WebhookEndpoint, EngineError> {
        let overlap = params.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
        if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
            return Err(Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "overlapSeconds",
                "overlapSeconds must be between 0 and 604800",
            )
            .into());
        }
        let idem = match self
            .begin(ctx, "rotate_webhook_secret", &(id, params))
            .await?
        {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let record = self.load_endpoint(ctx.mode, id).await?;
        let now = self.now();
        let next = record.rotated(self.new_secret(), Duration::seconds(overlap), now);
        let shown = next.with_secret();
        let mut ws = WriteSet {
            endpoints: vec![Write::Update {
                expected: record.version,
                value: next,
            }],
            ..WriteSet::default()
        };
        record_done(&mut ws, idem.as_ref(), &shown, now);
        self.ports().store.commit(ws).await?;
        Ok(shown)
    }

    async fn try_list_endpoints(
        &self,
        ctx: &RequestContext,
        params: &ListParams<WebhookEndpointId>,
    ) -> Result<List<WebhookEndpoint>, EngineError> {
        let limit = Self::limit(params.limit)?;
        let page = self
            .ports()
            .store
            .endpoints(
                ctx.mode,
                PageRequest {
                    limit,
                    starting_after: params.starting_after.clone(),
                },
            )
            .await?;
        Ok(List {
            data: page.items.into_iter().map(|r| r.endpoint).collect(),
            has_more: page.has_more,
        })
    }
}

#[async_trait]
impl WebhookEndpointsApi for Engine {
    async fn create_webhook_endpoint(
        &self,
        ctx: &RequestContext,
        params: CreateWebhookEndpoint,
    ) -> Result<WebhookEndpoint, Error> {
        retry!(self, self.try_create_endpoint(ctx, &params))
    }

    async fn list_webhook_endpoints(
        &self,
        ctx: &RequestContext,
        params: ListParams<WebhookEndpointId>,
    ) -> Result<List<WebhookEndpoint>, Error> {
        Ok(self.try_list_endpoints(ctx, &params).await?)
    }

    async fn delete_webhook_endpoint(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
    ) -> Result<DeletedWebhookEndpoint, Error> {
        retry!(self, self.try_delete_endpoint(ctx, id))
    }

    async fn rotate_webhook_secret(
        &self,
        ctx: &RequestContext,
        id: &WebhookEndpointId,
        params: RotateSecret,
    ) -> Result<WebhookEndpoint, Error> {
        retry!(self, self.try_rotate(ctx, id, &params))
    }
}
