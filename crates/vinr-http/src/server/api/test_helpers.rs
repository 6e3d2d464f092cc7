//! The sandbox helpers (api.md §4); a live key is answered `livemode_mismatch` by the engine.

use axum::extract::State;
use vinr_domain::ids::{CustomerId, PaymentMethodId};
use vinr_domain::method::PaymentMethod;
use vinr_ports::api::SandboxApi;
use vinr_ports::params::{AttachTestCard, ExpiringScan, NetworkUpdate, ScanResult};

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Body, Ctx, PathId, Reply};

/// `POST /v1/test_helpers/customers/{id}/methods`.
pub(super) async fn attach_test_card(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(customer): PathId<CustomerId>,
    Body(params): Body<AttachTestCard>,
) -> ApiResult<Reply<PaymentMethod>> {
    Ok(Reply(
        state
            .engine()
            .attach_test_card(&ctx, &customer, params)
            .await?,
    ))
}

/// `POST /v1/test_helpers/payment_methods/{pm}/network_update`.
pub(super) async fn network_update(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<PaymentMethodId>,
    Body(params): Body<NetworkUpdate>,
) -> ApiResult<Reply<PaymentMethod>> {
    Ok(Reply(
        state.engine().network_update(&ctx, &id, params).await?,
    ))
}

/// `POST /v1/test_helpers/expiring_scan`.
pub(super) async fn expiring_scan(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Body(params): Body<ExpiringScan>,
) -> ApiResult<Reply<ScanResult>> {
    Ok(Reply(state.engine().expiring_scan(&ctx, params).await?))
}
