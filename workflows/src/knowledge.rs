//! **KnowledgeIngestion**: one uploaded version of a knowledge document becomes searchable
//! passages. A single idempotent activity reads the source, cuts it, embeds the passages and
//! swaps them in under the document's row lock; retried until the database and the embedding
//! model answer, so an accepted upload is always indexed (or marked failed with the reason when
//! its source cannot be read). Operators watch each upload as its own workflow in the Temporal UI.

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::contract::{activities::*, names, *};
use crate::retry::persistent_retry;

#[workflow]
#[derive(Default)]
pub struct KnowledgeIngestion {
    outcome: Option<KnowledgeIndexOutput>,
}

#[workflow_methods]
impl KnowledgeIngestion {
    #[run(name = names::KNOWLEDGE_INGESTION_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: KnowledgeIngestionInput,
    ) -> WorkflowResult<KnowledgeIndexOutput> {
        // A large PDF is a few thousand passages: minutes of embedding on a small machine.
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(600))
            .retry_policy(persistent_retry())
            .build();
        let outcome = ctx
            .execute_activity(KnowledgeIndexDocument, input, options)
            .await?;
        ctx.state_mut(|s| s.outcome = Some(outcome.clone()));
        Ok(outcome)
    }

    #[query(name = names::QUERY_STATE)]
    pub fn state(&self, _ctx: &WorkflowContextView) -> Option<KnowledgeIndexOutput> {
        self.outcome.clone()
    }
}
