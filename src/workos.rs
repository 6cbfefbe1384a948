//! The WorkOS HTTP client: the code exchange on `/user_management/authenticate`, user,
//! membership, organization and event reads, and session revoke (tests/fixtures/workos-api.md §2-§7).
//! It parses WorkOS's three error shapes, keeps `X-Request-ID` for the log, and retries only
//! transient failures (network, timeout, 408, 429 honouring Retry-After, 5xx) with bounded jittered
//! backoff. It never retries a code exchange: a consumed code answers `invalid_grant`.
//! It must never log or return a token, code or key.

use std::time::Duration;

use futures_util::future::{select, Either};
use serde_json::Value;
use worker::{AbortController, Delay, Method};

use crate::config::Config;
use crate::domain::json::{Object as JsonObject, Shape};
use crate::domain::workos::{
    self as wos, ApiError, AuthenticateResponse, Event, List, Membership, Organization, User,
};
use crate::error::{AppError, Code};
use crate::log;
use crate::platform;

#[derive(Debug)]
pub enum Failure {
    /// WorkOS answered with an error status.
    Api {
        error: ApiError,
        request_id: Option<String>,
    },
    /// No answer within the configured timeout.
    Timeout,
    /// The request could not be sent or the connection failed.
    Network(String),
    /// A success status with a body that is not the expected JSON.
    Malformed {
        status: u16,
        request_id: Option<String>,
    },
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Api { error, .. } => error.is_transient(),
            Failure::Timeout | Failure::Network(_) => true,
            Failure::Malformed { .. } => false,
        }
    }

    /// WorkOS answered 400 `invalid_request`: a parameter is missing or malformed (our caller's to fix).
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, Failure::Api { error, .. } if error.status == 400 && error.code == "invalid_request")
    }

    /// WorkOS says the object does not exist (definitive, unlike a transient failure).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Failure::Api { error, .. } if error.status == 404)
    }

    /// For logs: status, WorkOS's error code and request id. Never WorkOS's free-text message (it
    /// could echo input) and never a token or code.
    pub fn describe(&self) -> String {
        match self {
            Failure::Api { error, request_id } => format!(
                "workos {} {} request_id={}",
                error.status,
                error.code,
                request_id.as_deref().unwrap_or("-")
            ),
            Failure::Timeout => "workos timeout".to_owned(),
            Failure::Network(e) => format!(
                "workos network error: {}",
                e.chars().take(120).collect::<String>()
            ),
            Failure::Malformed { status, request_id } => format!(
                "workos {status} with a malformed body request_id={}",
                request_id.as_deref().unwrap_or("-")
            ),
        }
    }
}

impl From<Failure> for AppError {
    fn from(f: Failure) -> Self {
        let detail = f.describe();
        match &f {
            Failure::Api { error, .. } if error.is_invalid_grant() => {
                Code::InvalidGrant.err().with_detail(detail)
            }
            Failure::Api { error, .. } if error.is_step_up() => AppError::StepUp {
                code: public_code(&error.code),
                detail,
            },
            Failure::Api { error, .. } if error.status == 429 => AppError::RateLimited {
                retry_after_secs: error.retry_after_secs.unwrap_or(60),
            },
            _ => Code::WorkosUnavailable.err().with_detail(detail),
        }
    }
}

/// WorkOS codes are passed through only when they look like codes (never free text).
fn public_code(code: &str) -> String {
    if !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
    {
        code.to_owned()
    } else {
        "workos_step_up_required".to_owned()
    }
}

pub struct WorkOs<'a> {
    cfg: &'a Config,
}

struct Answer {
    status: u16,
    body: String,
    request_id: Option<String>,
    retry_after: Option<String>,
}

impl<'a> WorkOs<'a> {
    pub fn new(cfg: &'a Config) -> Self {
        WorkOs { cfg }
    }

    /// §2: exchange an authorization code. Sent once, never retried.
    pub async fn authenticate_code(
        &self,
        code: &str,
        code_verifier: Option<&str>,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<AuthenticateResponse, Failure> {
        let mut body = JsonObject::new()
            .str("grant_type", "authorization_code")
            .str("client_id", &self.cfg.workos_client_id)
            .str("client_secret", self.cfg.workos_client_secret.expose())
            .str("code", code);
        for (name, value) in [
            ("code_verifier", code_verifier),
            ("ip_address", ip_address),
            ("user_agent", user_agent),
        ] {
            if let Some(value) = value {
                body = body.str(name, value);
            }
        }
        let answer = self
            .call(
                Method::Post,
                "/user_management/authenticate",
                Some(body.finish()),
                false,
            )
            .await?;
        answer.read(AuthenticateResponse::from_json)
    }

    /// §5: one user.
    pub async fn get_user(&self, id: &str) -> Result<User, Failure> {
        let path = format!("/user_management/users/{}", enc(id));
        let answer = self.call(Method::Get, &path, None, true).await?;
        answer.read(User::from_json)
    }

    /// §5: one organization.
    pub async fn get_organization(&self, id: &str) -> Result<Organization, Failure> {
        let path = format!("/organizations/{}", enc(id));
        let answer = self.call(Method::Get, &path, None, true).await?;
        answer.read(Organization::from_json)
    }

    /// §5: memberships of a user, optionally in one organization (active and inactive).
    pub async fn list_memberships(
        &self,
        user_id: &str,
        organization_id: Option<&str>,
    ) -> Result<List<Membership>, Failure> {
        let mut path = format!(
            "/user_management/organization_memberships?user_id={}&statuses=active,inactive&limit=100",
            enc(user_id)
        );
        if let Some(org) = organization_id {
            path.push_str(&format!("&organization_id={}", enc(org)));
        }
        let answer = self.call(Method::Get, &path, None, true).await?;
        answer.read(|v| List::from_json(v, Membership::from_json))
    }

    /// §4: end a WorkOS session server-side.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), Failure> {
        self.call(
            Method::Post,
            "/user_management/sessions/revoke",
            Some(JsonObject::new().str("session_id", session_id).finish()),
            true,
        )
        .await?;
        Ok(())
    }

    /// §7: a page of events after `after`, oldest first.
    pub async fn list_events(
        &self,
        events: &[&str],
        after: Option<&str>,
        limit: u32,
    ) -> Result<List<Event>, Failure> {
        let mut path = format!("/events?events={}&limit={limit}", enc(&events.join(",")));
        if let Some(a) = after {
            path.push_str(&format!("&after={}", enc(a)));
        }
        let answer = self.call(Method::Get, &path, None, true).await?;
        answer.read(|v| List::from_json(v, Event::from_json))
    }

    /// Sends a request (retrying transient failures when `retry`) and parses a success answer's
    /// body as JSON; the caller reads its shape ([`Parsed::read`]).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        retry: bool,
    ) -> Result<Parsed, Failure> {
        let mut retry_index = 0u32;
        loop {
            let outcome = self.send(method.clone(), path, body.as_deref()).await;
            let failure = match outcome {
                Ok(a) if (200..300).contains(&a.status) => {
                    return match crate::domain::json::parse(a.body.as_bytes()) {
                        Ok(value) => Ok(Parsed {
                            value,
                            status: a.status,
                            request_id: a.request_id,
                        }),
                        Err(_) => Err(Failure::Malformed {
                            status: a.status,
                            request_id: a.request_id,
                        }),
                    };
                }
                Ok(a) => {
                    let error = wos::parse_error(a.status, &a.body, a.retry_after.as_deref());
                    Failure::Api {
                        error,
                        request_id: a.request_id,
                    }
                }
                Err(f) => f,
            };
            if !retry || !failure.is_transient() || retry_index >= wos::MAX_RETRIES {
                return Err(failure);
            }
            let retry_after = match &failure {
                Failure::Api { error, .. } => error.retry_after_secs,
                _ => None,
            };
            let wait = wos::backoff_ms(retry_index, retry_after, platform::jitter_unit());
            log::warn("workos retry")
                .str("path", strip_query(path))
                .int("attempt", i64::from(retry_index) + 1)
                .int("wait_ms", i64::try_from(wait).unwrap_or(i64::MAX))
                .str("reason", &failure.describe())
                .emit();
            Delay::from(Duration::from_millis(wait)).await;
            retry_index += 1;
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{}", self.cfg.workos_api_base, path);
        let authorization = format!("Bearer {}", self.cfg.workos_api_key.expose());
        let mut headers = vec![
            ("Accept", "application/json"),
            ("User-Agent", "auth-worker"),
            ("Authorization", authorization.as_str()),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let out = platform::Outgoing {
            method: method.as_ref(),
            url: &url,
            headers: &headers,
            body,
            follow_redirects: true,
        };
        let controller = AbortController::default();
        let signal = controller.signal();
        let sending = Box::pin(async move {
            let resp = platform::fetch(&out, &signal)
                .await
                .map_err(Failure::Network)?;
            let header = |n: &str| resp.headers().get(n).ok().flatten();
            let request_id = header("x-request-id");
            let retry_after = header("retry-after");
            let status = resp.status();
            let body = platform::text(&resp).await.map_err(Failure::Network)?;
            Ok(Answer {
                status,
                body,
                request_id,
                retry_after,
            })
        });
        let timeout = Delay::from(Duration::from_millis(self.cfg.workos_timeout_ms));
        let raced = select(sending, timeout).await;
        match raced {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => {
                controller.abort();
                Err(Failure::Timeout)
            }
        }
    }
}

/// A success answer's JSON, not yet read as what the call expects.
struct Parsed {
    value: Value,
    status: u16,
    request_id: Option<String>,
}

impl Parsed {
    /// The answer as `T`; another shape is [`Failure::Malformed`].
    fn read<T>(self, shape: impl FnOnce(&Value) -> Result<T, Shape>) -> Result<T, Failure> {
        shape(&self.value).map_err(|_| Failure::Malformed {
            status: self.status,
            request_id: self.request_id,
        })
    }
}

fn enc(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}
