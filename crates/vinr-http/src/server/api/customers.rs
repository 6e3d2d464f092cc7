//! Customers (api.md §2).

use axum::extract::State;
use vinr_domain::customer::Customer;
use vinr_domain::ids::CustomerId;
use vinr_ports::api::CustomersApi;
use vinr_ports::params::{CreateCustomer, DeletedCustomer, List, ListCustomers, UpdateCustomer};

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Body, Ctx, PathId, Query, Reply};

/// `POST /v1/customers`.
pub(super) async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Body(params): Body<CreateCustomer>,
) -> ApiResult<Reply<Customer>> {
    Ok(Reply(state.engine().create_customer(&ctx, params).await?))
}

/// `GET /v1/customers`.
pub(super) async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(params): Query<ListCustomers>,
) -> ApiResult<Reply<List<Customer>>> {
    Ok(Reply(state.engine().list_customers(&ctx, params).await?))
}

/// `GET /v1/customers/{id}`.
pub(super) async fn retrieve(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<CustomerId>,
) -> ApiResult<Reply<Customer>> {
    Ok(Reply(state.engine().retrieve_customer(&ctx, &id).await?))
}

/// `PATCH /v1/customers/{id}`.
pub(super) async fn update(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<CustomerId>,
    Body(params): Body<UpdateCustomer>,
) -> ApiResult<Reply<Customer>> {
    Ok(Reply(
        state.engine().update_customer(&ctx, &id, params).await?,
    ))
}

/// `DELETE /v1/customers/{id}`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<CustomerId>,
) -> ApiResult<Reply<DeletedCustomer>> {
    Ok(Reply(state.engine().delete_customer(&ctx, &id).await?))
}
