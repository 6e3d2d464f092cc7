//! Customers: create, retrieve, update, delete, list.

use async_trait::async_trait;
use vinr_domain::customer::{Customer, CustomerChanges, CustomerFields};
use vinr_domain::error::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::{CustomerId, PaymentMethodId};
use vinr_domain::method::{MethodUseError, StoredMethod};
use vinr_ports::api::CustomersApi;
use vinr_ports::event::EventObject;
use vinr_ports::params::{
    CreateCustomer, Deleted, DeletedCustomer, List, ListCustomers, UpdateCustomer,
};
use vinr_ports::store::{PageRequest, Write, WriteSet};
use vinr_ports::{Error, Mode, RequestContext};

use crate::Engine;
use crate::core::{Begin, EngineError, encode_outcome, idem_write, previous_attributes, retry};

impl Engine {
    /// Reads a customer or answers `resource_missing`.
    pub(crate) async fn load_customer(
        &self,
        mode: Mode,
        id: &CustomerId,
        param: Option<&str>,
    ) -> Result<Customer, EngineError> {
        self.ports()
            .store
            .customer(mode, id)
            .await?
            .ok_or_else(|| EngineError::Api(Error::not_found("customer", id.as_str(), param)))
    }

    /// Every method attached to a customer.
    pub(crate) async fn all_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
    ) -> Result<Vec<StoredMethod>, EngineError> {
        let mut out = Vec::new();
        let mut cursor: Option<PaymentMethodId> = None;
        loop {
            let page = self
                .ports()
                .store
                .customer_methods(
                    mode,
                    customer,
                    PageRequest {
                        limit: 100,
                        starting_after: cursor.clone(),
                    },
                )
                .await?;
            cursor = page.items.last().map(|m| m.method.id.clone());
            out.extend(page.items);
            if !page.has_more || cursor.is_none() {
                return Ok(out);
            }
        }
    }

    async fn try_create_customer(
        &self,
        ctx: &RequestContext,
        params: &CreateCustomer,
    ) -> Result<Customer, EngineError> {
        let idem = match self.begin(ctx, "create_customer", params).await? {
            Begin::Replay(r) => return Ok(r?),
            Begin::Fresh(k) => k,
        };
        let fields = CustomerFields::parse(
            params.email.clone(),
            params.name.clone(),
            params.phone.clone(),
            params.address.clone(),
            params.metadata.clone(),
        )?;
        let now = self.now();
        let livemode = ctx.mode.livemode();
        let customer = Customer::new(
            CustomerId::from_entropy(&self.entropy()),
            fields,
            livemode,
            now,
        );
        let mut ws = WriteSet::default();
        ws.customers.push(Write::Insert(customer.clone()));
        ws.events.push(self.event(
            EventType::CustomerCreated,
            EventObject::Customer(customer.clone()),
            None,
            livemode,
            now,
        ));
        if let Some(k) = &idem {
            let outcome = encode_outcome::<Customer>(&Ok(customer.clone()));
            ws.idempotency.push(idem_write(
                k,
                vinr_ports::store::IdempotencyState::Done { outcome },
                now,
            ));
        }
        self.ports().store.commit(ws).await?;
        Ok(customer)
    }

    async fn try_update_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
        params: &UpdateCustomer,
    ) -> Result<Customer, EngineError> {
        let customer = self.load_customer(ctx.mode, id, None).await?;
        if let Some(Some(pm)) = &params.default_method_id {
            let method = self
                .ports()
                .store
                .method(ctx.mode, pm)
                .await?
                .ok_or_else(|| {
                    Error::not_found("payment method", pm.as_str(), Some("defaultMethodId"))
                })?;
            method.usable_by(id).map_err(|e| {
                let code = match e {
                    MethodUseError::Detached => InvalidRequestCode::PaymentMethodDetached,
                    MethodUseError::CustomerMismatch => {
                        InvalidRequestCode::PaymentMethodCustomerMismatch
                    }
                };
                Error::invalid(code, "defaultMethodId", e.to_string())
            })?;
        }
        let next = customer.updated(CustomerChanges {
            email: params.email.clone(),
            name: params.name.clone(),
            phone: params.phone.clone(),
            address: params.address.clone(),
            metadata: params.metadata.clone(),
            default_method_id: params.default_method_id.clone(),
        })?;
        let Some(previous) = previous_attributes(&customer, &next) else {
            // Nothing visible changes: no new version, no event.
            return Ok(customer);
        };
        let now = self.now();
        let mut ws = WriteSet::default();
        ws.customers.push(Write::Update {
            expected: customer.version,
            value: next.clone(),
        });
        ws.events.push(self.event(
            EventType::CustomerUpdated,
            EventObject::Customer(next.clone()),
            Some(previous),
            next.livemode,
            now,
        ));
        self.ports().store.commit(ws).await?;
        Ok(next)
    }

    async fn try_delete_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<DeletedCustomer, EngineError> {
        let customer = self.load_customer(ctx.mode, id, None).await?;
        let methods = self.all_methods(ctx.mode, id).await?;
        let now = self.now();
        let mut ws = WriteSet::default();
        for m in methods {
            if let Some(detached) = m.detached() {
                ws.events.push(self.event(
                    EventType::PaymentMethodDetached,
                    EventObject::PaymentMethod(detached.method.clone()),
                    None,
                    customer.livemode,
                    now,
                ));
                ws.methods.push(Write::Update {
                    expected: m.method.version,
                    value: detached,
                });
            }
        }
        ws.events.push(self.event(
            EventType::CustomerDeleted,
            EventObject::Customer(customer.clone()),
            None,
            customer.livemode,
            now,
        ));
        ws.customers.push(Write::Delete {
            expected: customer.version,
            value: customer,
        });
        self.ports().store.commit(ws).await?;
        Ok(Deleted {
            id: id.clone(),
            object: "customer".to_owned(),
            deleted: true,
        })
    }

    async fn try_list_customers(
        &self,
        ctx: &RequestContext,
        params: &ListCustomers,
    ) -> Result<List<Customer>, EngineError> {
        let limit = Self::limit(params.limit)?;
        if let Some(email) = &params.email {
            vinr_domain::limits::check_email_filter(email)?;
        }
        let page = self
            .ports()
            .store
            .customers(
                ctx.mode,
                params.email.clone(),
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
impl CustomersApi for Engine {
    async fn create_customer(
        &self,
        ctx: &RequestContext,
        params: CreateCustomer,
    ) -> Result<Customer, Error> {
        retry!(self, self.try_create_customer(ctx, &params))
    }

    async fn retrieve_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<Customer, Error> {
        Ok(self.load_customer(ctx.mode, id, None).await?)
    }

    async fn update_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
        params: UpdateCustomer,
    ) -> Result<Customer, Error> {
        retry!(self, self.try_update_customer(ctx, id, &params))
    }

    async fn delete_customer(
        &self,
        ctx: &RequestContext,
        id: &CustomerId,
    ) -> Result<DeletedCustomer, Error> {
        retry!(self, self.try_delete_customer(ctx, id))
    }

    async fn list_customers(
        &self,
        ctx: &RequestContext,
        params: ListCustomers,
    ) -> Result<List<Customer>, Error> {
        Ok(self.try_list_customers(ctx, &params).await?)
    }
}
