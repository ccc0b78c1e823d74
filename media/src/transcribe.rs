//! Voice notes into words, where a speech model is configured: any service with the
//! OpenAI-compatible `POST {base}/audio/transcriptions` (multipart `file` and `model`, answering
//! `{"text": …}`): OpenAI's Whisper, Groq, a local faster-whisper or whisper.cpp server. The
//! words reach the contact's memory like a message's; without a model, voice notes are kept and
//! played, not read.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub struct Transcriber {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<SecretString>,
    model: String,
}

impl Transcriber {
    pub fn new(base_url: &str, api_key: Option<SecretString>, model: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Transcriber {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model: model.to_owned(),
        })
    }

    /// The words of an audio file; an error leaves the voice note untranscribed (retried by the
    /// activity while its attempts last).
    pub async fn transcribe(&self, audio: Vec<u8>, content_type: &str) -> anyhow::Result<String> {
        let extension = content_type.rsplit('/').next().unwrap_or("ogg");
        let part = reqwest::multipart::Part::bytes(audio)
            .file_name(format!("voice.{extension}"))
            .mime_str(content_type)?;
        let form = reqwest::multipart::Form::new()
            .text("model", self.model.clone())
            .text("response_format", "json")
            .part("file", part);
        let mut request = self
            .http
            .post(format!("{}/audio/transcriptions", self.base_url))
            .multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("the transcription service answered {status}");
        }
        let body: serde_json::Value = response.json().await?;
        let text = body
            .get("text")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("the transcription service's answer has no text"))?;
        Ok(text.trim().chars().take(4096).collect())
    }
}
