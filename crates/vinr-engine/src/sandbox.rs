//! The sandbox helpers: attach a test card, simulate the network updater, run the expiry scan.

use async_trait::async_trait;
use vinr_domain::card::Expiry;
use vinr_domain::error::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::{CustomerId, PaymentMethodId};
use vinr_domain::method::{MethodState, PaymentMethod};
use vinr_ports::api::SandboxApi;
use vinr_ports::event::EventObject;
use vinr_ports::params::{AttachTestCard, ExpiringScan, NetworkUpdate, ScanResult};
use vinr_ports::store::{IdempotencyState, PageRequest, Write, WriteSet};
use vinr_ports::{Error, Mode, RequestContext};

use crate::Engine;
use crate::cards::check_helper_card;
use crate::core::{
    Begin, EngineError, encode_outcome, idem_write, previous_attributes, record_done, retry,
};

/// How many methods the expiry scan reads and commits at a time.
const SCAN_PAGE: usize = 100;

fn sandbox_only(mode: Mode) -> Result<(), EngineError> {
    match mode {
        Mode::Test => Ok(()),
        Mode::Live => Err(Error::InvalidRequest {
            code: InvalidRequestCode::LivemodeMismatch,
            param: None,
            message: "test helpers exist in sandbox mode only".to_owned(),
        }
        .into()),
    }
}

impl Engine {
    async fn try_attach_test_card(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: &AttachTestCard,
    ) -> Result<PaymentMethod, EngineError> {
        sandbox_only(ctx.mode)?;
        let request = (customer, params);
        let idem = match self.begin(ctx, "attach_test_card", &request).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        self.load_customer(ctx.mode, customer, None).await?;
        let now = self.now();
        let card = match check_helper_card(
            ctx.mode,
            &params.number,
            params.exp_month,
            params.exp_year,
            params.cvc.as_deref(),
            now.date_naive(),
        ) {
            Ok(card) => card,
            // A refused card is a 402, and 402s are recorded under the key like successes.
            Err(EngineError::Api(e @ Error::Card { .. })) => {
                if let Some(k) = &idem {
                    let outcome = encode_outcome::<PaymentMethod>(&Err(e.clone()));
                    let ws = WriteSet {
                        idempotency: vec![idem_write(k, IdempotencyState::Done { outcome }, now)],
                        ..WriteSet::default()
                    };
                    self.ports().store.commit(ws).await?;
                }
                return Err(e.into());
            }
            Err(other) => return Err(other),
        };
        let pending = self.vault_card(&card)?;
        let mut ws = WriteSet::default();
        let id = self
            .save_card(ctx.mode, customer, pending, false, now, &mut ws)
            .await?;
        let method = match ws.methods.iter().find(|w| w.value().method.id == id) {
            Some(w) => w.value().method.clone(),
            // Re-entered with nothing changed: the stored method, as it is.
            None => {
                self.ports()
                    .store
                    .method(ctx.mode, &id)
                    .await?
                    .ok_or_else(|| Error::internal("a saved method vanished"))?
                    .method
            }
        };
        if let Some(k) = &idem {
            let outcome = encode_outcome::<PaymentMethod>(&Ok(method.clone()));
            ws.idempotency
                .push(idem_write(k, IdempotencyState::Done { outcome }, now));
        }
        self.ports().store.commit(ws).await?;
        Ok(method)
    }

    async fn try_network_update(
        &self,
        ctx: &RequestContext,
        id: &PaymentMethodId,
        params: &NetworkUpdate,
    ) -> Result<PaymentMethod, EngineError> {
        sandbox_only(ctx.mode)?;
        let idem = match self.begin(ctx, "network_update", &(id, params)).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let expiry = Expiry::new(params.exp_month, params.exp_year).map_err(|e| {
            let param = match e {
                vinr_domain::card::ExpiryError::InvalidMonth => "expMonth",
                vinr_domain::card::ExpiryError::InvalidYear
                | vinr_domain::card::ExpiryError::Malformed => "expYear",
            };
            Error::invalid(InvalidRequestCode::ParameterInvalid, param, e.to_string())
        })?;
        if let Some(l) = &params.last4
            && (l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "last4",
                "last4 must be 4 digits",
            )
            .into());
        }
        let method = self
            .ports()
            .store
            .method(ctx.mode, id)
            .await?
            .ok_or_else(|| Error::not_found("payment method", id.as_str(), None))?;
        if method.state != MethodState::Attached {
            return Err(Error::invalid(
                InvalidRequestCode::PaymentMethodDetached,
                "paymentMethod",
                "the payment method is detached",
            )
            .into());
        }
        let now = self.now();
        let Some(next) = method.refreshed(expiry, params.last4.as_deref(), false) else {
            let mut ws = WriteSet::default();
            record_done(&mut ws, idem.as_ref(), &method.method, now);
            if !ws.is_empty() {
                self.ports().store.commit(ws).await?;
            }
            return Ok(method.method);
        };
        let mut ws = WriteSet {
            events: vec![self.event(
                EventType::PaymentMethodUpdated,
                EventObject::PaymentMethod(next.method.clone()),
                previous_attributes(&method.method, &next.method),
                ctx.mode.livemode(),
                now,
            )],
            methods: vec![Write::Update {
                expected: method.method.version,
                value: next.clone(),
            }],
            ..WriteSet::default()
        };
        record_done(&mut ws, idem.as_ref(), &next.method, now);
        self.ports().store.commit(ws).await?;
        Ok(next.method)
    }

    /// One page of the expiry scan: the notices due among `SCAN_PAGE` methods after `cursor`.
    async fn try_scan_page(
        &self,
        mode: Mode,
        as_of: chrono::NaiveDate,
        cursor: Option<PaymentMethodId>,
    ) -> Result<(u64, Option<PaymentMethodId>), EngineError> {
        let page = self
            .ports()
            .store
            .attached_methods(
                mode,
                PageRequest {
                    limit: SCAN_PAGE,
                    starting_after: cursor,
                },
            )
            .await?;
        let next_cursor = if page.has_more {
            page.items.last().map(|m| m.method.id.clone())
        } else {
            None
        };
        let now = self.now();
        let mut ws = WriteSet::default();
        for m in &page.items {
            if let Some(notified) = m.expiry_notice_due(as_of, self.config().expiry_notice_days) {
                ws.events.push(self.event(
                    EventType::PaymentMethodExpiring,
                    EventObject::PaymentMethod(notified.method.clone()),
                    None,
                    mode.livemode(),
                    now,
                ));
                ws.methods.push(Write::Update {
                    expected: m.method.version,
                    value: notified,
                });
            }
        }
        let emitted = ws.events.len() as u64;
        if !ws.is_empty() {
            self.ports().store.commit(ws).await?;
        }
        Ok((emitted, next_cursor))
    }

    async fn try_expiring_scan(
        &self,
        ctx: &RequestContext,
        params: &ExpiringScan,
    ) -> Result<ScanResult, EngineError> {
        let idem = match self.begin(ctx, "expiring_scan", params).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let result = ScanResult {
            emitted: self.run_expiry_scan(ctx.mode, params.as_of).await?,
        };
        // The scan commits page by page and is idempotent by itself (one notice per method
        // and expiry); the key records its answer for replays.
        let mut ws = WriteSet::default();
        record_done(&mut ws, idem.as_ref(), &result, self.now());
        if !ws.is_empty() {
            self.ports().store.commit(ws).await?;
        }
        Ok(result)
    }

    /// Runs the expiry scan for one mode as if today were `as_of`: emits
    /// `payment_method.expiring` once per method and expiry. Returns how many were emitted.
    pub async fn run_expiry_scan(
        &self,
        mode: Mode,
        as_of: chrono::NaiveDate,
    ) -> Result<u64, Error> {
        let mut emitted = 0;
        let mut cursor = None;
        loop {
            let (n, next) = retry!(self, self.try_scan_page(mode, as_of, cursor.clone()))?;
            emitted += n;
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(emitted),
            }
        }
    }
}

#[async_trait]
impl SandboxApi for Engine {
    async fn attach_test_card(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: AttachTestCard,
    ) -> Result<PaymentMethod, Error> {
        retry!(self, self.try_attach_test_card(ctx, customer, &params))
    }

    async fn network_update(
        &self,
        ctx: &RequestContext,
        id: &PaymentMethodId,
        params: NetworkUpdate,
    ) -> Result<PaymentMethod, Error> {
        retry!(self, self.try_network_update(ctx, id, &params))
    }

    async fn expiring_scan(
        &self,
        ctx: &RequestContext,
        params: ExpiringScan,
    ) -> Result<ScanResult, Error> {
        sandbox_only(ctx.mode)?;
        retry!(self, self.try_expiring_scan(ctx, &params))
    }
}
