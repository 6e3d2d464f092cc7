//! The event log: list and retrieve; and the hosted surface's entry points.

use async_trait::async_trait;
use vinr_domain::error::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::{EventId, PaymentId, SetupId};
use vinr_ports::api::{EventsApi, HostedApi};
use vinr_ports::event::Event;
use vinr_ports::params::{
    CardEntry, ChallengeOutcome, HostedOutcome, HostedView, List, ListEvents,
};
use vinr_ports::store::PageRequest;
use vinr_ports::{Error, RequestContext};

use crate::Engine;
use crate::core::EngineError;

impl Engine {
    async fn try_list_events(
        &self,
        ctx: &RequestContext,
        params: &ListEvents,
    ) -> Result<List<Event>, EngineError> {
        let limit = Self::limit(params.limit)?;
        let kind = params
            .kind
            .as_deref()
            .map(|k| {
                k.parse::<EventType>().map_err(|_| {
                    Error::invalid(
                        InvalidRequestCode::ParameterInvalid,
                        "type",
                        "not a known event type",
                    )
                })
            })
            .transpose()?;
        let page = self
            .ports()
            .store
            .events(
                ctx.mode,
                kind,
                PageRequest {
                    limit,
                    starting_after: params.starting_after.clone(),
                },
            )
            .await?;
        Ok(List {
            data: page.items,
            has_more: page.has_more,
        })
    }
}

#[async_trait]
impl EventsApi for Engine {
    async fn list_events(
        &self,
        ctx: &RequestContext,
        params: ListEvents,
    ) -> Result<List<Event>, Error> {
        Ok(self.try_list_events(ctx, &params).await?)
    }

    async fn retrieve_event(&self, ctx: &RequestContext, id: &EventId) -> Result<Event, Error> {
        self.ports()
            .store
            .event(ctx.mode, id)
            .await
            .map_err(EngineError::from)?
            .ok_or_else(|| Error::not_found("event", id.as_str(), None))
    }
}

#[async_trait]
impl HostedApi for Engine {
    async fn setup_page(&self, id: &SetupId) -> Result<HostedView, Error> {
        self.setup_page_retrying(id).await
    }

    async fn submit_setup_card(
        &self,
        id: &SetupId,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error> {
        self.submit_setup_card_step(id, card).await.outcome
    }

    async fn authenticate_setup(
        &self,
        id: &SetupId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error> {
        self.authenticate_setup_step(id, outcome).await.outcome
    }

    async fn payment_page(&self, id: &PaymentId) -> Result<HostedView, Error> {
        self.payment_page_retrying(id).await
    }

    async fn submit_payment_card(
        &self,
        id: &PaymentId,
        card: CardEntry,
    ) -> Result<HostedOutcome, Error> {
        self.submit_payment_card_step(id, card).await.outcome
    }

    async fn authenticate_payment(
        &self,
        id: &PaymentId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome, Error> {
        self.authenticate_payment_step(id, outcome).await.outcome
    }
}
