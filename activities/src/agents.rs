//! The client for the Python agent service (AgentService over gRPC), behind a trait so activities
//! and the API share one implementation and tests can point it anywhere.

use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};
use uuid::Uuid;
use ventros_proto::v1::agent_service_client::AgentServiceClient;
use ventros_proto::v1::{AgentExecutionRequest, AgentExecutionResponse, AgentInfo};

use crate::internal_auth::InternalAuth;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request can never succeed (unknown agent type, invalid input).
    #[error("the agent service rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The service is down, slow or failing: worth retrying.
    #[error("the agent service is unavailable ({code})")]
    Unavailable { code: String },
}

impl AgentError {
    fn from_status(status: tonic::Status) -> Self {
        let code = format!("{:?}", status.code());
        match status.code() {
            Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::PermissionDenied => AgentError::Rejected {
                code,
                message: status.message().chars().take(300).collect(),
            },
            _ => AgentError::Unavailable { code },
        }
    }
}

#[async_trait]
pub trait AgentApi: Send + Sync {
    async fn execute(
        &self,
        request: AgentExecutionRequest,
        deadline: Duration,
    ) -> Result<AgentExecutionResponse, AgentError>;
    async fn list(&self, deadline: Duration) -> Result<Vec<AgentInfo>, AgentError>;
}

/// AgentService over a lazily connected tonic channel: the worker and the API start even while
/// the agent service is down, and calls fail fast (then retry) until it is back.
/// Every call carries a token for the call's tenant and contact, which the agent service checks
/// and passes back on its MemoryService calls.
#[derive(Clone)]
pub struct GrpcAgentClient {
    client: AgentServiceClient<Channel>,
    auth: InternalAuth,
}

/// How long a token outlives the call's own deadline (the agent's memory calls happen within it).
const TOKEN_GRACE: Duration = Duration::from_secs(30);

impl GrpcAgentClient {
    /// `address` is `host:port` or a full `http://host:port` URL.
    pub fn connect_lazy(
        address: &str,
        auth: InternalAuth,
    ) -> Result<Self, tonic::transport::Error> {
        let url = if address.contains("://") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(url)?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        Ok(GrpcAgentClient {
            client: AgentServiceClient::new(endpoint.connect_lazy()),
            auth,
        })
    }
}

#[async_trait]
impl AgentApi for GrpcAgentClient {
    async fn execute(
        &self,
        request: AgentExecutionRequest,
        deadline: Duration,
    ) -> Result<AgentExecutionResponse, AgentError> {
        let (tenant_id, contact_id) = (
            Uuid::parse_str(&request.tenant_id).ok(),
            Uuid::parse_str(&request.contact_id).ok(),
        );
        let agent = request.agent_type.clone();
        let mut request = Request::new(request);
        request.set_timeout(deadline);
        self.auth
            .attach(&mut request, tenant_id, contact_id, deadline + TOKEN_GRACE);
        let mut client = self.client.clone();
        let started = std::time::Instant::now();
        let call = async {
            crate::traces::inject_into_metadata(request.metadata_mut());
            client
                .execute_agent(request)
                .await
                .map(tonic::Response::into_inner)
                .map_err(AgentError::from_status)
        };
        let result = crate::traces::in_span(
            "ventros.v1.AgentService/ExecuteAgent",
            opentelemetry::trace::SpanKind::Client,
            &opentelemetry::Context::current(),
            vec![opentelemetry::KeyValue::new(
                "ventros.agent_type",
                agent.clone(),
            )],
            call,
        )
        .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AgentError::Rejected { .. }) => "rejected",
            Err(_) => "unavailable",
        };
        crate::metrics::agent_call(&agent, outcome, started.elapsed());
        result
    }

    async fn list(&self, deadline: Duration) -> Result<Vec<AgentInfo>, AgentError> {
        let mut request = Request::new(());
        request.set_timeout(deadline);
        self.auth
            .attach(&mut request, None, None, deadline + TOKEN_GRACE);
        let mut client = self.client.clone();
        client
            .list_available_agents(request)
            .await
            .map(|r| r.into_inner().agents)
            .map_err(AgentError::from_status)
    }
}

/// A suggested action as stored with the agent run and shown by the API:
/// `{"type": "create_lead", "params": {...}, "reason": "..."}`. An action type this build does not
/// know (from a newer agent service) is dropped rather than stored half-understood.
pub fn action_json(action: &ventros_proto::v1::SuggestedAction) -> Option<serde_json::Value> {
    use ventros_proto::v1::ActionType;
    let kind = ActionType::try_from(action.r#type)
        .ok()
        .filter(|t| *t != ActionType::Unspecified)?;
    Some(serde_json::json!({"type": kind.name(), "params": action.params, "reason": action.reason}))
}
