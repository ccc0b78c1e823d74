//! Simulators of the third parties Ventros cannot run here, each speaking the documented contract
//! exactly (requests, responses, errors, signed webhooks): [`waha`] for WAHA's HTTP API and
//! [`meta`] for Meta's Graph Send API and webhooks. The end-to-end tests, `scripts/stack.sh` and
//! the benchmarks use them; no production binary links them.

pub mod meta;
pub mod waha;
