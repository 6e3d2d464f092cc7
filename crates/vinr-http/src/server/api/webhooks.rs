//! Webhook endpoints (api.md §6).

use axum::extract::State;
use vinr_domain::ids::WebhookEndpointId;
use vinr_domain::webhook::WebhookEndpoint;
use vinr_ports::api::WebhookEndpointsApi;
use vinr_ports::params::{
    CreateWebhookEndpoint, DeletedWebhookEndpoint, List, ListParams, RotateSecret,
};

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Body, Ctx, PathId, Query, Reply};

/// `POST /v1/webhook_endpoints`.
pub(super) async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Body(params): Body<CreateWebhookEndpoint>,
) -> ApiResult<Reply<WebhookEndpoint>> {
    Ok(Reply(
        state.engine().create_webhook_endpoint(&ctx, params).await?,
    ))
}

/// `GET /v1/webhook_endpoints`.
pub(super) async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(params): Query<ListParams<WebhookEndpointId>>,
) -> ApiResult<Reply<List<WebhookEndpoint>>> {
    Ok(Reply(
        state.engine().list_webhook_endpoints(&ctx, params).await?,
    ))
}

/// `DELETE /v1/webhook_endpoints/{id}`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<WebhookEndpointId>,
) -> ApiResult<Reply<DeletedWebhookEndpoint>> {
    Ok(Reply(
        state.engine().delete_webhook_endpoint(&ctx, &id).await?,
    ))
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret`.
pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<WebhookEndpointId>,
    Body(params): Body<RotateSecret>,
) -> ApiResult<Reply<WebhookEndpoint>> {
    Ok(Reply(
        state
            .engine()
            .rotate_webhook_secret(&ctx, &id, params)
            .await?,
    ))
}
