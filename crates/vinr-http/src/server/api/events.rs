//! The event log (api.md §6).

use axum::extract::State;
use vinr_domain::ids::EventId;
use vinr_ports::api::EventsApi;
use vinr_ports::event::Event;
use vinr_ports::params::{List, ListEvents};

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Ctx, PathId, Query, Reply};

/// `GET /v1/events`.
pub(super) async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(params): Query<ListEvents>,
) -> ApiResult<Reply<List<Event>>> {
    Ok(Reply(state.engine().list_events(&ctx, params).await?))
}

/// `GET /v1/events/{id}`.
pub(super) async fn retrieve(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<EventId>,
) -> ApiResult<Reply<Event>> {
    Ok(Reply(state.engine().retrieve_event(&ctx, &id).await?))
}
