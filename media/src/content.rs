//! What a file is, read from its bytes. Providers and uploaders name a content type, but the name
//! is only a hint: a "photo" that is an HTML page or an executable would be served to operators'
//! browsers under our origin. So the type we store and serve is the one the bytes say.

use serde::{Deserialize, Serialize};

/// What an attachment is to the people in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Audio,
    /// A voice note (WhatsApp's push-to-talk), shown with a player and transcribed where a model
    /// is configured.
    Voice,
    Video,
    Document,
    Sticker,
    Location,
    Contact,
}

impl MediaKind {
    pub const ALL: [MediaKind; 8] = [
        MediaKind::Image,
        MediaKind::Audio,
        MediaKind::Voice,
        MediaKind::Video,
        MediaKind::Document,
        MediaKind::Sticker,
        MediaKind::Location,
        MediaKind::Contact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
            MediaKind::Location => "location",
            MediaKind::Contact => "contact",
        }
    }

    pub fn parse(value: &str) -> Option<MediaKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Whether the kind is a file (kept in object storage); locations and contact cards are not.
    pub fn is_file(self) -> bool {
        !matches!(self, MediaKind::Location | MediaKind::Contact)
    }

    /// The kind a content type is shown as, when nothing more specific is known.
    pub fn of_content_type(content_type: &str) -> MediaKind {
        match content_type.split('/').next() {
            Some("image") => MediaKind::Image,
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            _ => MediaKind::Document,
        }
    }
}

/// Served for bytes whose type we could not read: downloaded, never displayed.
pub const OPAQUE: &str = "application/octet-stream";

/// The types an operator may send, by what the bytes say. Everything a browser could execute
/// (HTML, SVG, scripts) and every executable is refused.
const SENDABLE: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "audio/ogg",
    "audio/opus",
    "audio/mpeg",
    "audio/m4a",
    "audio/mp4",
    "audio/aac",
    "audio/amr",
    "video/mp4",
    "video/3gpp",
    "video/quicktime",
    "video/webm",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/zip",
    "text/plain",
    "text/csv",
];

/// Whether a stored type may be shown inline (`Content-Disposition: inline`): the media and PDFs
/// among the types we accept; every other type is sent as a download.
pub fn displayable(content_type: &str) -> bool {
    let media = ["image/", "audio/", "video/"]
        .iter()
        .any(|family| content_type.starts_with(family));
    SENDABLE.contains(&content_type) && (media || content_type == "application/pdf")
}

/// The type the bytes are, or `None` when they carry no signature we know. Plain text has no
/// signature: it is text only when the uploader says so and the bytes are UTF-8 without controls.
pub fn sniff(bytes: &[u8], declared: Option<&str>) -> Option<String> {
    if let Some(found) = infer::get(bytes) {
        return Some(found.mime_type().to_owned());
    }
    let declared = declared?.split(';').next()?.trim().to_ascii_lowercase();
    let textual = matches!(declared.as_str(), "text/plain" | "text/csv")
        && std::str::from_utf8(bytes).is_ok_and(|s| {
            !s.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        });
    textual.then_some(declared)
}

/// Why a file is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Refused(String),
}

/// A file checked for sending: its type from the bytes, and the kind it goes out as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub content_type: String,
    pub kind: MediaKind,
}

/// Limits on what operators send, in bytes: WhatsApp's own (images 5 MB, audio and video 16 MB)
/// and ours for documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub image: u64,
    pub audio_video: u64,
    pub document: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            image: 5 * 1024 * 1024,
            audio_video: 16 * 1024 * 1024,
            document: 16 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The largest file of any kind.
    pub fn largest(&self) -> u64 {
        self.image.max(self.audio_video).max(self.document)
    }

    fn of(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Image | MediaKind::Sticker => self.image,
            MediaKind::Audio | MediaKind::Voice | MediaKind::Video => self.audio_video,
            _ => self.document,
        }
    }
}

/// Checks a file an operator wants to send. `as_voice` asks for a voice note (audio only).
pub fn check_upload(
    bytes: &[u8],
    declared: Option<&str>,
    as_voice: bool,
    limits: &Limits,
) -> Result<Checked, ContentError> {
    if bytes.is_empty() {
        return Err(ContentError::Empty);
    }
    let content_type = sniff(bytes, declared).ok_or_else(|| {
        ContentError::Refused(
            "the file's type could not be read from its contents; send an image, audio, video, PDF, office document or plain text"
                .into(),
        )
    })?;
    if !SENDABLE.contains(&content_type.as_str()) {
        return Err(ContentError::Refused(format!(
            "files of type {content_type} cannot be sent"
        )));
    }
    let mut kind = MediaKind::of_content_type(&content_type);
    if as_voice {
        if kind != MediaKind::Audio {
            return Err(ContentError::Refused(format!(
                "a voice note must be audio, not {content_type}"
            )));
        }
        kind = MediaKind::Voice;
    }
    let limit = limits.of(kind);
    let size = bytes.len() as u64;
    if size > limit {
        return Err(ContentError::TooLarge { size, limit });
    }
    Ok(Checked { content_type, kind })
}

/// A file name safe to store and to put in a `Content-Disposition` header: no path, no control
/// characters, at most 120 characters.
pub fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n";

    #[test]
    fn the_bytes_decide_the_type() {
        assert_eq!(
            sniff(PNG, Some("application/pdf")).as_deref(),
            Some("image/png")
        );
        assert_eq!(sniff(PDF, None).as_deref(), Some("application/pdf"));
        assert_eq!(
            sniff(b"<html><script>", Some("image/png")).as_deref(),
            Some("text/html")
        );
        assert_eq!(sniff(b"\x00\x01garbage", Some("image/png")), None);
        assert_eq!(
            sniff("olá\n".as_bytes(), Some("text/plain; charset=utf-8")).as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            sniff(b"MZ\x90\0\x03", Some("text/plain")).as_deref(),
            Some("application/vnd.microsoft.portable-executable")
        );
        assert_eq!(sniff(b"a\x07b", Some("text/plain")), None);
    }

    #[test]
    fn uploads_are_checked_for_type_kind_and_size() {
        let limits = Limits {
            image: 10,
            audio_video: 100,
            document: 100,
        };
        assert_eq!(
            check_upload(PDF, Some("application/pdf"), false, &limits),
            Ok(Checked {
                content_type: "application/pdf".into(),
                kind: MediaKind::Document
            })
        );
        assert!(matches!(
            check_upload(PNG, None, false, &limits),
            Err(ContentError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            check_upload(b"", None, false, &limits),
            Err(ContentError::Empty)
        ));
        assert!(matches!(
            check_upload(
                b"<svg onload=alert(1)>",
                Some("image/svg+xml"),
                false,
                &limits
            ),
            Err(ContentError::Refused(_))
        ));
        assert!(matches!(
            check_upload(b"MZ\x90\0\x03\0\0\0", None, false, &limits),
            Err(ContentError::Refused(_))
        ));
        assert!(matches!(
            check_upload(PDF, None, true, &limits),
            Err(ContentError::Refused(_))
        ));
        assert!(matches!(
            check_upload(b"<html><script>", Some("text/plain"), false, &limits),
            Err(ContentError::Refused(_))
        ));
    }

    #[test]
    fn only_media_and_pdfs_are_shown_inline() {
        assert!(
            displayable("image/png") && displayable("audio/mp4") && displayable("application/pdf")
        );
        assert!(
            !displayable("text/plain") && !displayable("application/zip") && !displayable(OPAQUE)
        );
        assert!(!displayable("image/svg+xml") && !displayable("text/html"));
    }

    #[test]
    fn file_names_lose_paths_and_controls() {
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_filename("C:\\x\\nota \"fiscal\".pdf").as_deref(),
            Some("nota fiscal.pdf")
        );
        assert_eq!(clean_filename("a\r\nb.txt").as_deref(), Some("ab.txt"));
        assert_eq!(clean_filename("..."), None);
    }
}
