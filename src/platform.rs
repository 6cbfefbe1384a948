//! The Workers runtime behind a few small functions: the clock, the CSPRNG, the bindings of the
//! current invocation and `waitUntil`. The rest of the worker passes `now` and random bytes into pure
//! code. Must not hold any state. (`std::time` panics on wasm32; `Date.now()` is the platform clock.)

use std::future::Future;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{web_sys, Env};

use crate::error::AppError;

#[wasm_bindgen(module = "cloudflare:workers")]
extern "C" {
    /// The bindings, readable from any handler, including RPC methods (which receive only the
    /// caller's arguments).
    #[wasm_bindgen(thread_local_v2, js_name = env)]
    static ENV: JsValue;
    /// Extends the current invocation (request, RPC call or cron run) until the promise settles.
    #[wasm_bindgen(js_name = waitUntil)]
    fn wait_until(promise: &js_sys::Promise);
}

#[wasm_bindgen]
extern "C" {
    /// A request body's `ReadableStream` (only the two methods used here).
    type BodyStream;
    #[wasm_bindgen(method, js_name = getReader)]
    fn get_reader(this: &BodyStream) -> BodyReader;

    type BodyReader;
    #[wasm_bindgen(method)]
    fn read(this: &BodyReader) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    fn cancel(this: &BodyReader) -> js_sys::Promise;
}

/// Why a body could not be read whole.
pub enum BodyError {
    /// More than the limit arrived (reading stopped there).
    TooLarge,
    /// The stream failed.
    Unreadable,
}

/// Reads a request body chunk by chunk, counting as it goes, and stops (cancelling the stream) as
/// soon as more than `limit` bytes have arrived: whatever the sender declared or not, at most
/// `limit` + one chunk is ever held, and only `limit` bytes are copied into WASM memory.
pub async fn read_body_limited(
    request: &web_sys::Request,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    read_stream_limited(request.body(), limit).await
}

/// [`read_body_limited`] for any body stream (a fetched response's, for example).
pub async fn read_stream_limited(
    stream: Option<web_sys::ReadableStream>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let Some(stream) = stream else {
        return Ok(Vec::new());
    };
    let reader = stream.unchecked_into::<BodyStream>().get_reader();
    let mut body = Vec::new();
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read())
            .await
            .map_err(|_| BodyError::Unreadable)?;
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .map_err(|_| BodyError::Unreadable)?;
        if done.as_bool() == Some(true) {
            return Ok(body);
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(|_| BodyError::Unreadable)?;
        let bytes = value
            .dyn_into::<js_sys::Uint8Array>()
            .map_err(|_| BodyError::Unreadable)?;
        let len = usize::try_from(bytes.length()).unwrap_or(usize::MAX);
        if body.len().saturating_add(len) > limit {
            // Stop the upload here; the rest is never read.
            let _ = reader.cancel();
            return Err(BodyError::TooLarge);
        }
        let start = body.len();
        body.resize(start + len, 0);
        if let Some(dest) = body.get_mut(start..) {
            bytes.copy_to(dest);
        }
    }
}

/// The bindings of this worker.
pub fn env() -> Env {
    ENV.with(JsValue::clone).unchecked_into()
}

/// Runs `work` after the current answer is sent, within the same invocation. For bookkeeping that
/// must never slow down or fail the answer (its own failures are logged by `work`).
pub fn defer(work: impl Future<Output = ()> + 'static) {
    wait_until(&wasm_bindgen_futures::future_to_promise(async move {
        work.await;
        Ok(JsValue::UNDEFINED)
    }));
}

/// Where the entry module (src/entry.mjs) reads whether the answers of `validateToken` it keeps are
/// still good: a number any change of someone's access bumps.
const ANSWER_GENERATION: &str = "__auth_answer_generation";

/// Tells the entry module to drop every answer it keeps (a session was revoked, a key or a user
/// changed in this isolate).
pub fn invalidate_answers() {
    let global = js_sys::global();
    let key = JsValue::from_str(ANSWER_GENERATION);
    let next = js_sys::Reflect::get(&global, &key)
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
        + 1.0;
    let _ = js_sys::Reflect::set(&global, &key, &JsValue::from_f64(next));
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    // u64 millis since 1970 fit an i64 until the year 292 million.
    i64::try_from(worker::Date::now().as_millis()).unwrap_or(i64::MAX)
}

/// Unix time in seconds.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// `N` bytes from the platform CSPRNG (`crypto.getRandomValues` through getrandom).
pub fn random<const N: usize>() -> Result<[u8; N], AppError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| AppError::internal(format!("getrandom failed: {e}")))?;
    Ok(buf)
}

/// A uniformly distributed number in [0, 1) for retry jitter.
pub fn jitter_unit() -> f64 {
    match random::<4>() {
        Ok(b) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// An outgoing HTTP request (to WorkOS, or for a client metadata document).
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
    /// `false`: a redirect is answered as it is, never followed.
    pub follow_redirects: bool,
}

/// Sends `out` with the runtime's `fetch`, abortable through `signal`. Built on the Web API types
/// directly: the `worker` crate's request builder carries every `cf` option along, which this
/// worker never sets. The error is the runtime's message (no header or body is ever in it).
pub async fn fetch(
    out: &Outgoing<'_>,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::Response, String> {
    let message = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map_or_else(|| "fetch failed".to_owned(), |e| String::from(e.message()))
    };
    let headers = web_sys::Headers::new().map_err(message)?;
    for (name, value) in out.headers {
        headers.set(name, value).map_err(message)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(out.method);
    init.set_headers(&headers);
    if let Some(body) = out.body {
        init.set_body(&JsValue::from_str(body));
    }
    if !out.follow_redirects {
        init.set_redirect(web_sys::RequestRedirect::Manual);
    }
    init.set_signal(Some(signal));
    let request = web_sys::Request::new_with_str_and_init(out.url, &init).map_err(message)?;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let answer = wasm_bindgen_futures::JsFuture::from(scope.fetch_with_request(&request))
        .await
        .map_err(message)?;
    answer.dyn_into().map_err(message)
}

/// A response's body as text.
pub async fn text(response: &web_sys::Response) -> Result<String, String> {
    let promise = response.text().map_err(|_| "unreadable body".to_owned())?;
    let text = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|_| "unreadable body".to_owned())?;
    text.as_string().ok_or_else(|| "unreadable body".to_owned())
}
