//! Replays recorded histories of real runs (recorded by the end-to-end suite with
//! `VENTROS_RECORD_HISTORIES=workflows/tests/histories`) against the current workflow code. A change
//! that makes old histories replay differently (nondeterminism) fails here, before it can break
//! running conversations.

use std::path::Path;

use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use ventros_workflows::{
    Campaign, CampaignRecipient, ContactMerge, Conversation, InboxSweep, MemoryIngestion,
    OutboundMessage, WebhookDelivery,
};

fn recorded(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/histories exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).expect("readable history"),
            )
        })
        .collect()
}

async fn replay_all(prefix: &str) {
    let histories = recorded(prefix);
    assert!(
        !histories.is_empty(),
        "no recorded {prefix} histories in workflows/tests/histories"
    );
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<Conversation>()
        .expect("register Conversation")
        .register_workflow::<OutboundMessage>()
        .expect("register OutboundMessage")
        .register_workflow::<MemoryIngestion>()
        .expect("register MemoryIngestion")
        .register_workflow::<ContactMerge>()
        .expect("register ContactMerge")
        .register_workflow::<WebhookDelivery>()
        .expect("register WebhookDelivery")
        .register_workflow::<InboxSweep>()
        .expect("register InboxSweep")
        .register_workflow::<Campaign>()
        .expect("register Campaign")
        .register_workflow::<CampaignRecipient>()
        .expect("register CampaignRecipient")
        .build();
    let replayer = WorkflowReplayer::new(options).expect("replayer");
    for (name, bytes) in histories {
        let history = WorkflowHistory::from_json(&bytes)
            .unwrap_or_else(|e| panic!("{name}: not a history: {e}"));
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{name} no longer replays: {e}"));
    }
}

#[tokio::test]
async fn conversation_histories_replay_deterministically() {
    replay_all("conversation").await;
}

#[tokio::test]
async fn outbound_message_histories_replay_deterministically() {
    replay_all("outbound").await;
}

#[tokio::test]
async fn memory_ingestion_histories_replay_deterministically() {
    replay_all("memory").await;
}

#[tokio::test]
async fn contact_merge_histories_replay_deterministically() {
    replay_all("contact-merge").await;
}

#[tokio::test]
async fn webhook_delivery_histories_replay_deterministically() {
    replay_all("webhook-delivery").await;
}

#[tokio::test]
async fn inbox_sweep_histories_replay_deterministically() {
    replay_all("inbox-sweep").await;
}

#[tokio::test]
async fn campaign_histories_replay_deterministically() {
    replay_all("campaign").await;
}
