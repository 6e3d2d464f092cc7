//! Payments (api.md §5). A declined card is 402 with `paymentId`; a card that needs 3-D
//! Secure is 200 with `status: "requires_action"`.

use axum::extract::State;
use vinr_domain::ids::PaymentId;
use vinr_domain::payment::Payment;
use vinr_ports::api::PaymentsApi;
use vinr_ports::params::{CreatePayment, List, ListPayments};

use crate::server::AppState;
use crate::server::error::ApiResult;
use crate::server::extract::{Body, Ctx, NoParams, PathId, Query, Reply};

/// `POST /v1/payments`.
pub(super) async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Body(params): Body<CreatePayment>,
) -> ApiResult<Reply<Payment>> {
    Ok(Reply(state.engine().create_payment(&ctx, params).await?))
}

/// `GET /v1/payments`.
pub(super) async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(params): Query<ListPayments>,
) -> ApiResult<Reply<List<Payment>>> {
    Ok(Reply(state.engine().list_payments(&ctx, params).await?))
}

/// `GET /v1/payments/{id}`.
pub(super) async fn retrieve(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<PaymentId>,
) -> ApiResult<Reply<Payment>> {
    Ok(Reply(state.engine().retrieve_payment(&ctx, &id).await?))
}

/// `POST /v1/payments/{id}/cancel`.
pub(super) async fn cancel(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId<PaymentId>,
    Body(NoParams {}): Body<NoParams>,
) -> ApiResult<Reply<Payment>> {
    Ok(Reply(state.engine().cancel_payment(&ctx, &id).await?))
}
