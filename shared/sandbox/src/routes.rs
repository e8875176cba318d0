//! The one router: Entra ID, MDE (`/api/...` and `/api/v1.0/...`), Microsoft 365 Defender (`/api/incidents`,
//! `/api/advancedhunting`), Graph (`/v1.0/security/...`) and the admin endpoints (`/_sandbox/...`). Their paths do
//! not collide, so every cloud URL of a client can point at the same listener.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api_error::{ApiError, Flavor};
use crate::state::AppState;
use crate::{
    admin, admin_devices, api_actions, api_alerts, api_graph, api_hunting, api_incidents, api_indicators,
    api_machines, clock, entra, faults, hunting_limits, request_log,
};

fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(api_alerts::list))
        .route("/alerts/$count", get(api_alerts::count))
        .route("/alerts/batchUpdate", post(api_alerts::batch_update))
        .route(
            "/alerts/CreateAlertByReference",
            post(api_alerts::create_by_reference),
        )
        .route("/alerts/{id}", get(api_alerts::get).patch(api_alerts::update))
        .route("/machines", get(api_machines::list))
        .route("/machines/{id}", get(api_machines::get))
        .route("/machines/{id}/{action}", post(api_actions::run))
        .route("/machines/{id}/alerts", get(api_alerts::machine_alerts))
        .route(
            "/machines/{id}/alerts/$count",
            get(api_alerts::machine_alerts_count),
        )
        .route("/machineactions", get(api_actions::list))
        .route("/machineactions/{id}", get(api_actions::get))
        .route("/machineactions/{id}/cancel", post(api_actions::cancel))
        .route(
            "/indicators",
            get(api_indicators::list).post(api_indicators::submit),
        )
        .route("/indicators/import", post(api_indicators::import))
        .route("/indicators/BatchDelete", post(api_indicators::batch_delete))
        .route("/indicators/{id}", axum::routing::delete(api_indicators::delete))
        .route("/advancedqueries/run", post(api_hunting::mde))
        .route("/incidents", get(api_incidents::list))
        .route(
            "/incidents/{id}",
            get(api_incidents::get).patch(api_incidents::update),
        )
        .route("/advancedhunting/run", post(api_hunting::xdr))
}

fn graph_routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(api_graph::list_incidents))
        .route(
            "/incidents/{id}",
            get(api_graph::get_incident).patch(api_graph::update_incident),
        )
        .route("/incidents/{id}/comments", post(api_graph::comment_incident))
        .route("/alerts_v2", get(api_graph::list_alerts))
        .route(
            "/alerts_v2/{id}",
            get(api_graph::get_alert).patch(api_graph::update_alert),
        )
        .route("/alerts_v2/{id}/comments", post(api_graph::comment_alert))
        .route("/runHuntingQuery", post(api_hunting::graph))
}

fn entra_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/token", post(entra::token_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(entra::token_v2))
        .route("/{tenant}/discovery/keys", get(entra::jwks))
        .route("/{tenant}/discovery/v2.0/keys", get(entra::jwks))
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(entra::openid_v1),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(entra::openid_v2),
        )
}

fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/config", get(admin::config))
        .route("/config/schema", get(admin::schema))
        .route("/requests", get(admin::requests).delete(admin::clear_requests))
        .route("/advance", post(admin::advance))
        .route(
            "/adversarial",
            get(admin::adversarial).post(admin::set_adversarial),
        )
        .route("/mutate", post(admin::mutate))
        .route("/bulk_update", post(admin::bulk_update))
        .route(
            "/indicators/import_failures",
            post(api_indicators::add_import_failures),
        )
        .route(
            "/machine_actions",
            get(admin_devices::machine_actions).post(admin_devices::set_machine_actions),
        )
        .route("/machines/{id}/state", get(admin_devices::machine_state))
        .route(
            "/machines/{id}/ip_history",
            get(admin_devices::ip_history).post(admin_devices::add_ip_lease),
        )
        .route("/hunting", get(hunting_limits::get).post(hunting_limits::set))
        .route(
            "/faults",
            get(admin::faults)
                .post(admin::add_faults)
                .delete(admin::clear_faults),
        )
}

async fn not_found(uri: Uri) -> Response {
    let flavor = if uri.path().starts_with("/v1.0/") {
        Flavor::Graph
    } else {
        Flavor::Mde
    };
    let code = if flavor == Flavor::Graph {
        "itemNotFound"
    } else {
        "NotFound"
    };
    ApiError::new(
        flavor,
        StatusCode::NOT_FOUND,
        code,
        format!(
            "No HTTP resource was found that matches the request URI '{}'.",
            uri.path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(uri: Uri) -> Response {
    let flavor = if uri.path().starts_with("/v1.0/") {
        Flavor::Graph
    } else {
        Flavor::Mde
    };
    let code = if flavor == Flavor::Graph {
        "notAllowed"
    } else {
        "MethodNotAllowed"
    };
    ApiError::new(
        flavor,
        StatusCode::METHOD_NOT_ALLOWED,
        code,
        format!(
            "The requested resource '{}' does not support this HTTP method.",
            uri.path()
        ),
    )
    .into_response()
}

/// Middleware: runs the request with the service time it arrived at (for error bodies) and answers with a `Date`
/// header from the service's clock (simulated time plus skew) instead of hyper's wall-clock one.
async fn service_date(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = clock::with_request_now(state.clock.now(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&clock::format_http_date(state.clock.now())) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

/// Builds the application with its middleware (the service's `Date` outermost, then the request log, then
/// faults).
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api", api_routes())
        .nest("/api/v1.0", api_routes())
        .nest("/v1.0/security", graph_routes())
        .nest("/_sandbox", admin_routes())
        .merge(entra_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), faults::inject))
        .layer(from_fn_with_state(state.clone(), request_log::record))
        .layer(from_fn_with_state(state.clone(), service_date))
        .with_state(state)
}
