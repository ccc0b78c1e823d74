//! Typed path ids: a handler takes `Id<Campaign>` instead of a `String` it parses itself, so the
//! id's type says which resource it names, and every malformed id gets the same answer as an
//! unknown one (404 problem: no resource has that id), never a framework's 400.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::ApiError;

/// A resource a path can name by id; `NAME` is how a problem calls it ("campaign 42 not found").
pub trait Resource {
    const NAME: &'static str;
}

/// The single `{id}` of a path, as the id of an `R`.
pub struct Id<R> {
    id: Uuid,
    resource: PhantomData<fn() -> R>,
}

impl<R> Id<R> {
    pub fn get(&self) -> Uuid {
        self.id
    }
}

impl<R: Resource, S: Send + Sync> FromRequestParts<S> for Id<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        let id = crate::parse_id(&raw, R::NAME)?;
        Ok(Id {
            id,
            resource: PhantomData,
        })
    }
}
