//! Replays recorded histories of real runs (recorded by the end-to-end suite with
//! `VENTROS_RECORD_HISTORIES=workflows/tests/histories`) against the current workflow code. A change
//! that makes old histories replay differently (nondeterminism) fails here, before it can break
//! running conversations.
//!
//! Histories are added, never overwritten: each stands for a behaviour that ran in production, and
//! today's code must still replay it (behaviour changes go behind `patched`). `SHA256SUMS` pins
//! every recorded file; a new history gets a new line, an existing line never changes.

use std::path::Path;

use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use ventros_workflows::{
    Campaign, CampaignRecipient, ContactMerge, Conversation, FollowUpTask, InboxSweep,
    KnowledgeIngestion, MemoryIngestion, MemoryShard, OutboundMessage, ReembedMemories,
    WebhookDelivery,
};

/// Every workflow type the worker registers: each must have at least one recorded history.
const WORKFLOW_TYPES: &[&str] = &[
    "Campaign",
    "CampaignRecipient",
    "ContactMerge",
    "Conversation",
    "FollowUpTask",
    "InboxSweep",
    "KnowledgeIngestion",
    "MemoryIngestion",
    "MemoryShard",
    "OutboundMessage",
    "ReembedMemories",
    "WebhookDelivery",
];

fn histories_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories")
}

fn recorded(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = histories_dir();
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
        .register_workflow::<MemoryShard>()
        .expect("register MemoryShard")
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
        .register_workflow::<ReembedMemories>()
        .expect("register ReembedMemories")
        .register_workflow::<KnowledgeIngestion>()
        .expect("register KnowledgeIngestion")
        .register_workflow::<FollowUpTask>()
        .expect("register FollowUpTask")
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

#[tokio::test]
async fn reembed_memories_histories_replay_deterministically() {
    replay_all("reembed-memories").await;
}

#[tokio::test]
async fn knowledge_ingestion_histories_replay_deterministically() {
    replay_all("knowledge-ingestion").await;
}

#[tokio::test]
async fn follow_up_task_histories_replay_deterministically() {
    replay_all("follow-up-task").await;
}

#[test]
fn every_workflow_type_has_a_recorded_history() {
    let mut types: Vec<String> = recorded("")
        .into_iter()
        .map(|(name, bytes)| {
            let history: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            // The SDK's history JSON (`WorkflowHistory::to_json`).
            history
                .pointer("/events/0/attributes/WorkflowExecutionStartedEventAttributes/workflow_type/name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_else(|| panic!("{name}: no WorkflowExecutionStarted event"))
                .to_owned()
        })
        .collect();
    types.sort();
    types.dedup();
    assert_eq!(
        types, WORKFLOW_TYPES,
        "workflow types with a recorded history"
    );
}

#[test]
fn recorded_histories_are_never_rewritten() {
    use sha2::{Digest, Sha256};
    let sums = std::fs::read_to_string(histories_dir().join("SHA256SUMS")).expect("SHA256SUMS");
    let pinned: std::collections::BTreeMap<&str, &str> = sums
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sum, file) = l.split_once("  ").expect("`<sha256>  <file>` lines");
            (file, sum)
        })
        .collect();
    for (path, bytes) in recorded("") {
        let file = Path::new(&path).file_name().unwrap().to_str().unwrap();
        let sum = hex::encode(Sha256::digest(&bytes));
        match pinned.get(file) {
            Some(expected) => assert_eq!(
                &sum, expected,
                "{file} was rewritten: recorded histories are kept as they are; record the new \
                 behaviour under a new name and add its line to SHA256SUMS"
            ),
            None => panic!(
                "{file} is not in SHA256SUMS: add `{sum}  {file}` (sha256sum *.json) to pin it"
            ),
        }
    }
    for file in pinned.keys() {
        assert!(
            histories_dir().join(file).exists(),
            "{file} was deleted: histories are kept"
        );
    }
}
