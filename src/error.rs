//! The one error type of the worker, the catalogue of public error codes (each defined once, with
//! its status and default sentence), and the one place that maps an error to a status and the public
//! JSON body `{"error": "<code>", "error_description": "<sentence>"}`. Internal detail (D1 messages,
//! WorkOS request ids, reasons a token failed) goes to the log line of the request, never to the client.

use std::borrow::Cow;

use worker::{Headers, Response};

/// Declares the public error codes: variant, wire code, HTTP status, default description.
macro_rules! codes {
    ($($variant:ident => ($code:literal, $status:literal, $description:literal),)*) => {
        /// Every public error code of the worker. The wire name and the status live here and nowhere else.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, for the catalogue test.
            #[cfg(test)]
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The snake_case code clients see in `error`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            pub const fn status(self) -> u16 {
                match self {
                    $(Code::$variant => $status,)*
                }
            }

            /// The sentence used when the caller has nothing more specific to say.
            pub const fn description(self) -> &'static str {
                match self {
                    $(Code::$variant => $description,)*
                }
            }
        }
    };
}

codes! {
    // 400: the request itself is wrong.
    InvalidRequest => ("invalid_request", 400, "The request is invalid."),
    InvalidJson => ("invalid_json", 400, "The request body is not valid JSON."),
    InvalidReturnTo => ("invalid_return_to", 400, "`return_to` is not a relative path or an allowed origin."),
    InvalidState => ("invalid_state", 400, "The sign-in request is unknown, expired or already used; start again."),
    AccessDenied => ("access_denied", 400, "Sign-in was not completed at WorkOS."),
    AuthorizationFailed => ("authorization_failed", 400, "Sign-in was not completed at WorkOS."),
    InvalidGrant => ("invalid_grant", 400, "The authorization code or refresh token is invalid, expired, revoked or not this client's; sign in again."),
    NoSession => ("no_session", 400, "An API key has no session to log out of; revoke the key instead."),
    InvalidEvent => ("invalid_event", 400, "The event has an unexpected shape."),
    // OAuth 2.1 authorization server (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 8707 §2).
    UnauthorizedClient => ("unauthorized_client", 400, "This client may not use this grant type."),
    UnsupportedGrantType => ("unsupported_grant_type", 400, "The grant type is not supported; use `authorization_code` or `refresh_token`."),
    UnsupportedResponseType => ("unsupported_response_type", 400, "Only `response_type=code` is supported."),
    InvalidScope => ("invalid_scope", 400, "A requested scope is unknown or broader than what may be granted."),
    InvalidTarget => ("invalid_target", 400, "The requested resource is not one this server issues tokens for."),
    InvalidClientMetadata => ("invalid_client_metadata", 400, "The client metadata is invalid."),
    InvalidRedirectUri => ("invalid_redirect_uri", 400, "A redirect URI is invalid."),
    // 401: no usable credential.
    Unauthenticated => ("unauthenticated", 401, "Send `Authorization: Bearer <access token or API key>` or sign in."),
    InvalidToken => ("invalid_token", 401, "The access token is invalid."),
    TokenExpired => ("token_expired", 401, "The access token has expired; refresh it."),
    SessionRevoked => ("session_revoked", 401, "This session has ended; sign in again."),
    InvalidRefreshToken => ("invalid_refresh_token", 401, "The refresh token is invalid, expired or revoked; sign in again."),
    ApiKeyMalformed => ("api_key_malformed", 401, "The API key is malformed."),
    InvalidApiKey => ("invalid_api_key", 401, "The API key is not recognised."),
    ApiKeyRevoked => ("api_key_revoked", 401, "The API key has been revoked."),
    ApiKeyExpired => ("api_key_expired", 401, "The API key has expired."),
    InvalidSignature => ("invalid_signature", 401, "The WorkOS-Signature header is missing, malformed, stale or wrong."),
    InvalidClient => ("invalid_client", 401, "Client authentication failed."),
    // 403: known caller, not allowed.
    UserDeactivated => ("user_deactivated", 403, "This account is deactivated."),
    Forbidden => ("forbidden", 403, "You may not do this."),
    OriginNotAllowed => ("origin_not_allowed", 403, "Cookie-authenticated requests that change state must come from an allowed origin."),
    ScopeNotAllowed => ("scope_not_allowed", 403, "A requested scope is broader than what the caller may grant."),
    // 404: nothing (of the caller's) has this name.
    NotFound => ("not_found", 404, "No route matches this path."),
    UserNotFound => ("user_not_found", 404, "No user has this id."),
    SessionNotFound => ("session_not_found", 404, "You have no live session with this id."),
    ApiKeyNotFound => ("api_key_not_found", 404, "You have no API key with this id."),
    PermissionNotFound => ("permission_not_found", 404, "No permission has this id."),
    OrganizationNotFound => ("organization_not_found", 404, "No organization has this `organizationId`."),
    // Protocol-level refusals.
    MethodNotAllowed => ("method_not_allowed", 405, "This route does not allow this method."),
    PayloadTooLarge => ("payload_too_large", 413, "The request body is too large."),
    RateLimited => ("rate_limited", 429, "Too many requests; retry later."),
    // Our side.
    ServerMisconfigured => ("server_misconfigured", 500, "The server is misconfigured."),
    InternalError => ("internal_error", 500, "An internal error occurred; quote the request id to the operator."),
    WorkosUnavailable => ("workos_unavailable", 502, "WorkOS could not be reached or answered unexpectedly; try again."),
}

/// The kind of D1 constraint a write violated, recognised once in `store` (see `store::classify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    Unique,
    ForeignKey,
}

#[derive(Debug)]
pub enum AppError {
    /// A public code with a sentence. `detail` is for the log only (for example which token check failed).
    Public {
        code: Code,
        description: Cow<'static, str>,
        detail: Option<String>,
    },
    MethodNotAllowed {
        allow: &'static str,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    /// WorkOS asked for another step (403 with WorkOS's own code, such as
    /// `organization_selection_required`); the code is passed on only when it looks like a code.
    StepUp {
        code: String,
        detail: String,
    },
    /// A variable or secret is missing or unusable. The name is public (operators need it); the value never is.
    Misconfigured {
        var: &'static str,
        problem: &'static str,
    },
    /// A D1 write broke a UNIQUE or FOREIGN KEY constraint: services decide what that means; if none
    /// does, it is our fault (500) like any other internal error.
    Constraint {
        kind: Constraint,
        detail: String,
    },
    /// Our own fault. The client sees only `internal_error` and the request id.
    Internal {
        detail: String,
    },
}

impl Code {
    /// This code with its default sentence.
    pub fn err(self) -> AppError {
        AppError::Public {
            code: self,
            description: Cow::Borrowed(self.description()),
            detail: None,
        }
    }

    /// This code with a more specific sentence.
    pub fn with(self, description: impl Into<Cow<'static, str>>) -> AppError {
        AppError::Public {
            code: self,
            description: description.into(),
            detail: None,
        }
    }
}

impl From<Code> for AppError {
    fn from(code: Code) -> Self {
        code.err()
    }
}

impl AppError {
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Code::PayloadTooLarge.with(format!(
            "The request body is larger than {limit_bytes} bytes."
        ))
    }
    /// A 400 that names the offending field, as every input check should.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Code::InvalidRequest.with(format!("`{field}` {problem}."))
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        AppError::Internal {
            detail: detail.into(),
        }
    }
    /// Attach log-only detail to a public error (ignored for other kinds).
    pub fn with_detail(mut self, why: impl Into<String>) -> Self {
        if let AppError::Public { detail, .. } = &mut self {
            *detail = Some(why.into());
        }
        self
    }

    /// Is this the public error `code`?
    pub fn has_code(&self, code: Code) -> bool {
        matches!(self, AppError::Public { code: c, .. } if *c == code)
    }

    /// Did a D1 write break this kind of constraint?
    pub fn is_constraint(&self, kind: Constraint) -> bool {
        matches!(self, AppError::Constraint { kind: k, .. } if *k == kind)
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Public { code, .. } => code.status(),
            AppError::MethodNotAllowed { .. } => Code::MethodNotAllowed.status(),
            AppError::RateLimited { .. } => Code::RateLimited.status(),
            AppError::StepUp { .. } => 403,
            AppError::Misconfigured { .. } => Code::ServerMisconfigured.status(),
            AppError::Constraint { .. } | AppError::Internal { .. } => Code::InternalError.status(),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            AppError::Public { code, .. } => code.as_str(),
            AppError::MethodNotAllowed { .. } => Code::MethodNotAllowed.as_str(),
            AppError::RateLimited { .. } => Code::RateLimited.as_str(),
            AppError::StepUp { code, .. } => code,
            AppError::Misconfigured { .. } => Code::ServerMisconfigured.as_str(),
            AppError::Constraint { .. } | AppError::Internal { .. } => Code::InternalError.as_str(),
        }
    }

    pub fn description(&self) -> Cow<'_, str> {
        match self {
            AppError::Public { description, .. } => Cow::Borrowed(description.as_ref()),
            AppError::MethodNotAllowed { allow } => {
                Cow::Owned(format!("This route allows only: {allow}."))
            }
            AppError::RateLimited { retry_after_secs } => Cow::Owned(format!(
                "Too many requests; retry after {retry_after_secs} seconds."
            )),
            AppError::StepUp { .. } => {
                Cow::Borrowed("WorkOS requires another step before this sign-in can complete.")
            }
            AppError::Misconfigured { var, problem } => {
                Cow::Owned(format!("The server is misconfigured: {var} {problem}."))
            }
            AppError::Constraint { .. } | AppError::Internal { .. } => {
                Cow::Borrowed(Code::InternalError.description())
            }
        }
    }

    /// What the log line of the request records beyond the public code.
    pub fn log_detail(&self) -> Option<String> {
        match self {
            AppError::Public { detail, .. } => detail.clone(),
            AppError::StepUp { detail, .. } => Some(detail.clone()),
            AppError::Misconfigured { var, problem } => Some(format!("{var} {problem}")),
            AppError::Constraint { detail, .. } | AppError::Internal { detail } => {
                Some(detail.clone())
            }
            AppError::MethodNotAllowed { .. } | AppError::RateLimited { .. } => None,
        }
    }

    /// The single mapping to an HTTP response (JSON; a person navigating gets the same status and
    /// headers as a page, `http::html::error_page`).
    pub fn to_response(&self) -> Response {
        error_body_response(
            self.status(),
            self.code(),
            &self.description(),
            self.protocol_headers(),
        )
    }

    /// The headers this error's status calls for, whatever the body: `Allow` (405), `Retry-After`
    /// (429), `WWW-Authenticate` (401).
    pub fn protocol_headers(&self) -> Headers {
        let headers = Headers::new();
        match self {
            AppError::MethodNotAllowed { allow } => {
                let _ = headers.set("Allow", allow);
            }
            AppError::RateLimited { retry_after_secs } => {
                let _ = headers.set("Retry-After", &retry_after_secs.to_string());
            }
            // RFC 6749 §5.2: a client that authenticated with a scheme is challenged with that scheme
            // (the token endpoint adds it); not with Bearer.
            AppError::Public {
                code: Code::InvalidClient,
                ..
            } => {}
            _ if self.status() == 401 => {
                // RFC 6750 §3: tell Bearer clients how they failed, without details.
                let _ = headers.set("WWW-Authenticate", "Bearer realm=\"auth\"");
            }
            _ => {}
        }
        headers
    }
}

/// Builds `{"error","error_description"}` with `Cache-Control: no-store`; also used for errors that
/// never became an [`AppError`]. Cannot fail.
pub fn error_body_response(
    status: u16,
    code: &str,
    description: &str,
    headers: Headers,
) -> Response {
    let body = crate::domain::json::Object::new()
        .str("error", code)
        .str("error_description", description)
        .finish();
    let _ = headers.set("Content-Type", "application/json; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.into_bytes())
}

impl From<crate::domain::oauth::Refusal> for AppError {
    /// An OAuth refusal from the domain rules, under its wire code.
    fn from(r: crate::domain::oauth::Refusal) -> Self {
        use crate::domain::oauth::Kind;
        let code = match r.kind {
            Kind::InvalidRequest => Code::InvalidRequest,
            Kind::InvalidClient => Code::InvalidClient,
            Kind::InvalidGrant => Code::InvalidGrant,
            Kind::UnauthorizedClient => Code::UnauthorizedClient,
            Kind::UnsupportedGrantType => Code::UnsupportedGrantType,
            Kind::UnsupportedResponseType => Code::UnsupportedResponseType,
            Kind::InvalidScope => Code::InvalidScope,
            Kind::InvalidTarget => Code::InvalidTarget,
            Kind::AccessDenied => Code::AccessDenied,
            Kind::InvalidClientMetadata => Code::InvalidClientMetadata,
            Kind::InvalidRedirectUri => Code::InvalidRedirectUri,
        };
        code.with(r.description)
    }
}

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::internal(format!("worker: {e}"))
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_unique_and_has_a_status_and_sentence() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} is defined twice");
            assert!((400..600).contains(&code.status()), "{s}");
            assert!(code.description().ends_with('.'), "{s}");
        }
    }

    #[test]
    fn internal_errors_and_constraints_never_show_their_detail() {
        for e in [
            AppError::internal("UNIQUE constraint failed: users.email"),
            AppError::Constraint {
                kind: Constraint::Unique,
                detail: "UNIQUE constraint failed: users.email".into(),
            },
        ] {
            assert_eq!(e.status(), 500);
            assert_eq!(e.code(), "internal_error");
            assert!(!e.description().contains("UNIQUE"));
            assert!(e.log_detail().is_some_and(|d| d.contains("UNIQUE")));
        }
    }

    #[test]
    fn a_public_error_keeps_its_catalogue_status_and_a_custom_sentence() {
        let e = Code::UserDeactivated
            .with("The owner of this API key is deactivated.")
            .with_detail("why");
        assert_eq!(e.status(), 403);
        assert_eq!(e.code(), "user_deactivated");
        assert_eq!(e.description(), "The owner of this API key is deactivated.");
        assert_eq!(e.log_detail().as_deref(), Some("why"));
        assert!(matches!(
            e,
            AppError::Public {
                code: Code::UserDeactivated,
                ..
            }
        ));
    }
}
