//! A customer's saved methods: list, retrieve, detach; and saving a vaulted card to a customer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use vinr_domain::event::EventType;
use vinr_domain::ids::{CustomerId, PaymentMethodId};
use vinr_domain::method::{PaymentMethod, PendingCard, StoredMethod};
use vinr_ports::api::MethodsApi;
use vinr_ports::event::EventObject;
use vinr_ports::params::{List, ListParams};
use vinr_ports::store::{PageRequest, Write, WriteSet};
use vinr_ports::{Error, Mode, RequestContext};

use crate::Engine;
use crate::core::{EngineError, previous_attributes, retry};

impl Engine {
    /// Reads a method attached to `customer`, or answers `resource_missing`.
    async fn load_attached_method(
        &self,
        mode: Mode,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<StoredMethod, EngineError> {
        self.load_customer(mode, customer, None).await?;
        match self.ports().store.method(mode, id).await? {
            Some(m) if m.is_attached_to(customer) => Ok(m),
            Some(_) | None => Err(Error::not_found("payment method", id.as_str(), None).into()),
        }
    }

    /// Saves a vaulted card to a customer inside `ws`: the method already attached with the
    /// same fingerprint is reused (its expiry refreshed, `payment_method.updated` if that
    /// changed what the merchant sees), else a new method is attached
    /// (`payment_method.attached`). Returns the method's id.
    pub(crate) async fn save_card(
        &self,
        mode: Mode,
        customer: &CustomerId,
        card: PendingCard,
        authenticated: bool,
        now: DateTime<Utc>,
        ws: &mut WriteSet,
    ) -> Result<PaymentMethodId, EngineError> {
        let livemode = mode.livemode();
        // The customer must still exist when the method is saved; the check makes a delete
        // that commits first conflict with this write set.
        let owner = self.load_customer(mode, customer, None).await?;
        ws.customers.push(Write::Check {
            expected: owner.version,
            value: owner,
        });
        if let Some(existing) = self
            .ports()
            .store
            .method_by_fingerprint(mode, customer, &card.fingerprint)
            .await?
        {
            if let Some(next) = existing.refreshed(card.summary.expiry, None, authenticated) {
                if existing.visible_change(&next) {
                    ws.events.push(self.event(
                        EventType::PaymentMethodUpdated,
                        EventObject::PaymentMethod(next.method.clone()),
                        previous_attributes(&existing.method, &next.method),
                        livemode,
                        now,
                    ));
                }
                ws.methods.push(Write::Update {
                    expected: existing.method.version,
                    value: next,
                });
            }
            return Ok(existing.method.id);
        }
        let method = StoredMethod::new(
            PaymentMethodId::from_entropy(&self.entropy()),
            Some(customer.clone()),
            card,
            authenticated,
            livemode,
            now,
        );
        let id = method.method.id.clone();
        ws.events.push(self.event(
            EventType::PaymentMethodAttached,
            EventObject::PaymentMethod(method.method.clone()),
            None,
            livemode,
            now,
        ));
        ws.methods.push(Write::Insert(method));
        Ok(id)
    }

    /// Keeps a vaulted card used for one payment without saving it to anyone.
    pub(crate) fn keep_unattached_card(
        &self,
        mode: Mode,
        card: PendingCard,
        now: DateTime<Utc>,
        ws: &mut WriteSet,
    ) -> PaymentMethodId {
        let method = StoredMethod::new(
            PaymentMethodId::from_entropy(&self.entropy()),
            None,
            card,
            false,
            mode.livemode(),
            now,
        );
        let id = method.method.id.clone();
        ws.methods.push(Write::Insert(method));
        id
    }

    async fn try_list_methods(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: &ListParams<PaymentMethodId>,
    ) -> Result<List<PaymentMethod>, EngineError> {
        let limit = Self::limit(params.limit)?;
        self.load_customer(ctx.mode, customer, None).await?;
        let page = self
            .ports()
            .store
            .customer_methods(
                ctx.mode,
                customer,
                PageRequest {
                    limit,
                    starting_after: params.starting_after.clone(),
                },
            )
            .await?;
        Ok(List {
            data: page.items.into_iter().map(|m| m.method).collect(),
            has_more: page.has_more,
        })
    }

    async fn try_detach_method(
        &self,
        ctx: &RequestContext,
        customer_id: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, EngineError> {
        let method = self.load_attached_method(ctx.mode, customer_id, id).await?;
        let customer = self.load_customer(ctx.mode, customer_id, None).await?;
        let Some(detached) = method.detached() else {
            return Err(Error::not_found("payment method", id.as_str(), None).into());
        };
        let now = self.now();
        let mut ws = WriteSet::default();
        if let Some(next) = customer.without_method(id) {
            ws.customers.push(Write::Update {
                expected: customer.version,
                value: next,
            });
        }
        ws.events.push(self.event(
            EventType::PaymentMethodDetached,
            EventObject::PaymentMethod(detached.method.clone()),
            None,
            ctx.mode.livemode(),
            now,
        ));
        let out = detached.method.clone();
        ws.methods.push(Write::Update {
            expected: method.method.version,
            value: detached,
        });
        self.ports().store.commit(ws).await?;
        Ok(out)
    }
}

#[async_trait]
impl MethodsApi for Engine {
    async fn list_methods(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        params: ListParams<PaymentMethodId>,
    ) -> Result<List<PaymentMethod>, Error> {
        Ok(self.try_list_methods(ctx, customer, &params).await?)
    }

    async fn retrieve_method(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, Error> {
        Ok(self
            .load_attached_method(ctx.mode, customer, id)
            .await?
            .method)
    }

    async fn detach_method(
        &self,
        ctx: &RequestContext,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod, Error> {
        retry!(self, self.try_detach_method(ctx, customer, id))
    }
}
