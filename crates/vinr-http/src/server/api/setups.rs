//! Setups: saving a card through the hosted page (api.md §3).

use axum::extract::State;
use vinr_domain::ids::{CustomerId, SetupId};
use vinr_domain::setup::Setup;
use vinr_ports::api::SetupsApi;
use vinr_ports::params::CreateSetup;

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Body, Ctx, NoParams, PathId, Reply};

/// `POST /v1/customers/{id}/setup`.
pub(super) async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(customer): PathId<CustomerId>,
    Body(params): Body<CreateSetup>,
) -> ApiResult<Reply<Setup>> {
    Ok(Reply(
        state.engine().create_setup(&ctx, &customer, params).await?,
    ))
}

/// `GET /v1/setups/{id}`.
pub(super) async fn retrieve(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<SetupId>,
) -> ApiResult<Reply<Setup>> {
    Ok(Reply(state.engine().retrieve_setup(&ctx, &id).await?))
}

/// `POST /v1/setups/{id}/cancel`.
pub(super) async fn cancel(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<SetupId>,
    Body(NoParams {}): Body<NoParams>,
) -> ApiResult<Reply<Setup>> {
    Ok(Reply(state.engine().cancel_setup(&ctx, &id).await?))
}
