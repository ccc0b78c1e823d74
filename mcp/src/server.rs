//! The MCP server: tools, resources and prompts over the Ventros REST API.
//!
//! Every request acts with one tenant API key: over stdio the configured one, over streamable HTTP
//! the caller's own `Authorization: Bearer` key (so a remote client is exactly as powerful as its
//! key's role, and tenants never meet). Failures the caller should read (the API's 404, 422, 409,
//! a bad argument) come back as tool errors carrying the API's words, not as protocol errors.
//!
//! Two shapes of the same catalog: **full** (every tool listed with its schema) and
//! **discovery** (three tools, `ventros_catalog` → `ventros_describe` → `ventros_execute`, for
//! clients with small context budgets: the model learns a tool only when it needs it).

use std::sync::Arc;

use reqwest::Method;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::api::{ApiClient, ApiFailure};
use crate::tools::{Call, Effect, ToolSpec, catalog};

const INSTRUCTIONS: &str = "Ventros is a multi-channel CRM (WhatsApp, Messenger, Instagram) with AI agents. \
Find people with search_contacts, read a conversation with get_conversation_history, learn a customer with get_contact_context, \
answer with send_message (it really sends; reuse the idempotency_key when retrying), run analytics with run_query. \
Ids are UUIDs from earlier results. Read-only tools are marked; destructive ones send or cannot be undone.";

/// The server. Cheap to clone (the HTTP transport makes one per session).
#[derive(Clone)]
pub struct VentrosMcp {
    api: ApiClient,
    /// The key for stdio; streamable HTTP uses each request's bearer instead.
    key: Option<String>,
    tools: Arc<Vec<ToolSpec>>,
    discovery: bool,
}

impl VentrosMcp {
    pub fn new(api: ApiClient, key: Option<String>, discovery: bool) -> Self {
        VentrosMcp {
            api,
            key,
            tools: Arc::new(catalog()),
            discovery,
        }
    }

    /// The tools as MCP lists them in full mode.
    pub fn mcp_tools(&self) -> Vec<Tool> {
        self.tools.iter().map(to_mcp_tool).collect()
    }

    fn key(&self, ctx: &RequestContext<RoleServer>) -> Result<String, McpError> {
        if let Some(parts) = ctx.extensions.get::<http::request::Parts>() {
            return bearer(&parts.headers).ok_or_else(|| {
                McpError::invalid_request(
                    "Authorization: Bearer <Ventros API key> is required",
                    None,
                )
            });
        }
        self.key.clone().ok_or_else(|| {
            McpError::invalid_request("no Ventros API key is configured (VENTROS_API_KEY)", None)
        })
    }

    fn spec(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// Runs one catalog tool with validated arguments; every failure is a tool error.
    pub async fn execute(&self, key: &str, name: &str, args: Map<String, Value>) -> CallToolResult {
        let Some(spec) = self.spec(name) else {
            return tool_error(format!("no tool {name:?}; ventros_catalog lists them"));
        };
        if let Err(reason) = validate(&spec.schema, &args) {
            return tool_error(format!("invalid arguments for {name}: {reason}"));
        }
        let result = match &spec.call {
            Call::Rest { method, path } => self.rest(key, method.clone(), path, args).await,
            Call::Custom => self.custom(key, name, args).await,
        };
        match result {
            Ok(value) => tool_success(value),
            Err(failure) => tool_error(failure.to_string()),
        }
    }

    async fn rest(
        &self,
        key: &str,
        method: Method,
        template: &str,
        mut args: Map<String, Value>,
    ) -> Result<Value, ApiFailure> {
        let path = fill_path(template, &mut args);
        if method == Method::GET || method == Method::DELETE {
            self.api
                .call(key, method, &path, &query_pairs(&args), None, &[])
                .await
        } else {
            self.api
                .call(key, method, &path, &[], Some(&Value::Object(args)), &[])
                .await
        }
    }

    async fn custom(
        &self,
        key: &str,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<Value, ApiFailure> {
        let text = |k: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match name {
            "send_message" => {
                let path = format!(
                    "/api/v1/conversations/{}/messages",
                    segment(&text("conversation_id"))
                );
                let headers = [("Idempotency-Key", text("idempotency_key"))];
                self.api
                    .call(
                        key,
                        Method::POST,
                        &path,
                        &[],
                        Some(&json!({"text": text("text")})),
                        &headers,
                    )
                    .await
            }
            "send_file" => {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text("content_base64").trim())
                    .map_err(|_| ApiFailure::Refused {
                        status: 422,
                        title: "invalid argument".into(),
                        detail: "content_base64 is not base64".into(),
                    })?;
                let mut query = Vec::new();
                if let Some(name) = args.get("filename").and_then(Value::as_str) {
                    query.push(("filename".to_owned(), name.to_owned()));
                }
                if args.get("voice").and_then(Value::as_bool) == Some(true) {
                    query.push(("voice".to_owned(), "true".to_owned()));
                }
                let uploaded = self
                    .api
                    .upload(key, &query, &text("content_type"), bytes)
                    .await?;
                let path = format!(
                    "/api/v1/conversations/{}/messages",
                    segment(&text("conversation_id"))
                );
                let headers = [("Idempotency-Key", text("idempotency_key"))];
                let body = json!({"text": text("caption"), "media_id": uploaded["id"]});
                self.api
                    .call(key, Method::POST, &path, &[], Some(&body), &headers)
                    .await
            }
            "start_conversation" => {
                let headers = [("Idempotency-Key", text("idempotency_key"))];
                let mut body = serde_json::Map::new();
                for field in ["channel_id", "contact_id", "phone", "name", "text"] {
                    if let Some(value) = args.get(field) {
                        body.insert(field.to_owned(), value.clone());
                    }
                }
                self.api
                    .call(
                        key,
                        Method::POST,
                        "/api/v1/conversations",
                        &[],
                        Some(&Value::Object(body)),
                        &headers,
                    )
                    .await
            }
            "get_conversation_state" => {
                let mut conversation = self
                    .api
                    .get(
                        key,
                        &format!(
                            "/api/v1/conversations/{}",
                            segment(&text("conversation_id"))
                        ),
                        &[],
                    )
                    .await?;
                if let Some(obj) = conversation.as_object_mut() {
                    obj.remove("messages");
                }
                Ok(conversation)
            }
            "get_contact_context" => {
                let id = segment(&text("contact_id"));
                let profile = self
                    .api
                    .get(key, &format!("/api/v1/contacts/{id}"), &[])
                    .await?;
                // Memory may be briefly unavailable; the profile alone is still worth returning.
                let facts = match self
                    .api
                    .get(key, &format!("/api/v1/contacts/{id}/graph"), &[])
                    .await
                {
                    Ok(graph) => graph.get("facts").cloned().unwrap_or(Value::Null),
                    Err(e) => json!({"unavailable": e.to_string()}),
                };
                let memories = match args.get("q").and_then(Value::as_str) {
                    Some(q) => match self
                        .api
                        .get(
                            key,
                            &format!("/api/v1/contacts/{id}/memories"),
                            &[("q".into(), q.into()), ("limit".into(), "8".into())],
                        )
                        .await
                    {
                        Ok(found) => found.get("items").cloned().unwrap_or(Value::Null),
                        Err(e) => json!({"unavailable": e.to_string()}),
                    },
                    None => Value::Null,
                };
                Ok(json!({"profile": profile, "facts": facts, "memories": memories}))
            }
            "run_query" => {
                let max_rows = args.get("max_rows").cloned();
                match (
                    args.get("sql").and_then(Value::as_str),
                    args.get("report").and_then(Value::as_str),
                ) {
                    (Some(sql), None) => {
                        let mut body = json!({"sql": sql});
                        if let Some(n) = max_rows {
                            body["max_rows"] = n;
                        }
                        self.api
                            .call(
                                key,
                                Method::POST,
                                "/api/v1/reports/query",
                                &[],
                                Some(&body),
                                &[],
                            )
                            .await
                    }
                    (None, Some(report)) => {
                        let mut body =
                            json!({"params": args.get("params").cloned().unwrap_or(json!({}))});
                        if let Some(n) = max_rows {
                            body["max_rows"] = n;
                        }
                        self.api
                            .call(
                                key,
                                Method::POST,
                                &format!("/api/v1/reports/{}", segment(report)),
                                &[],
                                Some(&body),
                                &[],
                            )
                            .await
                    }
                    _ => Err(ApiFailure::Refused {
                        status: 422,
                        title: "invalid arguments".into(),
                        detail: "give either `report` (with optional `params`) or `sql`, not both"
                            .into(),
                    }),
                }
            }
            "get_messaging_stats" => {
                let params: Map<String, Value> = args.into_iter().collect();
                self.api
                    .call(
                        key,
                        Method::POST,
                        "/api/v1/reports/messages_over_time",
                        &[],
                        Some(&json!({"params": params})),
                        &[],
                    )
                    .await
            }
            other => Err(ApiFailure::Refused {
                status: 500,
                title: "not implemented".into(),
                detail: format!("tool {other} has no handler"),
            }),
        }
    }

    /// The discovery-mode tools.
    fn discovery_tools() -> Vec<Tool> {
        let object = |v: Value| v.as_object().cloned().unwrap_or_default();
        let mut catalog = Tool::new(
            "ventros_catalog",
            "Step 1: lists Ventros's tools (name, group, one-line summary, whether read-only or destructive). Optionally only one group: account, contacts, conversations, channels, deals, tickets, campaigns, agents, memory, knowledge, bi.",
            object(
                json!({"type": "object", "properties": {"group": {"type": "string"}}, "additionalProperties": false}),
            ),
        );
        catalog.annotations = Some(
            ToolAnnotations::new()
                .read_only(true)
                .idempotent(true)
                .open_world(false),
        );
        let mut describe = Tool::new(
            "ventros_describe",
            "Step 2: a tool's full description and input JSON schema, before calling it with ventros_execute.",
            object(
                json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}),
            ),
        );
        describe.annotations = Some(
            ToolAnnotations::new()
                .read_only(true)
                .idempotent(true)
                .open_world(false),
        );
        let mut execute = Tool::new(
            "ventros_execute",
            "Step 3: runs a tool by name with its arguments (as ventros_describe specified). Destructive tools really send or change data.",
            object(
                json!({"type": "object", "properties": {"name": {"type": "string"}, "arguments": {"type": "object"}}, "required": ["name"], "additionalProperties": false}),
            ),
        );
        execute.annotations = Some(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .open_world(true),
        );
        vec![catalog, describe, execute]
    }

    async fn discovery_call(
        &self,
        key: &str,
        name: &str,
        args: Map<String, Value>,
    ) -> CallToolResult {
        match name {
            "ventros_catalog" => {
                let group = args.get("group").and_then(Value::as_str);
                let items: Vec<Value> = self
                    .tools
                    .iter()
                    .filter(|t| group.is_none_or(|g| g == t.group))
                    .map(|t| {
                        json!({"name": t.name, "group": t.group, "summary": first_sentence(t.description),
                               "read_only": t.effect == Effect::Read, "destructive": t.effect == Effect::Destructive})
                    })
                    .collect();
                tool_success(json!({"tools": items}))
            }
            "ventros_describe" => {
                let wanted = args.get("name").and_then(Value::as_str).unwrap_or_default();
                match self.spec(wanted) {
                    Some(t) => tool_success(
                        json!({"name": t.name, "title": t.title, "description": t.description, "input_schema": t.schema,
                                                   "read_only": t.effect == Effect::Read, "destructive": t.effect == Effect::Destructive}),
                    ),
                    None => tool_error(format!("no tool {wanted:?}; ventros_catalog lists them")),
                }
            }
            "ventros_execute" => {
                let wanted = args
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let arguments = match args.get("arguments") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(a)) => a.clone(),
                    Some(_) => return tool_error("arguments must be an object".into()),
                };
                self.execute(key, &wanted, arguments).await
            }
            other => tool_error(format!("no tool {other:?}")),
        }
    }

    async fn read(&self, key: &str, uri: &str) -> Result<Value, McpError> {
        let not_found = || {
            McpError::resource_not_found(
                format!(
                    "no resource {uri}; use ventros://contacts/{{id}} or ventros://conversations/{{id}}"
                ),
                None,
            )
        };
        let (kind, id) = uri
            .strip_prefix("ventros://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(not_found)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(not_found());
        }
        let result = match kind {
            "contacts" => {
                self.api
                    .get(key, &format!("/api/v1/contacts/{id}"), &[])
                    .await
            }
            "conversations" => {
                let state = self
                    .api
                    .get(key, &format!("/api/v1/conversations/{id}"), &[])
                    .await;
                match state {
                    Ok(mut conversation) => {
                        // The full history, not just the latest page the detail carries.
                        if let Ok(messages) = self
                            .api
                            .get(
                                key,
                                &format!("/api/v1/conversations/{id}/messages"),
                                &[("limit".into(), "200".into())],
                            )
                            .await
                        {
                            conversation["messages"] =
                                messages.get("items").cloned().unwrap_or(Value::Null);
                        }
                        Ok(conversation)
                    }
                    Err(e) => Err(e),
                }
            }
            _ => return Err(not_found()),
        };
        result.map_err(|e| match e {
            ApiFailure::Refused { status: 404, .. } => not_found(),
            other => McpError::internal_error(other.to_string(), None),
        })
    }
}

impl ServerHandler for VentrosMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("ventros", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = if self.discovery {
            Self::discovery_tools()
        } else {
            self.mcp_tools()
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if self.discovery {
            Self::discovery_tools().into_iter().find(|t| t.name == name)
        } else {
            self.spec(name).map(to_mcp_tool)
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let key = self.key(&ctx)?;
        let args = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        let result = if self.discovery {
            self.discovery_call(&key, name, args).await
        } else {
            self.execute(&key, name, args).await
        };
        tracing::info!(
            tool = name,
            is_error = result.is_error.unwrap_or(false),
            "tool called"
        );
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let key = self.key(&ctx)?;
        let limit = [("limit".to_owned(), "20".to_owned())];
        let mut resources = Vec::new();
        if let Ok(list) = self.api.get(&key, "/api/v1/conversations", &limit).await {
            for c in list["items"].as_array().into_iter().flatten() {
                let id = c["id"].as_str().unwrap_or_default();
                let name = format!(
                    "Conversation with {}",
                    c["contact_name"]
                        .as_str()
                        .or(c["contact"]["display_name"].as_str())
                        .unwrap_or("a contact")
                );
                resources.push(
                    Resource::new(format!("ventros://conversations/{id}"), name)
                        .with_mime_type("application/json"),
                );
            }
        }
        if let Ok(list) = self.api.get(&key, "/api/v1/contacts", &limit).await {
            for c in list["items"].as_array().into_iter().flatten() {
                let id = c["id"].as_str().unwrap_or_default();
                let name = c["display_name"]
                    .as_str()
                    .map_or_else(|| format!("Contact {id}"), str::to_owned);
                resources.push(
                    Resource::new(format!("ventros://contacts/{id}"), name)
                        .with_mime_type("application/json"),
                );
            }
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("ventros://contacts/{contact_id}", "Contact")
                .with_description(
                    "A contact's profile: identities, tags, attributes, deals, conversations",
                )
                .with_mime_type("application/json"),
            ResourceTemplate::new("ventros://conversations/{conversation_id}", "Conversation")
                .with_description(
                    "A conversation: status, assignment, live workflow state and its messages",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let key = self.key(&ctx)?;
        let value = self.read(&key, &request.uri).await?;
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri).with_mime_type("application/json"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                "summarise_customer",
                Some(
                    "Summarise a customer: who they are, what they want, what we promised, open deals, and the next best action.",
                ),
                Some(vec![
                    PromptArgument::new("contact_id")
                        .with_description("The contact's id")
                        .with_required(true),
                ]),
            ),
            Prompt::new(
                "draft_follow_up",
                Some(
                    "Draft a follow-up for a conversation, in the customer's language, for an operator to review before sending.",
                ),
                Some(vec![
                    PromptArgument::new("conversation_id")
                        .with_description("The conversation's id")
                        .with_required(true),
                ]),
            ),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let key = self.key(&ctx)?;
        let args = request.arguments.unwrap_or_default();
        let arg = |name: &str| -> Result<String, McpError> {
            let value = args.get(name).and_then(Value::as_str).unwrap_or_default();
            uuid::Uuid::parse_str(value)
                .map(|u| u.to_string())
                .map_err(|_| McpError::invalid_params(format!("{name} must be an id"), None))
        };
        let (description, text) = match request.name.as_str() {
            "summarise_customer" => {
                let id = arg("contact_id")?;
                let context = self
                    .custom(
                        &key,
                        "get_contact_context",
                        Map::from_iter([("contact_id".to_owned(), json!(id))]),
                    )
                    .await;
                let context = context.map_err(|e| McpError::invalid_params(e.to_string(), None))?;
                (
                    "Summarise this customer",
                    format!(
                        "Summarise this customer for a colleague who is about to talk to them: who they are, what they want, what we \
                         promised, open deals and their stage, anything they told us that changed (facts with an end date), and the next \
                         best action. Be brief; cite dates.\n\nContact context (JSON from Ventros):\n{}",
                        serde_json::to_string_pretty(&context).unwrap_or_default()
                    ),
                )
            }
            "draft_follow_up" => {
                let id = arg("conversation_id")?;
                let history = self
                    .api
                    .get(
                        &key,
                        &format!("/api/v1/conversations/{id}/messages"),
                        &[("limit".into(), "50".into())],
                    )
                    .await;
                let history = history.map_err(|e| McpError::invalid_params(e.to_string(), None))?;
                (
                    "Draft a follow-up",
                    format!(
                        "Draft a short follow-up message for this conversation, in the customer's language, that moves it forward. \
                         Do not send it: show it to me first; when I approve, send it with send_message (conversation_id {id}, a new \
                         idempotency_key).\n\nConversation (JSON from Ventros, oldest first):\n{}",
                        serde_json::to_string_pretty(&history).unwrap_or_default()
                    ),
                )
            }
            other => {
                return Err(McpError::invalid_params(
                    format!("no prompt {other:?}"),
                    None,
                ));
            }
        };
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(description)
                .into(),
        )
    }
}

fn to_mcp_tool(spec: &ToolSpec) -> Tool {
    let schema = spec.schema.as_object().cloned().unwrap_or_default();
    let mut tool = Tool::new(spec.name, spec.description, schema);
    tool.title = Some(spec.title.to_owned());
    tool.annotations = Some(
        ToolAnnotations::with_title(spec.title)
            .read_only(spec.effect == Effect::Read)
            .destructive(spec.effect == Effect::Destructive)
            .idempotent(spec.idempotent)
            // Only sending reaches beyond the CRM (a customer's phone).
            .open_world(spec.name == "send_message" || spec.name == "schedule_campaign"),
    );
    tool
}

fn tool_success(value: Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    if value.is_object() {
        result.structured_content = Some(value);
    }
    result
}

fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn first_sentence(text: &str) -> &str {
    text.split_once(". ").map_or(text, |(first, _)| first)
}

fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// Percent-encodes a path segment (ids are validated as UUIDs, but tags are free text).
fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Replaces `{name}` segments with (and removes) the arguments of that name.
fn fill_path(template: &str, args: &mut Map<String, Value>) -> String {
    template
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    let value = args
                        .remove(name)
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .unwrap_or_default();
                    segment(&value)
                }
                None => part.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn query_pairs(args: &Map<String, Value>) -> Vec<(String, String)> {
    args.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}

/// Checks arguments against a tool's schema: required present, nothing unknown, JSON types,
/// enums, UUID formats and integer ranges. (Ids go into URL paths: they must be ids.)
pub fn validate(schema: &Value, args: &Map<String, Value>) -> Result<(), String> {
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if args.get(required).is_none_or(Value::is_null) {
            return Err(format!("`{required}` is required"));
        }
    }
    for (name, value) in args {
        let Some(prop) = props.get(name) else {
            return Err(format!(
                "unknown argument `{name}`; expected one of: {}",
                props.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        };
        if value.is_null() {
            continue;
        }
        let ty = prop.get("type").and_then(Value::as_str).unwrap_or("string");
        let fits = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !fits {
            return Err(format!("`{name}` must be of type {ty}"));
        }
        if prop.get("format").and_then(Value::as_str) == Some("uuid")
            && value
                .as_str()
                .is_some_and(|s| uuid::Uuid::parse_str(s).is_err())
        {
            return Err(format!("`{name}` must be a UUID"));
        }
        if let Some(allowed) = prop.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            return Err(format!(
                "`{name}` must be one of {}",
                Value::Array(allowed.clone())
            ));
        }
        if let Some(n) = value.as_i64() {
            let min = prop
                .get("minimum")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MIN);
            let max = prop
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX);
            if n < min || n > max {
                return Err(format!("`{name}` must be between {min} and {max}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_thirty_tools_with_valid_unique_schemas() {
        let tools = catalog();
        assert!(tools.len() >= 30, "{} tools", tools.len());
        let mut names: Vec<&str> = tools.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), tools.len(), "tool names are unique");
        for t in &tools {
            assert_eq!(t.schema["type"], "object", "{}", t.name);
            assert_eq!(t.schema["additionalProperties"], false, "{}", t.name);
            let props = t.schema["properties"].as_object().unwrap();
            for r in t.schema["required"].as_array().unwrap() {
                assert!(
                    props.contains_key(r.as_str().unwrap()),
                    "{}: required {r} is a property",
                    t.name
                );
            }
            if let Call::Rest { path, .. } = &t.call {
                for part in path
                    .split('/')
                    .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
                {
                    assert!(
                        t.schema["required"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|r| r == part),
                        "{}: path parameter {part} is required",
                        t.name
                    );
                }
            }
        }
    }

    #[test]
    fn arguments_are_checked_before_they_reach_a_url() {
        let spec = catalog()
            .into_iter()
            .find(|t| t.name == "get_contact")
            .unwrap();
        let args = |v: Value| v.as_object().unwrap().clone();
        assert!(
            validate(
                &spec.schema,
                &args(json!({"contact_id": "0199a0a0-0000-7000-8000-000000000000"}))
            )
            .is_ok()
        );
        assert!(
            validate(&spec.schema, &args(json!({"contact_id": "../../api-keys"})))
                .unwrap_err()
                .contains("UUID")
        );
        assert!(
            validate(&spec.schema, &args(json!({})))
                .unwrap_err()
                .contains("required")
        );
        assert!(
            validate(
                &spec.schema,
                &args(json!({"contact_id": "0199a0a0-0000-7000-8000-000000000000", "x": 1}))
            )
            .unwrap_err()
            .contains("unknown")
        );
        let mut a = args(json!({"tag": "a b/c", "contact_id": "x"}));
        assert_eq!(
            fill_path("/api/v1/contacts/{contact_id}/tags/{tag}", &mut a),
            "/api/v1/contacts/x/tags/a%20b%2Fc"
        );
        assert!(a.is_empty());
    }
}
