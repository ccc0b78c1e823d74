//! Files in conversations (issue 20): what customers send (photos, voice notes, video,
//! documents, stickers) and what operators send. This crate holds what the API and the worker
//! share about them: reading a file's real type from its bytes ([`content`]), keeping the bytes
//! in object storage ([`storage`]), the signed short-lived links files are served through
//! ([`signing`]), and voice-note transcription where a model is configured ([`transcribe`]).

pub mod content;
pub mod signing;
pub mod storage;
pub mod transcribe;

pub use content::{Checked, ContentError, Limits, MediaKind};
pub use signing::UrlSigner;
pub use storage::MediaStore;
pub use transcribe::Transcriber;
