//! The gRPC contracts between the Rust side and the Python agent service: `AgentService` (served
//! by `agents/`, called by activities) and `MemoryService` (served by Rust, called back by the
//! agents' tools). The `.proto` files under `ventros/v1/` are the source; the Rust code in `gen/`
//! is generated from them with protox (no system `protoc`) and checked for drift by a test;
//! Python stubs come from the same files.

#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub mod v1 {
    include!("gen/ventros.v1.rs");
}
