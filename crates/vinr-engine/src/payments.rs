//! Payments: create (and charge, in two phases), retrieve, list, cancel; the hosted payment
//! page and its 3-D Secure branch.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use vinr_domain::customer::{Metadata, parse_text};
use vinr_domain::error::{CardErrorCode, CardFailure, DeclineCode, InvalidRequestCode};
use vinr_domain::ids::{PaymentId, PaymentMethodId};
use vinr_domain::method::MethodUseError;
use vinr_domain::money::{Currency, Money};
use vinr_domain::payment::{
    CardSource, NewPayment, Payment, PaymentInput, PaymentRecord, PaymentStatus, Transition,
};
use vinr_domain::url::{append_query, parse_http_url};
use vinr_ports::api::PaymentsApi;
use vinr_ports::event::EventObject;
use vinr_ports::network::{AuthorizationKind, AuthorizationRequest, NetworkAnswer};
use vinr_ports::params::{
    CardEntry, ChallengeOutcome, CreatePayment, HostedOutcome, HostedStage, HostedView, List,
    ListPayments,
};
use vinr_ports::store::{IdempotencyState, PageRequest, Write, WriteSet};
use vinr_ports::{Error, Mode, RequestContext};

use crate::Engine;
use crate::cards::{CardProblem, check_typed_card};
use crate::core::{
    Begin, EngineError, IdemKey, encode_outcome, idem_write, payment_result, record_done, retry,
    transition_error,
};
use crate::hosted::{HostedStep, failed_step, step_of};
use crate::setups::gone;

/// What a recovery sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Payments finished (their outcome committed).
    pub finished: usize,
    /// Payments still in `processing` (to be tried again by the next sweep).
    pub still_stuck: usize,
}

/// A description has at most this many characters.
const DESCRIPTION_MAX_CHARS: usize = 1000;

fn network_down() -> EngineError {
    EngineError::Api(Error::internal(
        "the card network did not answer; the payment stays processing until it does — retry with the same idempotency key",
    ))
}

impl Engine {
    async fn load_payment(&self, mode: Mode, id: &PaymentId) -> Result<PaymentRecord, EngineError> {
        self.ports()
            .store
            .payment(mode, id)
            .await?
            .ok_or_else(|| EngineError::Api(Error::not_found("payment", id.as_str(), None)))
    }

    /// Finds a payment in either mode (hosted pages have no API key).
    async fn find_payment(&self, id: &PaymentId) -> Result<PaymentRecord, EngineError> {
        for mode in [Mode::Test, Mode::Live] {
            if let Some(r) = self.ports().store.payment(mode, id).await? {
                return Ok(r);
            }
        }
        Err(Error::not_found("payment", id.as_str(), None).into())
    }

    /// Adds a payment transition (the update and its events) to a write set.
    fn push_transition(
        &self,
        before: Option<&PaymentRecord>,
        t: &Transition<PaymentRecord>,
        now: DateTime<Utc>,
        ws: &mut WriteSet,
    ) {
        for kind in &t.events {
            ws.events.push(self.event(
                *kind,
                EventObject::Payment(t.record.payment.clone()),
                None,
                t.record.payment.livemode,
                now,
            ));
        }
        ws.payments.push(match before {
            Some(b) => Write::Update {
                expected: b.payment.version,
                value: t.record.clone(),
            },
            None => Write::Insert(t.record.clone()),
        });
    }

    /// Applies one input and commits it (with `ws`'s other writes).
    async fn commit_payment(
        &self,
        before: &PaymentRecord,
        input: PaymentInput,
        mut ws: WriteSet,
    ) -> Result<PaymentRecord, EngineError> {
        let now = self.now();
        let t = before
            .apply_with_limit(input, now, self.config().hosted_max_attempts)
            .map_err(transition_error)?;
        self.push_transition(Some(before), &t, now, &mut ws);
        self.ports().store.commit(ws).await?;
        Ok(t.record)
    }

    /// Cancels an open payment whose time is up.
    async fn expire_payment_if_due(
        &self,
        record: PaymentRecord,
    ) -> Result<PaymentRecord, EngineError> {
        if !record.is_expired(self.now()) {
            return Ok(record);
        }
        self.commit_payment(&record, PaymentInput::Expire, WriteSet::default())
            .await
    }

    /// Phase 2 of a charge: commits the network's answer for `attempt` (with the idempotency
    /// outcome), unless someone else (recovery, a concurrent retry) already finished it.
    async fn finish_attempt(
        &self,
        mode: Mode,
        id: &PaymentId,
        attempt: u32,
        answer: NetworkAnswer,
        idem: Option<&IdemKey>,
        authenticated: bool,
    ) -> Result<PaymentRecord, EngineError> {
        let record = self.load_payment(mode, id).await?;
        if record.attempt != attempt {
            return Ok(record);
        }
        self.finish_read_attempt(mode, record, answer, idem, authenticated)
            .await
    }

    /// [`Self::finish_attempt`] from the payment as the caller last read or wrote it, which
    /// spares phase 2 of a charge a read; a conflict reads it again.
    async fn finish_read_attempt(
        &self,
        mode: Mode,
        mut record: PaymentRecord,
        answer: NetworkAnswer,
        idem: Option<&IdemKey>,
        authenticated: bool,
    ) -> Result<PaymentRecord, EngineError> {
        let id = record.payment.id.clone();
        let attempt = record.attempt;
        for round in 0..self.config().max_attempts {
            if round > 0 {
                record = self.load_payment(mode, &id).await?;
            }
            if record.payment.status != PaymentStatus::Processing || record.attempt != attempt {
                return Ok(record);
            }
            let now = self.now();
            let mut ws = WriteSet::default();
            let input = match answer {
                NetworkAnswer::Approved => {
                    let method = match (&record.card_source, &record.pending_card) {
                        (Some(CardSource::Hosted), Some(card)) => Some(
                            self.keep_hosted_card(
                                mode,
                                &record,
                                card.clone(),
                                authenticated,
                                now,
                                &mut ws,
                            )
                            .await?,
                        ),
                        _ => None,
                    };
                    PaymentInput::Approved { method }
                }
                NetworkAnswer::Declined(f) => PaymentInput::Declined(f),
                NetworkAnswer::ChallengeRequired => PaymentInput::ChallengeRequired {
                    url: self.hosted_url(&format!("authenticate/{id}")),
                },
                // Only `complete_challenge(.., false)` answers this, and that path fails the
                // payment without a processing phase; treat a stray one as a decline.
                NetworkAnswer::AuthenticationFailed => {
                    PaymentInput::Declined(CardFailure::declined(DeclineCode::GenericDecline))
                }
            };
            let t = record
                .apply_with_limit(input, now, self.config().hosted_max_attempts)
                .map_err(transition_error)?;
            self.push_transition(Some(&record), &t, now, &mut ws);
            if let Some(k) = idem {
                let outcome = encode_outcome(&payment_result(&t.record));
                ws.idempotency
                    .push(idem_write(k, IdempotencyState::Done { outcome }, now));
            }
            match self.ports().store.commit(ws).await {
                Ok(()) => return Ok(t.record),
                Err(vinr_ports::store::StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Conflict)
    }

    /// The method a card typed on the hosted page becomes once approved: saved to the
    /// customer when asked, else kept unattached.
    async fn keep_hosted_card(
        &self,
        mode: Mode,
        record: &PaymentRecord,
        card: vinr_domain::method::PendingCard,
        authenticated: bool,
        now: DateTime<Utc>,
        ws: &mut WriteSet,
    ) -> Result<PaymentMethodId, EngineError> {
        if let (Some(customer), true) = (
            &record.payment.customer_id,
            record.payment.save_payment_method,
        ) {
            // A customer deleted since the payment was created gets nothing saved; the
            // payment itself still goes through.
            if self.ports().store.customer(mode, customer).await?.is_some() {
                return self
                    .save_card(mode, customer, card, authenticated, now, ws)
                    .await;
            }
        }
        Ok(self.keep_unattached_card(mode, card, now, ws))
    }

    async fn try_create_payment(
        &self,
        ctx: &RequestContext,
        params: &CreatePayment,
    ) -> Result<Payment, EngineError> {
        let idem = match self.begin(ctx, "create_payment", params).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let mode = ctx.mode;
        let currency = Currency::parse(&params.currency).map_err(|_| {
            Error::invalid(
                InvalidRequestCode::CurrencyInvalid,
                "currency",
                "currency must be a supported ISO 4217 code",
            )
        })?;
        let money = Money::from_minor(params.amount, currency).map_err(|_| {
            Error::invalid(
                InvalidRequestCode::AmountInvalid,
                "amount",
                "amount must be between 1 and 99999999 minor units",
            )
        })?;
        if params.payment_method_id.is_some() && params.customer_id.is_none() {
            return Err(Error::invalid(
                InvalidRequestCode::ParameterMissing,
                "customerId",
                "paymentMethodId needs the customerId it is attached to",
            )
            .into());
        }
        let description = params
            .description
            .as_deref()
            .map(|d| parse_text("description", d, DESCRIPTION_MAX_CHARS))
            .transpose()?;
        let metadata = Metadata::parse(params.metadata.clone().unwrap_or_default())?;
        let return_url = params
            .return_url
            .as_deref()
            .map(|u| parse_http_url("returnUrl", u))
            .transpose()?;
        let customer = match &params.customer_id {
            Some(id) => Some(self.load_customer(mode, id, Some("customerId")).await?),
            None => None,
        };
        let method_id = params
            .payment_method_id
            .clone()
            .or_else(|| customer.as_ref().and_then(|c| c.default_method_id.clone()));
        let method = match (&method_id, &customer) {
            (Some(pm), Some(customer)) => {
                let param = params
                    .payment_method_id
                    .as_ref()
                    .map_or("customerId", |_| "paymentMethodId");
                let method =
                    self.ports().store.method(mode, pm).await?.ok_or_else(|| {
                        Error::not_found("payment method", pm.as_str(), Some(param))
                    })?;
                method.usable_by(&customer.id).map_err(|e| {
                    let code = match e {
                        MethodUseError::Detached => InvalidRequestCode::PaymentMethodDetached,
                        MethodUseError::CustomerMismatch => {
                            InvalidRequestCode::PaymentMethodCustomerMismatch
                        }
                    };
                    Error::invalid(code, param, e.to_string())
                })?;
                Some(method)
            }
            (Some(_) | None, _) => None,
        };
        let now = self.now();
        let id = PaymentId::from_entropy(&self.entropy());
        let created = PaymentRecord::create(
            NewPayment {
                id: id.clone(),
                money,
                customer_id: customer.as_ref().map(|c| c.id.clone()),
                payment_method_id: method.as_ref().map(|m| m.method.id.clone()),
                off_session: params.off_session,
                description,
                metadata,
                save_payment_method: params.save_payment_method,
                return_url,
                checkout_url: method
                    .is_none()
                    .then(|| self.hosted_url(&format!("pay/{id}"))),
                livemode: mode.livemode(),
            },
            now,
        )
        .map_err(transition_error)?;
        let mut ws = WriteSet::default();
        let Some(method) = method else {
            // No card yet: the buyer brings one on the hosted page.
            self.push_transition(None, &created, now, &mut ws);
            if let Some(k) = &idem {
                let outcome = encode_outcome::<Payment>(&Ok(created.record.payment.clone()));
                ws.idempotency
                    .push(idem_write(k, IdempotencyState::Done { outcome }, now));
            }
            self.ports().store.commit(ws).await?;
            return Ok(created.record.payment);
        };
        let pan = self.open_card(&method.sealed)?;
        let expiry = method
            .method
            .expiry()
            .ok_or_else(|| Error::internal("a stored card has an unreadable expiry"))?;
        if expiry.is_expired(now.date_naive()) {
            // The network would refuse it: fail now, in one commit, without asking.
            let failed = created
                .record
                .apply(
                    PaymentInput::Declined(CardFailure::of(CardErrorCode::ExpiredCard)),
                    now,
                )
                .map_err(transition_error)?;
            self.push_transition(None, &failed, now, &mut ws);
            let result = payment_result(&failed.record);
            if let Some(k) = &idem {
                ws.idempotency.push(idem_write(
                    k,
                    IdempotencyState::Done {
                        outcome: encode_outcome(&result),
                    },
                    now,
                ));
            }
            self.ports().store.commit(ws).await?;
            return Ok(result?);
        }
        // Phase 1: the payment exists, in `processing`, with its key reserved. The method must
        // still be as read: a detach that commits first makes this conflict, and the retry
        // then refuses the detached method, so no charge starts after a detach.
        self.push_transition(None, &created, now, &mut ws);
        ws.methods.push(Write::Check {
            expected: method.method.version,
            value: method.clone(),
        });
        let idem = match idem {
            Some(k) => {
                let reservation = idem_write(
                    &k,
                    IdempotencyState::InFlight {
                        resource: Some(id.to_string()),
                    },
                    now,
                );
                ws.idempotency.push(reservation.clone());
                Some(k.reserved(&reservation))
            }
            None => None,
        };
        self.ports().store.commit(ws).await?;
        let record = created.record;
        let kind = if params.off_session {
            AuthorizationKind::OffSession {
                authenticated: method.authenticated,
            }
        } else {
            AuthorizationKind::OnSession
        };
        let answer = self
            .ports()
            .network
            .authorize(AuthorizationRequest {
                attempt: record.attempt_id(),
                pan,
                cvc: None,
                expiry,
                amount: Some(money),
                kind,
            })
            .await
            .map_err(|_| network_down())?;
        // Phase 2.
        let done = self
            .finish_read_attempt(mode, record, answer, idem.as_ref(), false)
            .await?;
        Ok(payment_result(&done)?)
    }

    async fn try_retrieve_payment(
        &self,
        ctx: &RequestContext,
        id: &PaymentId,
    ) -> Result<Payment, EngineError> {
        let record = self.load_payment(ctx.mode, id).await?;
        Ok(self.expire_payment_if_due(record).await?.payment)
    }

    async fn try_cancel_payment(
        &self,
        ctx: &RequestContext,
        id: &PaymentId,
    ) -> Result<Payment, EngineError> {
        let idem = match self.begin(ctx, "cancel_payment", id).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let record = self.load_payment(ctx.mode, id).await?;
        let record = self.expire_payment_if_due(record).await?;
        let now = self.now();
        let t = record
            .apply(PaymentInput::Cancel, now)
            .map_err(transition_error)?;
        let mut ws = WriteSet::default();
        self.push_transition(Some(&record), &t, now, &mut ws);
        record_done(&mut ws, idem.as_ref(), &t.record.payment, now);
        self.ports().store.commit(ws).await?;
        Ok(t.record.payment)
    }

    async fn try_list_payments(
        &self,
        ctx: &RequestContext,
        params: &ListPayments,
    ) -> Result<List<Payment>, EngineError> {
        let limit = Self::limit(params.limit)?;
        let page = self
            .ports()
            .store
            .payments(
                ctx.mode,
                params.customer_id.clone(),
                params.status,
                PageRequest {
                    limit,
                    starting_after: params.starting_after.clone(),
                },
            )
            .await?;
        Ok(List {
            data: page.items.into_iter().map(|r| r.payment).collect(),
            has_more: page.has_more,
        })
    }

    /// Where the hosted payment page sends the buyer once the payment has moved on.
    fn payment_outcome(record: &PaymentRecord) -> HostedOutcome {
        let p = &record.payment;
        let done = |status: &str, message: &str| match &p.return_url {
            Some(url) => HostedOutcome::Redirect {
                url: append_query(url, &[("payment", p.id.as_str()), ("status", status)]),
            },
            None => HostedOutcome::Done {
                message: message.to_owned(),
            },
        };
        match p.status {
            PaymentStatus::Succeeded => {
                done("succeeded", "Payment succeeded. You can close this page.")
            }
            PaymentStatus::Failed => done("failed", "The payment failed."),
            PaymentStatus::Canceled => done("canceled", "The payment was canceled."),
            PaymentStatus::RequiresPaymentMethod => HostedOutcome::Retry {
                message: p.last_error.as_ref().map_or_else(
                    || "Your card was declined.".to_owned(),
                    |e| e.message.clone(),
                ),
            },
            PaymentStatus::RequiresAction => HostedOutcome::Challenge {
                url: p
                    .next_action
                    .as_ref()
                    .map(|a| a.url.clone())
                    .unwrap_or_default(),
            },
            PaymentStatus::Processing => HostedOutcome::Done {
                message: "The payment is being processed.".to_owned(),
            },
        }
    }

    async fn try_submit_payment_card(
        &self,
        id: &PaymentId,
        entry: &CardEntry,
    ) -> Result<HostedStep, EngineError> {
        let record = self.find_payment(id).await?;
        let record = self.expire_payment_if_due(record).await?;
        if record.payment.status != PaymentStatus::RequiresPaymentMethod {
            return Err(gone());
        }
        let mode = if record.payment.livemode {
            Mode::Live
        } else {
            Mode::Test
        };
        let now = self.now();
        let card = match check_typed_card(mode, entry, now.date_naive()) {
            Ok(card) => card,
            Err(CardProblem::Invalid(e)) => {
                return Ok(HostedStep::ok(HostedOutcome::Retry {
                    message: e.to_string(),
                }));
            }
            Err(CardProblem::Failed(f, hint)) => {
                let next = self
                    .commit_payment(&record, PaymentInput::CardRefused(f), WriteSet::default())
                    .await?;
                return Ok(failed_step(
                    HostedOutcome::Retry {
                        message: CardProblem::buyer_message(f, hint),
                    },
                    next.is_locked(),
                ));
            }
        };
        let pending = self.vault_card(&card)?;
        // Phase 1.
        let entered = self
            .commit_payment(
                &record,
                PaymentInput::CardEntered { card: pending },
                WriteSet::default(),
            )
            .await?;
        let money = entered
            .payment
            .money()
            .ok_or_else(|| Error::internal("a stored payment has an unreadable amount"))?;
        let answer = self
            .ports()
            .network
            .authorize(AuthorizationRequest {
                attempt: entered.attempt_id(),
                pan: card.pan,
                cvc: card.cvc,
                expiry: card.expiry,
                amount: Some(money),
                kind: AuthorizationKind::OnSession,
            })
            .await
            .map_err(|_| network_down())?;
        // Phase 2.
        let done = self
            .finish_attempt(mode, id, entered.attempt, answer, None, false)
            .await?;
        Ok(Self::hosted_step(
            &entered,
            &done,
            Self::payment_outcome(&done),
        ))
    }

    /// The step a hosted attempt from `before` to `after` was: failed when it added a failed
    /// attempt, locked when it locked the payment.
    fn hosted_step(
        before: &PaymentRecord,
        after: &PaymentRecord,
        outcome: HostedOutcome,
    ) -> HostedStep {
        if after.failed_attempts > before.failed_attempts {
            failed_step(outcome, after.is_locked())
        } else {
            HostedStep::ok(outcome)
        }
    }

    async fn try_authenticate_payment(
        &self,
        id: &PaymentId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedStep, EngineError> {
        let record = self.find_payment(id).await?;
        let record = self.expire_payment_if_due(record).await?;
        if record.payment.status != PaymentStatus::RequiresAction {
            return Err(gone());
        }
        let mode = if record.payment.livemode {
            Mode::Live
        } else {
            Mode::Test
        };
        let attempt = record.attempt_id();
        if outcome == ChallengeOutcome::Fail {
            self.ports()
                .network
                .complete_challenge(&attempt, false)
                .await
                .map_err(|_| network_down())?;
            let failed = self
                .commit_payment(
                    &record,
                    PaymentInput::AuthenticationFailed,
                    WriteSet::default(),
                )
                .await?;
            return Ok(Self::hosted_step(
                &record,
                &failed,
                Self::payment_outcome(&failed),
            ));
        }
        // Phase 1: back to processing while the network finishes the authorization.
        let resumed = self
            .commit_payment(
                &record,
                PaymentInput::AuthenticationCompleted,
                WriteSet::default(),
            )
            .await?;
        let answer = self
            .ports()
            .network
            .complete_challenge(&attempt, true)
            .await
            .map_err(|_| network_down())?;
        let done = self
            .finish_attempt(mode, id, resumed.attempt, answer, None, true)
            .await?;
        let outcome = match (done.payment.status, &done.payment.checkout_url) {
            // A hosted card declined after its challenge: back to the card form.
            (PaymentStatus::RequiresPaymentMethod, Some(url)) => {
                HostedOutcome::Redirect { url: url.clone() }
            }
            _ => Self::payment_outcome(&done),
        };
        Ok(Self::hosted_step(&record, &done, outcome))
    }

    async fn try_payment_page(&self, id: &PaymentId) -> Result<HostedView, EngineError> {
        let record = self.find_payment(id).await?;
        let record = self.expire_payment_if_due(record).await?;
        let p = &record.payment;
        let stage = match p.status {
            PaymentStatus::RequiresPaymentMethod => HostedStage::CollectCard,
            PaymentStatus::RequiresAction => HostedStage::Authenticate,
            PaymentStatus::Processing
            | PaymentStatus::Succeeded
            | PaymentStatus::Failed
            | PaymentStatus::Canceled => {
                return Err(gone());
            }
        };
        Ok(HostedView {
            stage,
            amount: p.money().map(|m| m.to_string()),
            description: p.description.clone(),
            last_error: p.last_error.as_ref().map(|e| e.message.clone()),
            livemode: p.livemode,
        })
    }

    /// Finishes payments that a crash (or a lost network answer) left in `processing` for
    /// longer than `older_than`: asks the network for the attempt's answer (authorizing under
    /// the same attempt id if it never saw it, which cannot charge twice) and commits phase 2.
    /// A retry of the original request then replays the outcome. A payment whose answer
    /// cannot be had now (the network is still down) is left for the next sweep and does not
    /// stop the others.
    pub async fn recover_stuck_payments(
        &self,
        older_than: chrono::Duration,
    ) -> Result<RecoveryReport, Error> {
        let before = self.now() - older_than;
        let stuck = self
            .ports()
            .store
            .stuck_payments(before, 100)
            .await
            .map_err(EngineError::from)?;
        let mut report = RecoveryReport::default();
        for record in stuck {
            let mode = if record.payment.livemode {
                Mode::Live
            } else {
                Mode::Test
            };
            // One payment whose answer cannot be had now must not hold up the others: it
            // stays `processing` and the next sweep tries again.
            match self.recover_one(mode, &record).await {
                Ok(done) if done.payment.status != PaymentStatus::Processing => {
                    report.finished += 1
                }
                Ok(_) | Err(_) => report.still_stuck += 1,
            }
        }
        Ok(report)
    }

    async fn recover_one(
        &self,
        mode: Mode,
        record: &PaymentRecord,
    ) -> Result<PaymentRecord, EngineError> {
        let network = &self.ports().network;
        let attempt = record.attempt_id();
        let answer = match network
            .attempt_result(&attempt)
            .await
            .map_err(|_| network_down())?
        {
            Some(NetworkAnswer::ChallengeRequired) if record.challenge_passed => network
                .complete_challenge(&attempt, true)
                .await
                .map_err(|_| network_down())?,
            Some(answer) => answer,
            None => {
                let (sealed, expiry, kind) = match (&record.card_source, &record.pending_card) {
                    (Some(CardSource::Hosted), Some(card)) => (
                        card.sealed.clone(),
                        card.summary.expiry,
                        AuthorizationKind::OnSession,
                    ),
                    _ => {
                        let pm =
                            record.payment.payment_method_id.as_ref().ok_or_else(|| {
                                Error::internal("a processing payment has no method")
                            })?;
                        let method =
                            self.ports().store.method(mode, pm).await?.ok_or_else(|| {
                                Error::internal("a processing payment's method vanished")
                            })?;
                        let expiry = method.method.expiry().ok_or_else(|| {
                            Error::internal("a stored card has an unreadable expiry")
                        })?;
                        let kind = if record.payment.off_session {
                            AuthorizationKind::OffSession {
                                authenticated: method.authenticated,
                            }
                        } else {
                            AuthorizationKind::OnSession
                        };
                        (method.sealed, expiry, kind)
                    }
                };
                network
                    .authorize(AuthorizationRequest {
                        attempt: attempt.clone(),
                        pan: self.open_card(&sealed)?,
                        cvc: None,
                        expiry,
                        amount: record.payment.money(),
                        kind,
                    })
                    .await
                    .map_err(|_| network_down())?
            }
        };
        self.finish_attempt(
            mode,
            &record.payment.id,
            record.attempt,
            answer,
            None,
            record.challenge_passed,
        )
        .await
    }

    /// The buyer submitted a card on the payment page.
    pub(crate) async fn submit_payment_card_step(
        &self,
        id: &PaymentId,
        card: CardEntry,
    ) -> HostedStep {
        step_of(retry!(self, self.try_submit_payment_card(id, &card)))
    }

    /// The buyer answered the payment's challenge.
    pub(crate) async fn authenticate_payment_step(
        &self,
        id: &PaymentId,
        outcome: ChallengeOutcome,
    ) -> HostedStep {
        step_of(retry!(self, self.try_authenticate_payment(id, outcome)))
    }

    /// Locks the payment if it still waits for the buyer.
    pub(crate) async fn lock_payment_retrying(&self, id: &PaymentId) -> Result<bool, Error> {
        retry!(self, self.try_lock_payment(id))
    }

    async fn try_lock_payment(&self, id: &PaymentId) -> Result<bool, EngineError> {
        let record = self.find_payment(id).await?;
        let record = self.expire_payment_if_due(record).await?;
        if !record.awaits_buyer() {
            return Ok(false);
        }
        self.commit_payment(&record, PaymentInput::Lock, WriteSet::default())
            .await?;
        Ok(true)
    }

    /// What the payment page shows.
    pub(crate) async fn payment_page_retrying(&self, id: &PaymentId) -> Result<HostedView, Error> {
        retry!(self, self.try_payment_page(id))
    }
}

#[async_trait]
impl PaymentsApi for Engine {
    async fn create_payment(
        &self,
        ctx: &RequestContext,
        params: CreatePayment,
    ) -> Result<Payment, Error> {
        retry!(self, self.try_create_payment(ctx, &params))
    }

    async fn retrieve_payment(
        &self,
        ctx: &RequestContext,
        id: &PaymentId,
    ) -> Result<Payment, Error> {
        retry!(self, self.try_retrieve_payment(ctx, id))
    }

    async fn list_payments(
        &self,
        ctx: &RequestContext,
        params: ListPayments,
    ) -> Result<List<Payment>, Error> {
        Ok(self.try_list_payments(ctx, &params).await?)
    }

    async fn cancel_payment(&self, ctx: &RequestContext, id: &PaymentId) -> Result<Payment, Error> {
        retry!(self, self.try_cancel_payment(ctx, id))
    }
}
