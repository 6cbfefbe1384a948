//! Fetching Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00 §4):
//! one GET of the `client_id` URL, with the limits the draft's security considerations ask for. The
//! URL was checked before it gets here (`domain::oauth::client::check_metadata_document_url`: https,
//! a public host name). Here: no redirects followed (a redirect could lead to an internal address),
//! a time limit, a size limit applied while reading (5 KiB, the draft's recommendation), and only a
//! 200 counts. The document's content is checked by the caller. Must not log the document.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::{AbortController, Delay};

use crate::platform::{self, BodyError};

/// draft-00 §6.6: "The recommended maximum response size for client metadata documents is 5 kilobytes."
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// How long a fetch may take, connection to last byte.
pub const TIMEOUT_MS: u64 = 5_000;

/// Why no document was obtained (for the log and the error description; never the document).
#[derive(Debug)]
pub enum Failure {
    Timeout,
    Network,
    Status(u16),
    TooLarge,
}

impl Failure {
    pub fn describe(&self) -> String {
        match self {
            Failure::Timeout => format!("did not answer within {TIMEOUT_MS} ms"),
            Failure::Network => "could not be fetched".to_owned(),
            Failure::Status(s) if (300..400).contains(s) => {
                format!("answered with a redirect ({s}), which is not followed")
            }
            Failure::Status(s) => format!("answered with status {s}"),
            Failure::TooLarge => format!("is larger than {MAX_DOCUMENT_BYTES} bytes"),
        }
    }
}

/// A fetched document: its bytes and its `Cache-Control` header.
pub struct Document {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

pub async fn fetch(url: &str) -> Result<Document, Failure> {
    let out = platform::Outgoing {
        method: "GET",
        url,
        headers: &[
            ("Accept", "application/json"),
            ("User-Agent", "auth-worker (OAuth client metadata)"),
        ],
        body: None,
        follow_redirects: false,
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let sending = Box::pin(async move {
        let resp = platform::fetch(&out, &signal)
            .await
            .map_err(|_| Failure::Network)?;
        let status = resp.status();
        if status != 200 {
            return Err(Failure::Status(status));
        }
        let declared = resp
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES) {
            return Err(Failure::TooLarge);
        }
        let cache_control = resp.headers().get("cache-control").ok().flatten();
        let stream = resp.body();
        let body = platform::read_stream_limited(stream, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => Failure::TooLarge,
                BodyError::Unreadable => Failure::Network,
            })?;
        Ok(Document {
            body,
            cache_control,
        })
    });
    let timeout = Delay::from(Duration::from_millis(TIMEOUT_MS));
    let raced = select(sending, timeout).await;
    match raced {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => {
            controller.abort();
            Err(Failure::Timeout)
        }
    }
}
