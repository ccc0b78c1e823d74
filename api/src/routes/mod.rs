//! The REST handlers, one module per resource. Each is annotated for the OpenAPI document
//! ([`crate::openapi`]), checks the caller's role first, and runs its SQL in a tenant transaction.

pub mod agents;
pub mod api_keys;
pub mod campaigns;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod deals;
pub mod health;
pub mod memories;
pub mod messages;
pub mod pipelines;
pub mod reports;
pub mod segments;
pub mod session;
pub mod users;
pub mod webhook_subscriptions;

use crate::error::ApiError;

/// Trims and checks a required name-like text (1..=max characters).
pub fn required_text(value: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.contains('\0') {
        return Err(ApiError::Unprocessable(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// The same for an optional text: `None` stays `None`.
pub fn optional_text(
    value: Option<&str>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value.map(|v| required_text(v, field, max)).transpose()
}
