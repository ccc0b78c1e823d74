//! REST handlers, one module per resource.

pub mod agents;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod health;
pub mod memories;
pub mod messages;
