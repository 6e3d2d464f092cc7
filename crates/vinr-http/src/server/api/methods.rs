//! A customer's saved methods (api.md §4).

use axum::extract::State;
use vinr_domain::ids::{CustomerId, PaymentMethodId};
use vinr_domain::method::PaymentMethod;
use vinr_ports::api::MethodsApi;
use vinr_ports::params::{List, ListParams};

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Ctx, PathId, PathIds, Query, Reply};

/// `GET /v1/customers/{id}/methods`.
pub(super) async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(customer): PathId<CustomerId>,
    Query(params): Query<ListParams<PaymentMethodId>>,
) -> ApiResult<Reply<List<PaymentMethod>>> {
    Ok(Reply(
        state.engine().list_methods(&ctx, &customer, params).await?,
    ))
}

/// `GET /v1/customers/{id}/methods/{pm}`.
pub(super) async fn retrieve(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathIds(customer, id): PathIds<CustomerId, PaymentMethodId>,
) -> ApiResult<Reply<PaymentMethod>> {
    Ok(Reply(
        state.engine().retrieve_method(&ctx, &customer, &id).await?,
    ))
}

/// `DELETE /v1/customers/{id}/methods/{pm}`.
pub(super) async fn detach(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathIds(customer, id): PathIds<CustomerId, PaymentMethodId>,
) -> ApiResult<Reply<PaymentMethod>> {
    Ok(Reply(
        state.engine().detach_method(&ctx, &customer, &id).await?,
    ))
}
