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
use crate::body_budget;
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
        (name = "conversations", description = "Conversations, messages, operator replies, assignment, lifecycle (resolve, reopen, pending, snooze), search"),
        (name = "messages", description = "Messages and delivery status"),
        (name = "quick-replies", description = "The team's canned answers, with variables filled per conversation"),
        (name = "pipelines", description = "Pipelines and stages"),
        (name = "deals", description = "Deals"),
        (name = "tickets", description = "Support problems, refund and cancellation requests, linked to their conversation"),
        (name = "tasks", description = "Follow-up tasks with a due time; their timer tells the assignee"),
        (name = "segments", description = "Saved contact filters (campaign audiences)"),
        (name = "knowledge", description = "The business's own knowledge (documents, product catalogue) the agents answer from"),
        (name = "campaigns", description = "Scheduled, segmented, agent-personalised outbound campaigns and their metrics"),
        (name = "agents", description = "AI agents"),
        (name = "media", description = "Files in conversations: upload what operators send; every file is served through a signed, short-lived link"),
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
        .routes(routes!(
            invitations::create_invitation,
            invitations::list_invitations
        ))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(invitations::lookup_invitation))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update, users::delete))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(channels::list, channels::create))
        .routes(routes!(channels::show, channels::update, channels::delete))
        .routes(routes!(channels::session))
        .routes(routes!(whatsapp::start))
        .routes(routes!(whatsapp::stop))
        .routes(routes!(whatsapp::restart))
        .routes(routes!(whatsapp::logout))
        .routes(routes!(whatsapp::qr))
        .routes(routes!(whatsapp::pairing_code))
        .routes(routes!(contacts::list, contacts::create))
        .routes(routes!(contacts::show, contacts::update, contacts::delete))
        .routes(routes!(contacts::add_tag))
        .routes(routes!(contacts::remove_tag))
        .routes(routes!(contacts::add_identity))
        .routes(routes!(contacts::remove_identity))
        .routes(routes!(contacts::merge))
        .routes(routes!(contacts::merge_preview))
        .routes(routes!(contacts::show_merge))
        .routes(routes!(memories::search))
        .routes(routes!(memories::graph))
        .routes(routes!(conversations::list, conversations::start))
        .routes(routes!(conversations::counts))
        .routes(routes!(conversations::show))
        .routes(routes!(conversations::messages, conversations::reply))
        .routes(routes!(conversations::takeover))
        .routes(routes!(conversations::handback))
        .routes(routes!(conversations::assign))
        .routes(routes!(conversations::mark_read))
        .routes(routes!(conversations::resolve))
        .routes(routes!(conversations::reopen))
        .routes(routes!(conversations::pending))
        .routes(routes!(conversations::snooze))
        .routes(routes!(conversations::list_notes, conversations::add_note))
        .routes(routes!(quick_replies::list, quick_replies::create))
        .routes(routes!(quick_replies::update, quick_replies::delete))
        .routes(routes!(quick_replies::render))
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
        .routes(routes!(tickets::list, tickets::create))
        .routes(routes!(tickets::show, tickets::update))
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::show, tasks::update))
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
        // The routes above read at most API_MAX_BODY_BYTES; the two groups below more.
        .layer(axum::middleware::from_fn(body_budget::reserve_api))
        .merge(knowledge_routes())
        .merge(media_routes())
}

/// Uploads of files to send: up to 16 MB, over the API's general body limit.
fn media_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(media::upload))
        .routes(routes!(media::show))
        .layer(axum::extract::DefaultBodyLimit::max(media::MAX_UPLOAD_BODY))
        .layer(axum::middleware::from_fn(
            body_budget::reserve_upto::<{ media::MAX_UPLOAD_BODY }>,
        ))
}

/// The knowledge base's routes: uploads carry documents of up to 5 MB, over the API's general
/// body limit.
fn knowledge_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(knowledge::list, knowledge::create))
        .routes(routes!(
            knowledge::show,
            knowledge::replace,
            knowledge::delete
        ))
        .routes(routes!(knowledge::reindex))
        .routes(routes!(knowledge::search))
        .layer(axum::extract::DefaultBodyLimit::max(
            knowledge::MAX_UPLOAD_BODY,
        ))
        .layer(axum::middleware::from_fn(
            body_budget::reserve_upto::<{ knowledge::MAX_UPLOAD_BODY }>,
        ))
}

/// The document as served: the web app's TypeScript types are generated from a copy of it
/// (`web/src/generated/`, see `scripts/gen-api-types.sh`).
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = api_router().split_for_parts();
    name_operations(&mut spec);
    spec
}

/// Operation ids unique across the document, `<tag>_<handler>` (`deals_list`, `pipelines_list`):
/// utoipa names an operation after its handler function, and every resource module has a `list`,
/// which generated clients cannot tell apart.
pub fn name_operations(spec: &mut utoipa::openapi::OpenApi) {
    for item in spec.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                *id = format!("{}_{id}", tag.replace('-', "_"));
            }
        }
    }
}

/// `/api/openapi.json` and the interactive docs at `/api/docs`.
pub fn docs_router(spec: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", (*spec).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The web app's copy of the document, which its TypeScript types are generated from, is the
    /// document the API serves. `VENTROS_UPDATE_GENERATED=1` rewrites the copy instead (what
    /// `scripts/gen-api-types.sh` does before regenerating the types).
    #[test]
    fn the_web_apps_copy_of_the_document_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../web/src/generated/openapi.json"
        );
        let current = document().to_pretty_json().unwrap() + "\n";
        if std::env::var_os("VENTROS_UPDATE_GENERATED").is_some() {
            std::fs::write(path, &current).unwrap();
        }
        let copy = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            copy == current,
            "web/src/generated/openapi.json is stale: run scripts/gen-api-types.sh"
        );
    }

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
            "/api/v1/invitations/lookup",
            "/api/v1/invitations/accept",
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
                    "{what}: only login, refresh, logout and an invitation's lookup and acceptance are public"
                );
            }
        }
        assert!(operations >= 60, "{operations} operations");
        let named = document();
        let mut ids = std::collections::BTreeSet::new();
        for item in named.paths.paths.values() {
            for op in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let id = op.operation_id.clone().expect("an operation id");
                assert!(ids.insert(id.clone()), "operation id {id} is used twice");
            }
        }
    }
}
