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
pub mod invitations;
pub mod knowledge;
pub mod media;
pub mod memories;
pub mod messages;
pub mod pipelines;
pub mod quick_replies;
pub mod reports;
pub mod segments;
pub mod session;
pub mod tasks;
pub mod tickets;
pub mod users;
pub mod webhook_subscriptions;
pub mod whatsapp;

use crate::error::ApiError;

/// Trims and checks a required name-like text (1..=max characters).
/// The digits of a phone number written with its country code (`+55 (11) 98765-4321`): 10 to 15
/// digits, with only spaces, `+`, `-`, `(`, `)` and `.` between them.
pub fn phone_digits(raw: &str) -> Option<String> {
    let well_formed = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    (well_formed && (10..=15).contains(&digits.len())).then_some(digits)
}

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

/// The OpenAPI schema of a parameter that takes one of a few words (checked by its handler, which
/// answers a clear problem for any other), so that clients and the MCP tools see the choices.
pub(crate) fn one_of_words(words: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(words.iter().copied()))
        .build()
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`), for PATCH bodies.
pub(crate) fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
