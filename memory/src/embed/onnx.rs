//! all-MiniLM-L6-v2 with int8 weights, run by ONNX Runtime: the default MiniLM runtime.
//!
//! candle's f32 forward pass streamed every weight matrix for each short question, and on the
//! benchmark machine a question's embedding alone took a p95 of about 20 ms, more than the whole
//! contact-scoped search's budget (issue 22). ONNX Runtime's dynamically quantised products use
//! the CPU's int8 instructions (VNNI, AMX) on weights a quarter the size.
//!
//! The graph is not downloaded: `scripts/minilm_onnx.py` writes it op by op from the packaged
//! safetensors at setup and quantises the weight products per output channel (`model_int8.onnx`
//! beside the model's files). Its vectors stay within a cosine of about 0.99 of the f32 ones
//! (tested below), so both runtimes share the `minilm_l6_v2` embedding space and a deployment can
//! switch without re-embedding. The shared library comes from the `onnxruntime` wheel and is
//! loaded at run time (the `ort` crate's `load-dynamic`): nothing is fetched at build time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use tokenizers::Tokenizer;

use super::{EmbedError, Embedder, LocalEmbedder, PriorityGate, background};

/// The quantised graph's file name inside MiniLM's model directory.
pub const ONNX_MODEL_FILE: &str = "model_int8.onnx";
/// Where the `onnxruntime` wheel keeps its library inside site-packages.
const WHEEL_LIBRARY_DIR: &str = "onnxruntime/capi";

/// The ONNX Runtime library: `ORT_DYLIB_PATH` when set, else the `onnxruntime` wheel's in the
/// project virtualenv.
pub fn locate_onnxruntime() -> Result<PathBuf, EmbedError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Ok(PathBuf::from(path));
    }
    let dir = super::find_in_venv(&format!(
        "{WHEEL_LIBRARY_DIR}/libonnxruntime_providers_shared.so"
    ))
    .and_then(|f| f.parent().map(Path::to_path_buf));
    dir.and_then(|dir| {
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so."))
        })
    })
    .ok_or_else(|| {
        EmbedError::Files(
            "ONNX Runtime not found: install scripts/requirements.lock into .venv or set ORT_DYLIB_PATH (or EMBEDDING_RUNTIME=candle)".into(),
        )
    })
}

/// One environment per process (ONNX Runtime's rule); a failed load is remembered, not retried.
fn environment() -> Result<&'static ort::environment::Environment, EmbedError> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let library = locate_onnxruntime().map_err(|e| e.to_string())?;
        ort::init_from(&library)
            .map_err(|e| format!("{}: {e}", library.display()))?
            .with_name("ventros-embed")
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| EmbedError::Files(e.clone()))
}

pub struct OnnxEmbedder {
    /// One session for searches and one for background batches, so neither waits on the other's
    /// lock; the gate orders who runs (a session runs one call at a time).
    foreground: Mutex<Session>,
    background: Mutex<Session>,
    tokenizer: Tokenizer,
    dimensions: usize,
    gate: PriorityGate,
}

impl OnnxEmbedder {
    /// Loads `model_int8.onnx` and the tokenizer from MiniLM's model directory.
    pub fn load(dir: &Path) -> Result<Arc<Self>, EmbedError> {
        let file = dir.join(ONNX_MODEL_FILE);
        if !file.is_file() {
            return Err(EmbedError::Files(format!(
                "{} missing: build it with `.venv/bin/python scripts/minilm_onnx.py {} {}` (scripts/lib.sh does at setup)",
                file.display(),
                dir.display(),
                file.display()
            )));
        }
        let env = environment()?;
        let session = || -> Result<Session, EmbedError> {
            let files =
                |e: &dyn std::fmt::Display| EmbedError::Files(format!("{}: {e}", file.display()));
            // One thread per call: the worker runs several activities at once on few cores, and
            // a search's products are too small to gain from splitting.
            Session::builder(env)
                .map_err(|e| files(&e))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| files(&e))?
                .with_intra_threads(1)
                .map_err(|e| files(&e))?
                .with_inter_threads(1)
                .map_err(|e| files(&e))?
                .commit_from_file(&file)
                .map_err(|e| files(&e))
        };
        let foreground = session()?;
        let dimensions = match foreground.outputs().first().map(ort::value::Outlet::dtype) {
            Some(ort::value::ValueType::Tensor { shape, .. }) => {
                shape.last().copied().unwrap_or(-1)
            }
            _ => -1,
        };
        let dimensions = usize::try_from(dimensions).map_err(|_| {
            EmbedError::Files(format!("{}: no sentence vector output", file.display()))
        })?;
        Ok(Arc::new(OnnxEmbedder {
            foreground: Mutex::new(foreground),
            background: Mutex::new(session()?),
            tokenizer: LocalEmbedder::tokenizer(dir)?,
            dimensions,
            gate: PriorityGate::new(),
        }))
    }

    /// Synchronous inference for one batch on the given session.
    fn run(&self, session: &Mutex<Session>, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let err = |e: &dyn std::fmt::Display| EmbedError::Inference(e.to_string());
        let batch = LocalEmbedder::encode(&self.tokenizer, texts)?;
        let ids: Vec<i64> = batch.ids.iter().map(|&i| i64::from(i)).collect();
        let mask: Vec<i64> = batch.mask.iter().map(|&m| i64::from(m)).collect();
        let shape = [batch.rows, batch.width];
        let mut session = session.lock().map_err(|e| err(&e))?;
        let outputs = session
            .run(ort::inputs![
                "input_ids" => TensorRef::from_array_view((shape, ids.as_slice())).map_err(|e| err(&e))?,
                "attention_mask" => TensorRef::from_array_view((shape, mask.as_slice())).map_err(|e| err(&e))?,
            ])
            .map_err(|e| err(&e))?;
        let (_, flat) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| err(&e))?;
        if flat.len() != batch.rows * self.dimensions {
            return Err(EmbedError::Inference(format!(
                "the graph returned {} values for {} texts",
                flat.len(),
                batch.rows
            )));
        }
        Ok(flat.chunks(self.dimensions).map(<[f32]>::to_vec).collect())
    }

    /// Inference for someone waiting, on a blocking thread.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts
            .chunks(32)
            .map(|chunk| self.run(&self.foreground, chunk))
            .try_fold(Vec::with_capacity(texts.len()), |mut out, part| {
                out.extend(part?);
                Ok(out)
            })
    }
}

#[async_trait::async_trait]
impl Embedder for Arc<OnnxEmbedder> {
    fn model(&self) -> &str {
        LocalEmbedder::MODEL
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _permit = self.gate.foreground().await?;
        let (this, texts) = (Arc::clone(self), texts.to_vec());
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| EmbedError::Inference(e.to_string()))?
    }
    async fn embed_background(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        // A batch at a time on the idle-class threads (background.rs), replies first.
        for chunk in texts.chunks(32) {
            let _permit = self.gate.background().await?;
            let (this, chunk) = (Arc::clone(self), chunk.to_vec());
            out.extend(background::run(move || this.run(&this.background, &chunk)).await??);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::cosine;
    use super::*;

    /// The int8 graph must stay in the f32 model's embedding space: the two runtimes share
    /// `minilm_l6_v2`, so vectors stored by one are searched with the other's questions.
    #[tokio::test]
    async fn int8_vectors_stay_in_the_f32_space() {
        let dir = super::super::locate_local_model(None).expect("model files installed");
        let int8 = OnnxEmbedder::load(&dir).expect("the int8 graph is built at setup");
        let f32 = LocalEmbedder::load(&dir).unwrap();
        let texts: Vec<String> = [
            "I moved to Rio de Janeiro last month",
            "Quando chega o meu pedido da geladeira?",
            "My invoice is wrong and I want a refund for the broken blender",
            "Ela se mudou para Curitiba em março do ano passado",
            "ok",
            "Prefiro ser atendido pelo WhatsApp depois das 18h, por favor",
        ]
        .map(String::from)
        .to_vec();
        let a = int8.embed(&texts).await.unwrap();
        let b = f32.embed(&texts).await.unwrap();
        assert_eq!(a[0].len(), 384);
        // Activations are quantised per tensor, so a short text loses most (measured: "ok" 0.95
        // in this batch, sentences 0.99); what retrieval needs is the neighbours below.
        let cosines: Vec<f32> = a.iter().zip(&b).map(|(x, y)| cosine(x, y)).collect();
        for (i, (x, c)) in a.iter().zip(&cosines).enumerate() {
            assert!((cosine(x, x) - 1.0).abs() < 1e-4, "L2-normalised");
            assert!(*c > 0.93, "text {i}: int8 against f32 cosine {c}");
        }
        let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
        assert!(mean > 0.98, "mean cosine {mean}: {cosines:?}");
        // The nearest neighbours agree: each int8 vector is closest to its own f32 vector.
        for (i, x) in a.iter().enumerate() {
            let best = (0..b.len())
                .max_by(|&p, &q| cosine(x, &b[p]).total_cmp(&cosine(x, &b[q])))
                .unwrap();
            assert_eq!(best, i);
        }
        // Its batch changes a vector a little (the activation scale is the batch's), never much.
        let alone = int8.embed(&texts[2..3]).await.unwrap();
        let c = cosine(&alone[0], &a[2]);
        assert!(c > 0.99, "alone against in a batch: {c}");
        let background = int8.embed_background(&texts).await.unwrap();
        assert!(
            background
                .iter()
                .zip(&a)
                .all(|(x, y)| cosine(x, y) > 0.9999)
        );
    }
}
