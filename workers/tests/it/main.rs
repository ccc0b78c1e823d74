//! The end-to-end suites against real processes: a Temporal dev server and a PostgreSQL shared by
//! the run (one database per test), the worker as a child process, the API in-process on a loopback
//! port, the agent service and the MCP server as child processes, and simulators for WAHA and Meta.
//!
//! One test binary with a module per suite, so the workspace is linked once for all of them;
//! `support` holds the shared harness (`TestApp::builder()`).

mod support;

mod api;
mod campaigns;
mod delivery;
mod deploy;
mod e2e;
mod mcp;
mod memory;
mod memory_index;
mod meta;
mod observability;
mod reply_eval;
mod security;
mod traces;
mod web;
