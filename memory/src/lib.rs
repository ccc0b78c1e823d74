//! Memory: what Ventros remembers about each contact, and how agents find it again.
//!
//! - [`embed`]: sentence embeddings (offline MiniLM in-process, or an OpenAI-compatible endpoint).
//! - [`extract`]: offline fact extraction, language detection and memory types.
//! - [`engine`]: storage and search (vector, keyword, graph, hybrid) in PostgreSQL + pgvector, and
//!   the bitemporal knowledge graph.
//! - [`ingest`]: turning outbox events into episodes (the MemoryIngestion workflow's activity) and
//!   the feed that hands those events to the workflow.
//! - [`server`]: MemoryService over gRPC for the Python agents.

pub mod embed;
pub mod engine;
pub mod extract;
pub mod ingest;
pub mod knowledge;
pub mod server;

pub use engine::{MemoryEngine, MemoryError};
pub use server::MemoryServer;
