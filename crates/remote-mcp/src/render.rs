//! A tool result as the `mcp_call` output string (and what the model reads).
//!
//! Text content is the text. Other content is kept, one JSON object per block on its own line:
//! `{"type":"image","mime_type":…,"data":<base64>}`, the same for `audio`,
//! `{"type":"resource","uri":…,"mime_type":…,"text"|"blob":…}` and
//! `{"type":"resource_link","uri":…,"name":…}`. A binary payload above [`MAX_INLINE_BINARY`]
//! is replaced by `"omitted_bytes": <n>`; the whole output is cut at the configured cap with a
//! `…[truncated: N more bytes]` marker. A result with no content but `structuredContent` is
//! that JSON. `isError` makes the call fail with the same text.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{Value, json};

/// Largest base64 payload of one image, audio or blob block kept in the output.
pub const MAX_INLINE_BINARY: usize = 256 * 1024;

/// The result as text, `Err` when the tool reported an error.
pub fn render(result: &CallToolResult, max_bytes: usize) -> Result<String, String> {
    let mut lines: Vec<String> = result.content.iter().map(block).collect();
    if lines.is_empty()
        && let Some(structured) = &result.structured_content
    {
        lines.push(structured.to_string());
    }
    let text = truncate(lines.join("\n"), max_bytes);
    if result.is_error == Some(true) {
        Err(if text.is_empty() { "the tool reported an error".to_string() } else { text })
    } else {
        Ok(text)
    }
}

fn binary(data: &str) -> Value {
    if data.len() > MAX_INLINE_BINARY { json!({"omitted_bytes": data.len()}) } else { Value::String(data.to_string()) }
}

fn block(content: &ContentBlock) -> String {
    match content {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => {
            let mut v = json!({"type": "image", "mime_type": image.mime_type});
            put_data(&mut v, "data", &image.data);
            v.to_string()
        }
        ContentBlock::Audio(audio) => {
            let mut v = json!({"type": "audio", "mime_type": audio.mime_type});
            put_data(&mut v, "data", &audio.data);
            v.to_string()
        }
        ContentBlock::Resource(resource) => match &resource.resource {
            ResourceContents::TextResourceContents { uri, mime_type, text, .. } => {
                json!({"type": "resource", "uri": uri, "mime_type": mime_type, "text": text}).to_string()
            }
            ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => {
                let mut v = json!({"type": "resource", "uri": uri, "mime_type": mime_type});
                put_data(&mut v, "blob", blob);
                v.to_string()
            }
            other => serde_json::to_string(other).unwrap_or_default(),
        },
        ContentBlock::ResourceLink(link) => {
            json!({"type": "resource_link", "uri": link.uri, "name": link.name, "mime_type": link.mime_type})
                .to_string()
        }
        // Content kinds newer than this build are kept as the server sent them.
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn put_data(v: &mut Value, key: &str, data: &str) {
    let data = binary(data);
    if let Value::Object(map) = v {
        match data {
            Value::Object(omitted) => map.extend(omitted),
            data => {
                map.insert(key.to_string(), data);
            }
        }
    }
}

/// `text` cut to at most `max` bytes (at a character boundary) plus a marker saying how much
/// was cut.
pub fn truncate(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[truncated: {} more bytes]", &text[..cut], text.len() - cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_image_and_errors() {
        let ok = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::image("iVBO", "image/png")]);
        assert_eq!(
            render(&ok, 1000),
            Ok("a\n{\"data\":\"iVBO\",\"mime_type\":\"image/png\",\"type\":\"image\"}".into())
        );
        let err = CallToolResult::error(vec![ContentBlock::text("mailbox full")]);
        assert_eq!(render(&err, 1000), Err("mailbox full".into()));
        assert_eq!(render(&CallToolResult::error(vec![]), 1000), Err("the tool reported an error".into()));
        let structured = CallToolResult::structured(json!({"n": 1}));
        assert_eq!(render(&structured, 1000), Ok(r#"{"n":1}"#.into()));
    }

    #[test]
    fn caps() {
        let big = "A".repeat(MAX_INLINE_BINARY + 1);
        let img = CallToolResult::success(vec![ContentBlock::image(big, "image/png")]);
        let out = render(&img, usize::MAX).unwrap();
        assert!(out.contains(&format!("\"omitted_bytes\":{}", MAX_INLINE_BINARY + 1)), "{out}");
        assert_eq!(truncate("héllo".into(), 2), "h…[truncated: 5 more bytes]");
        assert_eq!(truncate("abc".into(), 3), "abc");
    }
}
