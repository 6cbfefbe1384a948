//! The browser's cookies: one place that names them, sets them and clears them. Every cookie is
//! `HttpOnly; SameSite=Lax; Path=/` and, when this worker is on https, `Secure` with the `__Host-`
//! prefix (host-only: a sibling subdomain cannot plant one). Plain-http localhost keeps bare names.

use super::Call;
use crate::domain::cookie::{self, SameSite, SetCookie};
use crate::domain::login_flow;
use crate::error::AppError;
use crate::platform;
use crate::service::identity::{self, Identity};
use crate::service::sessions::TokenPair;

/// The access token of a browser session.
const SESSION: &str = "auth_session";
/// The refresh token of a browser session.
const REFRESH: &str = "auth_refresh";

impl Call {
    fn cookie_name(&self, base: &str) -> String {
        cookie::host_only_name(base, self.app.cfg.secure_cookies)
    }

    fn set(&self, name: &str, value: &str, max_age: i64) {
        self.set_cookie(
            SetCookie {
                name,
                value,
                path: "/",
                max_age: Some(max_age.max(0)),
                http_only: true,
                secure: self.app.cfg.secure_cookies,
                same_site: SameSite::Lax,
            }
            .to_header_value(),
        );
    }

    fn clear(&self, name: &str) {
        self.set_cookie(cookie::expire(name, "/", self.app.cfg.secure_cookies));
    }

    /// The access token the browser holds, if any.
    pub fn session_cookie(&self) -> Option<&str> {
        self.cookie(&self.cookie_name(SESSION))
    }

    /// The refresh token the browser holds, if any.
    pub fn refresh_cookie(&self) -> Option<&str> {
        self.cookie(&self.cookie_name(REFRESH))
    }

    /// Both tokens of a session, each for as long as it is valid.
    pub fn set_session_cookies(&self, pair: &TokenPair) {
        let now = platform::now_secs();
        self.set(
            &self.cookie_name(SESSION),
            &pair.token,
            pair.access_expires_at - now,
        );
        self.set(
            &self.cookie_name(REFRESH),
            &pair.refresh_token,
            pair.session_expires_at - now,
        );
    }

    pub fn clear_session_cookies(&self) {
        self.clear(&self.cookie_name(SESSION));
        self.clear(&self.cookie_name(REFRESH));
    }

    /// Who holds this browser's session cookies, refreshing the session in place when the access
    /// token has lapsed (`identity::authenticate_browser`): the new pair replaces the cookies.
    pub async fn cookie_identity(&self) -> Result<Identity, AppError> {
        let outcome = identity::authenticate_browser(
            &self.app,
            self.session_cookie(),
            self.refresh_cookie(),
            self.via(),
            &self.client(),
        )
        .await;
        match outcome {
            Ok((who, renewed)) => {
                if let Some(pair) = renewed {
                    self.set_session_cookies(&pair);
                }
                Ok(who)
            }
            Err(e) => {
                self.end_refused_session(&e);
                Err(e)
            }
        }
    }

    /// Clears the session cookies when `e` refused them (401). A server fault or a rate limit must
    /// not sign anyone out.
    pub fn end_refused_session(&self, e: &AppError) {
        if e.status() == 401 {
            self.clear_session_cookies();
        }
    }

    /// The browser binding of the sign-in flow `state` (one cookie per flow, so tabs do not collide).
    pub fn flow_cookie(&self, state: &str) -> Option<&str> {
        self.cookie(&self.cookie_name(&login_flow::flow_cookie_name(state)))
    }

    pub fn set_flow_cookie(&self, state: &str, binding: &str) {
        self.set(
            &self.cookie_name(&login_flow::flow_cookie_name(state)),
            binding,
            login_flow::FLOW_TTL_SECS,
        );
    }

    pub fn clear_flow_cookie(&self, state: &str) {
        self.clear(&self.cookie_name(&login_flow::flow_cookie_name(state)));
    }
}
