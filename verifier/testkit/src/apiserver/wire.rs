//! The JSON the test API server speaks: `metav1.Status` errors, `{Kind}List` pages with their
//! opaque continue tokens, watch event lines and bookmarks, and the query string, all as the
//! Kubernetes API conventions and kube-rs's client (kube-core `params.rs`, `watch.rs`) read and
//! write them.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use serde_json::{Value, json};

use super::Resource;

// === Status ===

/// A failure `Status` as the API server writes it, with the HTTP status it goes with.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) code: StatusCode,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Value,
}

impl Failure {
    pub(crate) fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: json!({}),
        }
    }

    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn unknown_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub(crate) fn not_found(resource: &Resource, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", resource.qualified_plural()),
        )
        .with_details(json!({"name": name, "group": resource.group, "kind": resource.plural}))
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// `410 Gone`, reason `Expired`.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message)
    }

    pub(crate) fn too_old(asked: u64, oldest: u64) -> Self {
        Self::expired(format!("too old resource version: {asked} ({oldest})"))
    }

    /// The `metav1.Status` object.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code.as_u16(),
        })
    }
}

// === lists ===

/// One page of a list: `{Kind}List` with the snapshot's resourceVersion and, when more follow,
/// the token for the next page.
pub(crate) fn list(
    resource: &Resource,
    rv: u64,
    items: Vec<Value>,
    continue_token: Option<String>,
) -> Value {
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    json!({
        "apiVersion": resource.api_version(),
        "kind": format!("{}List", resource.kind),
        "metadata": metadata,
        "items": items,
    })
}

/// Where a paginated list stands: the snapshot it reads and the last (namespace, name) it gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Continue {
    pub(crate) rv: u64,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl Continue {
    /// The opaque token (base64url of a small JSON document, as the real one is).
    pub(crate) fn encode(&self) -> String {
        let doc = json!({"v": "portcullis.testkit/v1", "rv": self.rv, "ns": self.namespace, "start": self.name});
        URL_SAFE_NO_PAD.encode(doc.to_string())
    }

    pub(crate) fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let doc: Value = serde_json::from_slice(&bytes).ok()?;
        Some(Self {
            rv: doc["rv"].as_u64()?,
            namespace: doc["ns"].as_str()?.to_owned(),
            name: doc["start"].as_str()?.to_owned(),
        })
    }
}

// === watch ===

/// One watch event line: `{"type":…,"object":…}` and a newline.
pub(crate) fn event_line(kind: &str, object: &Value) -> String {
    let mut line = json!({ "type": kind, "object": object }).to_string();
    line.push('\n');
    line
}

/// A `BOOKMARK` event line at `rv`.
pub(crate) fn bookmark_line(resource: &Resource, rv: u64) -> String {
    let object = json!({
        "apiVersion": resource.api_version(),
        "kind": resource.kind,
        "metadata": { "resourceVersion": rv.to_string() },
    });
    event_line("BOOKMARK", &object)
}

// === query ===

/// The decoded `key=value` pairs of a query string.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits make at most 0xff.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `labels` satisfy an equality selector (`a=b,c==d,e!=f`); other forms match nothing.
pub(crate) fn labels_match(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                labels[k.trim()].as_str() == Some(v.trim())
            } else {
                labels.get(term).is_some()
            }
        })
}

// === values the server makes up ===

/// Now as RFC 3339 in UTC, to the second (`metav1.Time`).
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `n` bytes from the operating system's CSPRNG (through rustls's provider).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // On failure the bytes stay zero; tokens and uids are then predictable, which a test server
    // on loopback survives (aws-lc's RNG does not fail on a working system).
    let _ = rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut buf);
    buf
}

/// A random UUID (version 4), as `metadata.uid`.
pub(crate) fn random_uid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_garbage_is_refused() {
        let c = Continue {
            rv: 42,
            namespace: "ns".into(),
            name: "b".into(),
        };
        assert_eq!(Continue::decode(&c.encode()), Some(c));
        assert_eq!(Continue::decode("not-a-token"), None);
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(
            query_pairs("labelSelector=app%3Dweb%2Ctier%3Dfront&watch=true&x"),
            vec![
                ("labelSelector".into(), "app=web,tier=front".into()),
                ("watch".into(), "true".into()),
                ("x".into(), String::new()),
            ]
        );
    }

    #[test]
    fn equality_selectors_match_labels() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(labels_match("app=web,tier==front", &labels));
        assert!(!labels_match("app=db", &labels));
        assert!(labels_match("app!=db", &labels));
        assert!(!labels_match("missing", &labels));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.as_str() >= "2024-01-01T00:00:00Z", "{t}");
    }
}
