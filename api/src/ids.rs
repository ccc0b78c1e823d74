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

/// The two ids of a nested path (`/pipelines/{id}/stages/{stage_id}`): the parent's, then the
/// child's. Each malformed one is reported as not found under its own name.
pub struct IdPair<P, C> {
    parent: Uuid,
    child: Uuid,
    resources: PhantomData<fn() -> (P, C)>,
}

impl<P, C> IdPair<P, C> {
    pub fn get(&self) -> (Uuid, Uuid) {
        (self.parent, self.child)
    }
}

impl<P: Resource, C: Resource, S: Send + Sync> FromRequestParts<S> for IdPair<P, C> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((parent, child)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        Ok(IdPair {
            parent: crate::parse_id(&parent, P::NAME)?,
            child: crate::parse_id(&child, C::NAME)?,
            resources: PhantomData,
        })
    }
}
