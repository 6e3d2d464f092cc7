//! Setups: saving a card through the hosted page, with its 3-D Secure branch.

use async_trait::async_trait;
use vinr_domain::customer::Customer;
use vinr_domain::error::{CardFailure, DeclineCode};
use vinr_domain::ids::{CustomerId, SetupId};
use vinr_domain::setup::{Setup, SetupInput, SetupRecord, SetupStatus};
use vinr_domain::url::{append_query, parse_http_url};
use vinr_ports::api::SetupsApi;
use vinr_ports::event::EventObject;
use vinr_ports::network::{AuthorizationKind, AuthorizationRequest, NetworkAnswer};
use vinr_ports::params::{
    CardEntry, ChallengeOutcome, CreateSetup, HostedOutcome, HostedStage, HostedView,
};
use vinr_ports::store::{IdempotencyState, Write, WriteSet};
use vinr_ports::{Error, Mode, RequestContext};

use crate::Engine;
use crate::cards::{CardProblem, check_typed_card};
use crate::core::{
    Begin, EngineError, encode_outcome, idem_write, record_done, retry, transition_error,
};
use crate::hosted::{HostedStep, failed_step, step_of};

/// Where a setup's page stands once expiry was applied.
enum Open {
    /// The setup accepts the buyer's next step.
    Yes(Box<SetupRecord>),
    /// The link is used, canceled or expired.
    Gone,
}

impl Engine {
    /// Reads a setup or answers `resource_missing`.
    async fn load_setup(&self, mode: Mode, id: &SetupId) -> Result<SetupRecord, EngineError> {
        self.ports()
            .store
            .setup(mode, id)
            .await?
            .ok_or_else(|| EngineError::Api(Error::not_found("setup", id.as_str(), None)))
    }

    /// Finds a setup in either mode (hosted pages have no API key; the id is the capability).
    async fn find_setup(&self, id: &SetupId) -> Result<(Mode, SetupRecord), EngineError> {
        for mode in [Mode::Test, Mode::Live] {
            if let Some(r) = self.ports().store.setup(mode, id).await? {
                return Ok((mode, r));
            }
        }
        Err(Error::not_found("setup", id.as_str(), None).into())
    }

    /// Applies expiry if the setup's 24 hours are up, committing it.
    async fn expire_setup_if_due(&self, record: SetupRecord) -> Result<SetupRecord, EngineError> {
        let now = self.now();
        if !record.is_expired(now) {
            return Ok(record);
        }
        let t = record
            .apply_with_limit(SetupInput::Expire, now, self.config().hosted_max_attempts)
            .map_err(transition_error)?;
        let ws = WriteSet {
            setups: vec![Write::Update {
                expected: record.setup.version,
                value: t.record.clone(),
            }],
            ..WriteSet::default()
        };
        self.ports().store.commit(ws).await?;
        Ok(t.record)
    }

    async fn open_setup(&self, id: &SetupId) -> Result<(Mode, Open), EngineError> {
        let (mode, record) = self.find_setup(id).await?;
        let record = self.expire_setup_if_due(record).await?;
        let customer_exists = self
            .ports()
            .store
            .customer(mode, &record.setup.customer_id)
            .await?
            .is_some();
        // A setup of a deleted customer has nobody to save a card to: its link is dead.
        let open = if record.setup.status.is_terminal() || !customer_exists {
            Open::Gone
        } else {
            Open::Yes(Box::new(record))
        };
        Ok((mode, open))
    }

    /// Commits a setup transition with its events (and any extra writes).
    async fn commit_setup(
        &self,
        before: &SetupRecord,
        input: SetupInput,
        mut ws: WriteSet,
    ) -> Result<SetupRecord, EngineError> {
        let now = self.now();
        let t = before
            .apply_with_limit(input, now, self.config().hosted_max_attempts)
            .map_err(transition_error)?;
        for kind in &t.events {
            ws.events.push(self.event(
                *kind,
                EventObject::Setup(t.record.setup.clone()),
                None,
                t.record.setup.livemode,
                now,
            ));
        }
        ws.setups.push(Write::Update {
            expected: before.setup.version,
            value: t.record.clone(),
        });
        self.ports().store.commit(ws).await?;
        Ok(t.record)
    }

    fn setup_succeeded_redirect(setup: &Setup) -> HostedOutcome {
        HostedOutcome::Redirect {
            url: append_query(
                &setup.return_url,
                &[("setup", setup.id.as_str()), ("status", "succeeded")],
            ),
        }
    }

    async fn try_create_setup(
        &self,
        ctx: &RequestContext,
        customer_id: &CustomerId,
        params: &CreateSetup,
    ) -> Result<Setup, EngineError> {
        let request = (customer_id, params);
        let idem = match self.begin(ctx, "create_setup", &request).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let return_url = parse_http_url("returnUrl", &params.return_url)?;
        let customer: Customer = self.load_customer(ctx.mode, customer_id, None).await?;
        let now = self.now();
        let id = SetupId::from_entropy(&self.entropy());
        let checkout_url = self.hosted_url(&format!("setup/{id}"));
        let record = SetupRecord::create(
            id,
            customer.id,
            checkout_url,
            return_url,
            ctx.mode.livemode(),
            now,
        );
        let mut ws = WriteSet::default();
        ws.setups.push(Write::Insert(record.clone()));
        if let Some(k) = &idem {
            let outcome = encode_outcome::<Setup>(&Ok(record.setup.clone()));
            ws.idempotency
                .push(idem_write(k, IdempotencyState::Done { outcome }, now));
        }
        self.ports().store.commit(ws).await?;
        Ok(record.setup)
    }

    async fn try_retrieve_setup(
        &self,
        ctx: &RequestContext,
        id: &SetupId,
    ) -> Result<Setup, EngineError> {
        let record = self.load_setup(ctx.mode, id).await?;
        Ok(self.expire_setup_if_due(record).await?.setup)
    }

    async fn try_cancel_setup(
        &self,
        ctx: &RequestContext,
        id: &SetupId,
    ) -> Result<Setup, EngineError> {
        let idem = match self.begin(ctx, "cancel_setup", id).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let record = self.load_setup(ctx.mode, id).await?;
        let record = self.expire_setup_if_due(record).await?;
        let now = self.now();
        let canceled = record
            .apply(SetupInput::Cancel, now)
            .map_err(transition_error)?;
        let mut ws = WriteSet::default();
        record_done(&mut ws, idem.as_ref(), &canceled.record.setup, now);
        Ok(self
            .commit_setup(&record, SetupInput::Cancel, ws)
            .await?
            .setup)
    }

    async fn try_submit_setup_card(
        &self,
        id: &SetupId,
        entry: &CardEntry,
    ) -> Result<HostedStep, EngineError> {
        let (mode, open) = self.open_setup(id).await?;
        let Open::Yes(record) = open else {
            return Err(gone());
        };
        if record.setup.status != SetupStatus::RequiresPaymentMethod {
            return Err(gone());
        }
        let today = self.now().date_naive();
        let card = match check_typed_card(mode, entry, today) {
            Ok(card) => card,
            Err(CardProblem::Invalid(e)) => {
                return Ok(HostedStep::ok(HostedOutcome::Retry {
                    message: e.to_string(),
                }));
            }
            Err(CardProblem::Failed(f, hint)) => {
                return self.setup_card_failed(&record, f, hint).await;
            }
        };
        let pending = self.vault_card(&card)?;
        let answer = self
            .ports()
            .network
            .authorize(AuthorizationRequest {
                attempt: record.next_attempt_id(),
                pan: card.pan,
                cvc: card.cvc,
                expiry: card.expiry,
                amount: None,
                kind: AuthorizationKind::Setup,
            })
            .await
            .map_err(|_| Error::internal("the card network did not answer; try again"))?;
        match answer {
            NetworkAnswer::Approved => {
                let now = self.now();
                let mut ws = WriteSet::default();
                let method = self
                    .save_card(
                        mode,
                        &record.setup.customer_id,
                        pending,
                        false,
                        now,
                        &mut ws,
                    )
                    .await?;
                let next = self
                    .commit_setup(&record, SetupInput::CardVerified { method }, ws)
                    .await?;
                Ok(HostedStep::ok(Self::setup_succeeded_redirect(&next.setup)))
            }
            NetworkAnswer::ChallengeRequired => {
                self.commit_setup(
                    &record,
                    SetupInput::ChallengeRequired { card: pending },
                    WriteSet::default(),
                )
                .await?;
                Ok(HostedStep::ok(HostedOutcome::Challenge {
                    url: self.hosted_url(&format!("authenticate/{id}")),
                }))
            }
            NetworkAnswer::Declined(f) => self.setup_card_failed(&record, f, None).await,
            NetworkAnswer::AuthenticationFailed => {
                self.setup_card_failed(
                    &record,
                    CardFailure::declined(DeclineCode::GenericDecline),
                    None,
                )
                .await
            }
        }
    }

    async fn setup_card_failed(
        &self,
        record: &SetupRecord,
        failure: CardFailure,
        hint: Option<&'static str>,
    ) -> Result<HostedStep, EngineError> {
        let next = self
            .commit_setup(record, SetupInput::CardFailed(failure), WriteSet::default())
            .await?;
        Ok(failed_step(
            HostedOutcome::Retry {
                message: CardProblem::buyer_message(failure, hint),
            },
            next.is_locked(),
        ))
    }

    async fn try_authenticate_setup(
        &self,
        id: &SetupId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedStep, EngineError> {
        let (mode, open) = self.open_setup(id).await?;
        let Open::Yes(record) = open else {
            return Err(gone());
        };
        let Some(pending) = record
            .pending_card
            .clone()
            .filter(|_| record.setup.status == SetupStatus::RequiresAction)
        else {
            return Err(gone());
        };
        let passed = outcome == ChallengeOutcome::Complete;
        let answer = self
            .ports()
            .network
            .complete_challenge(&record.attempt_id(), passed)
            .await
            .map_err(|_| Error::internal("the card network did not answer; try again"))?;
        let checkout = HostedOutcome::Redirect {
            url: record.setup.checkout_url.clone(),
        };
        match answer {
            NetworkAnswer::Approved => {
                let now = self.now();
                let mut ws = WriteSet::default();
                let method = self
                    .save_card(mode, &record.setup.customer_id, pending, true, now, &mut ws)
                    .await?;
                let next = self
                    .commit_setup(&record, SetupInput::AuthenticationCompleted { method }, ws)
                    .await?;
                Ok(HostedStep::ok(Self::setup_succeeded_redirect(&next.setup)))
            }
            NetworkAnswer::Declined(f) => {
                let next = self
                    .commit_setup(
                        &record,
                        SetupInput::AuthenticationDeclined(f),
                        WriteSet::default(),
                    )
                    .await?;
                Ok(failed_step(checkout, next.is_locked()))
            }
            NetworkAnswer::AuthenticationFailed | NetworkAnswer::ChallengeRequired => {
                let next = self
                    .commit_setup(
                        &record,
                        SetupInput::AuthenticationFailed,
                        WriteSet::default(),
                    )
                    .await?;
                Ok(failed_step(checkout, next.is_locked()))
            }
        }
    }

    /// What the setup page shows.
    pub(crate) async fn try_setup_page(&self, id: &SetupId) -> Result<HostedView, EngineError> {
        let (mode, open) = self.open_setup(id).await?;
        let Open::Yes(record) = open else {
            return Err(gone());
        };
        Ok(HostedView {
            stage: match record.setup.status {
                SetupStatus::RequiresAction => HostedStage::Authenticate,
                SetupStatus::RequiresPaymentMethod
                | SetupStatus::Succeeded
                | SetupStatus::Canceled
                | SetupStatus::Expired => HostedStage::CollectCard,
            },
            amount: None,
            description: None,
            last_error: record.setup.last_error.map(|e| e.message),
            livemode: mode.livemode(),
        })
    }
}

/// The answer for a link that no longer works.
pub(crate) fn gone() -> EngineError {
    EngineError::Api(Error::Gone {
        message: "This link has already been used, was canceled, or has expired.".to_owned(),
    })
}

#[async_trait]
impl SetupsApi for Engine {
    async fn create_setup(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: CreateSetup,
    ) -> Result<Setup, Error> {
        retry!(self, self.try_create_setup(ctx, customer, &params))
    }

    async fn retrieve_setup(&self, ctx: &RequestContext, id: &SetupId) -> Result<Setup, Error> {
        retry!(self, self.try_retrieve_setup(ctx, id))
    }

    async fn cancel_setup(&self, ctx: &RequestContext, id: &SetupId) -> Result<Setup, Error> {
        retry!(self, self.try_cancel_setup(ctx, id))
    }
}

impl Engine {
    /// The buyer submitted a card on the setup page.
    pub(crate) async fn submit_setup_card_step(&self, id: &SetupId, card: CardEntry) -> HostedStep {
        step_of(retry!(self, self.try_submit_setup_card(id, &card)))
    }

    /// The buyer answered the setup's challenge.
    pub(crate) async fn authenticate_setup_step(
        &self,
        id: &SetupId,
        outcome: ChallengeOutcome,
    ) -> HostedStep {
        step_of(retry!(self, self.try_authenticate_setup(id, outcome)))
    }

    /// Locks the setup if it still waits for the buyer.
    pub(crate) async fn lock_setup_retrying(&self, id: &SetupId) -> Result<bool, Error> {
        retry!(self, self.try_lock_setup(id))
    }

    async fn try_lock_setup(&self, id: &SetupId) -> Result<bool, EngineError> {
        let (_, record) = self.find_setup(id).await?;
        let record = self.expire_setup_if_due(record).await?;
        if record.setup.status.is_terminal() {
            return Ok(false);
        }
        self.commit_setup(&record, SetupInput::Lock, WriteSet::default())
            .await?;
        Ok(true)
    }

    /// What the setup page shows.
    pub(crate) async fn setup_page_retrying(&self, id: &SetupId) -> Result<HostedView, Error> {
        retry!(self, self.try_setup_page(id))
    }
}
