//! What a customer's message carries besides text, read from the provider's payload: files to
//! fetch (WAHA's `media.url`, Meta's `attachments[].payload.url`), locations and contact cards.
//! Only the provider's words are read here; the bytes' real type is checked when they are fetched.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One attachment of an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundAttachment {
    /// `image`, `audio`, `voice`, `video`, `document`, `sticker`, `location` or `contact`.
    pub kind: String,
    /// Where the file is to be fetched; `None` for locations and contact cards, and for a file
    /// the provider did not download (see `error`).
    pub url: Option<String>,
    /// The provider's content type: a hint, checked against the bytes.
    pub declared_type: Option<String>,
    pub filename: Option<String>,
    /// A location (`latitude`, `longitude`, `name`, `address`) or a contact card (`vcard`, `name`,
    /// `phones`).
    pub details: Option<Value>,
    /// Why there is nothing to fetch, when there should have been.
    pub error: Option<String>,
}

impl InboundAttachment {
    fn file(
        kind: &str,
        url: Option<String>,
        declared_type: Option<String>,
        filename: Option<String>,
    ) -> Self {
        let error = url.is_none().then(|| {
            "the provider did not make this file available (its media download may be off)"
                .to_owned()
        });
        InboundAttachment {
            kind: kind.to_owned(),
            url,
            declared_type,
            filename,
            details: None,
            error,
        }
    }

    fn details(kind: &str, details: Value) -> Self {
        InboundAttachment {
            kind: kind.to_owned(),
            url: None,
            declared_type: None,
            filename: None,
            details: Some(details),
            error: None,
        }
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(1000).collect())
}

/// A coordinate, as a number or as the string some engines send.
fn coordinate(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|c| c.is_finite())
}

fn location(
    latitude: Option<f64>,
    longitude: Option<f64>,
    name: Option<String>,
    address: Option<String>,
) -> Option<InboundAttachment> {
    let (lat, long) = (latitude?, longitude?);
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&long) {
        return None;
    }
    Some(InboundAttachment::details(
        "location",
        json!({"latitude": lat, "longitude": long, "name": name, "address": address}),
    ))
}

/// A vCard's display name and phone numbers (`FN:` and `TEL…:` lines).
fn contact_card(vcard: &str) -> InboundAttachment {
    let mut name = None;
    let mut phones = Vec::new();
    for line in vcard.lines().map(str::trim) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.to_ascii_uppercase();
        if key == "FN" && name.is_none() {
            name = Some(value.chars().take(200).collect::<String>());
        } else if key.starts_with("TEL") && phones.len() < 10 {
            phones.push(value.chars().take(40).collect::<String>());
        }
    }
    let vcard: String = vcard.chars().take(8000).collect();
    InboundAttachment::details(
        "contact",
        json!({"vcard": vcard, "name": name, "phones": phones}),
    )
}

/// The file kind WAHA's `_data.type` (WEBJS) or the content type says.
fn waha_kind(engine_type: Option<&str>, mimetype: Option<&str>) -> &'static str {
    match engine_type {
        Some("ptt") => return "voice",
        Some("sticker") => return "sticker",
        Some("image") => return "image",
        Some("video") => return "video",
        Some("audio") => return "audio",
        Some("document") => return "document",
        _ => {}
    }
    let mimetype = mimetype.unwrap_or_default();
    match mimetype.split('/').next() {
        // WhatsApp voice notes are Opus in Ogg; an audio file sent as such is MP3/M4A.
        Some("audio") if mimetype.starts_with("audio/ogg") => "voice",
        Some("audio") => "audio",
        Some("image") => "image",
        Some("video") => "video",
        _ => "document",
    }
}

/// The attachments of a WAHA `message` payload.
pub fn from_waha(payload: &Value) -> Vec<InboundAttachment> {
    let mut out = Vec::new();
    if payload
        .get("hasMedia")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let media = payload.get("media").filter(|m| m.is_object());
        let mimetype = media.and_then(|m| string(m.get("mimetype")));
        let kind = waha_kind(
            payload.pointer("/_data/type").and_then(Value::as_str),
            mimetype.as_deref(),
        );
        let url = media
            .filter(|m| m.get("error").is_none_or(Value::is_null))
            .and_then(|m| string(m.get("url")));
        out.push(InboundAttachment::file(
            kind,
            url,
            mimetype,
            media.and_then(|m| string(m.get("filename"))),
        ));
    }
    if let Some(loc) = payload.get("location").filter(|l| l.is_object()) {
        out.extend(location(
            coordinate(loc.get("latitude")),
            coordinate(loc.get("longitude")),
            string(loc.get("description")).or_else(|| string(loc.get("name"))),
            string(loc.get("address")),
        ));
    }
    if let Some(cards) = payload.get("vCards").and_then(Value::as_array) {
        out.extend(
            cards
                .iter()
                .filter_map(Value::as_str)
                .take(10)
                .map(contact_card),
        );
    }
    out
}

/// The attachments of a Messenger or Instagram message (`message.attachments[]`). Shared links
/// (`fallback`, `share`, `template`) carry no file and are left to the text.
pub fn from_meta(attachments: &[Value]) -> Vec<InboundAttachment> {
    attachments
        .iter()
        .take(10)
        .filter_map(|a| {
            let payload = a.get("payload");
            let url = string(payload.and_then(|p| p.get("url")));
            let kind = match a.get("type").and_then(Value::as_str)? {
                "image" if payload.and_then(|p| p.get("sticker_id")).is_some() => "sticker",
                "image" => "image",
                "sticker" => "sticker",
                "video" | "reel" | "ig_reel" => "video",
                // Messenger's and Instagram's voice clips arrive as audio.
                "audio" => "voice",
                "file" => "document",
                "location" => {
                    let coords = payload.and_then(|p| p.get("coordinates"));
                    return location(
                        coordinate(coords.and_then(|c| c.get("lat"))),
                        coordinate(coords.and_then(|c| c.get("long"))),
                        string(a.get("title")),
                        None,
                    );
                }
                _ => return None,
            };
            let filename = url.as_deref().and_then(filename_of_url);
            Some(InboundAttachment::file(kind, url, None, filename))
        })
        .collect()
}

/// The last path segment of a URL, as a file name (Meta gives none).
fn filename_of_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && name.contains('.')).then(|| name.chars().take(120).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waha_files_locations_and_cards() {
        let voice = json!({"hasMedia": true, "media": {"url": "http://waha/api/files/default/a.oga", "mimetype": "audio/ogg; codecs=opus", "filename": null, "error": null}});
        let got = from_waha(&voice);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].kind.as_str(), got[0].url.as_deref()),
            ("voice", Some("http://waha/api/files/default/a.oga"))
        );

        let doc = json!({"hasMedia": true, "_data": {"type": "document"}, "media": {"url": "http://w/f.pdf", "mimetype": "application/pdf", "filename": "nota.pdf"}});
        assert_eq!(from_waha(&doc)[0].filename.as_deref(), Some("nota.pdf"));
        assert_eq!(from_waha(&doc)[0].kind, "document");

        let not_downloaded = json!({"hasMedia": true, "media": null});
        let got = from_waha(&not_downloaded);
        assert!(got[0].url.is_none() && got[0].error.is_some());

        let place = json!({"hasMedia": false, "location": {"latitude": "-23.55", "longitude": -46.63, "description": "Loja"}});
        let got = from_waha(&place);
        assert_eq!(got[0].kind, "location");
        assert_eq!(got[0].details.as_ref().unwrap()["latitude"], json!(-23.55));

        let card = json!({"hasMedia": false, "vCards": ["BEGIN:VCARD\nVERSION:3.0\nFN:Ana Souza\nTEL;type=CELL:+55 11 99999-0000\nEND:VCARD"]});
        let got = from_waha(&card);
        assert_eq!(got[0].details.as_ref().unwrap()["name"], "Ana Souza");
        assert_eq!(
            got[0].details.as_ref().unwrap()["phones"],
            json!(["+55 11 99999-0000"])
        );

        assert!(
            from_waha(&json!({"hasMedia": false, "location": {"latitude": 200, "longitude": 0}}))
                .is_empty()
        );
    }

    #[test]
    fn meta_attachments() {
        let got = from_meta(&[
            json!({"type": "image", "payload": {"url": "https://cdn/x/photo.jpg?sig=1"}}),
            json!({"type": "audio", "payload": {"url": "https://cdn/a.mp4"}}),
            json!({"type": "image", "payload": {"url": "https://cdn/s.png", "sticker_id": 369239263222822_u64}}),
            json!({"type": "fallback", "payload": {"url": "https://example.com"}, "title": "Link"}),
            json!({"type": "location", "payload": {"coordinates": {"lat": -22.9, "long": -43.2}}, "title": "Rio"}),
        ]);
        let kinds: Vec<&str> = got.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["image", "voice", "sticker", "location"]);
        assert_eq!(got[0].filename.as_deref(), Some("photo.jpg"));
    }
}
