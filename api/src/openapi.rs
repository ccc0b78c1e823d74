//! The OpenAPI 3.1 document, generated from the handlers' annotations as the routes are
//! registered (utoipa-axum): a route cannot exist without its documentation, and the document
//! cannot describe a route that does not exist. Served at `/api/openapi.json`, with Swagger UI (its
//! assets compiled into the binary) at `/api/docs`.

use std::sync::Arc;

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::routes::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ventros API",
        description = "The multi-channel CRM's REST API. Authenticate with `Authorization: Bearer <API key or access token>`. \
Errors are `application/problem+json` (RFC 9457). Lists are cursor-paginated: pass `next_cursor` back as `cursor`. \
Live events: `GET /api/v1/stream` (WebSocket; `?access_token=` and `?last_event_id=` to resume).",
        license(name = "Apache-2.0")
    ),
    // Every outbox event type, documented once: what webhook subscriptions name and the live
    // stream sends.
    components(schemas(ventros_domain::EventType)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Login, tokens, the caller"),
        (name = "users", description = "The tenant's users and roles"),
        (name = "api-keys", description = "API keys for integrations"),
        (name = "channels", description = "WhatsApp (WAHA) channels"),
        (name = "contacts", description = "Contacts, identities, tags, attributes, merges"),
        (name = "conversations", description = "Conversations, messages, operator replies, assignment"),
        (name = "messages", description = "Messages and delivery status"),
        (name = "pipelines", description = "Pipelines and stages"),
        (name = "deals", description = "Deals"),
        (name = "segments", description = "Saved contact filters (campaign audiences)"),
        (name = "campaigns", description = "Scheduled, segmented, agent-personalised outbound campaigns and their metrics"),
        (name = "agents", description = "AI agents"),
        (name = "memories", description = "Customer memory and knowledge graph"),
        (name = "webhooks", description = "Outbound webhook subscriptions and deliveries"),
        (name = "reports", description = "Read-only analytics: named reports and SELECTs over the reporting views"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`vtr_…`) or an access token from /api/v1/auth/login",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every documented `/api/v1` route.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update, users::delete))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(channels::list, channels::create))
        .routes(routes!(channels::show, channels::update, channels::delete))
        .routes(routes!(channels::session))
        .routes(routes!(contacts::list, contacts::create))
        .routes(routes!(contacts::show, contacts::update, contacts::delete))
        .routes(routes!(contacts::add_tag))
        .routes(routes!(contacts::remove_tag))
        .routes(routes!(contacts::add_identity))
        .routes(routes!(contacts::remove_identity))
        .routes(routes!(contacts::merge))
        .routes(routes!(contacts::show_merge))
        .routes(routes!(memories::search))
        .routes(routes!(memories::graph))
        .routes(routes!(conversations::list))
        .routes(routes!(conversations::show))
        .routes(routes!(conversations::messages, conversations::reply))
        .routes(routes!(conversations::takeover))
        .routes(routes!(conversations::handback))
        .routes(routes!(conversations::assign))
        .routes(routes!(conversations::mark_read))
        .routes(routes!(messages::show))
        .routes(routes!(pipelines::list, pipelines::create))
        .routes(routes!(
            pipelines::show,
            pipelines::update,
            pipelines::delete
        ))
        .routes(routes!(pipelines::add_stage))
        .routes(routes!(pipelines::update_stage, pipelines::delete_stage))
        .routes(routes!(deals::list, deals::create))
        .routes(routes!(deals::show, deals::update, deals::delete))
        .routes(routes!(deals::move_stage))
        .routes(routes!(segments::list, segments::create))
        .routes(routes!(segments::preview_filter))
        .routes(routes!(segments::show, segments::update, segments::delete))
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(
            campaigns::show,
            campaigns::update,
            campaigns::delete
        ))
        .routes(routes!(campaigns::schedule))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(campaigns::cancel))
        .routes(routes!(campaigns::preview_segment))
        .routes(routes!(campaigns::preview_message))
        .routes(routes!(campaigns::recipients))
        .routes(routes!(campaigns::metrics))
        .routes(routes!(agents::list))
        .routes(routes!(agents::draft))
        .routes(routes!(reports::catalog))
        .routes(routes!(reports::query))
        .routes(routes!(reports::run))
        .routes(routes!(
            webhook_subscriptions::list,
            webhook_subscriptions::create
        ))
        .routes(routes!(
            webhook_subscriptions::show,
            webhook_subscriptions::update,
            webhook_subscriptions::delete
        ))
        .routes(routes!(webhook_subscriptions::deliveries))
        .routes(routes!(webhook_subscriptions::redeliver))
}

/// `/api/openapi.json` and the interactive docs at `/api/docs`.
pub fn docs_router(spec: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", (*spec).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_tagged_and_secured_unless_public() {
        let (_, spec) = api_router().split_for_parts();
        let spec = serde_json::to_value(&spec).unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(
            spec["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let public = [
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
        ];
        let mut operations = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            assert!(path.starts_with("/api/v1/"), "{path}");
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let what = format!("{method} {path}");
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{what} has no description"
                );
                assert!(
                    op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                    "{what} has no tag"
                );
                assert!(
                    op["responses"]
                        .as_object()
                        .is_some_and(|r| r.keys().any(|k| k.starts_with('2'))),
                    "{what} documents no success"
                );
                let open = op["security"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
                });
                assert_eq!(
                    open,
                    public.contains(&path.as_str()),
                    "{what}: only login, refresh and logout are public"
                );
            }
        }
        assert!(operations >= 60, "{operations} operations");
    }
}
