//! Pure logic of the `auth` worker: our tokens (EdDSA and HS256 JWS), PKCE and login state, cookies, return-target
//! validation, what browsers are owed (CORS, a page or JSON), API key format, permission matching, WorkOS webhook
//! signatures, WorkOS payload types, when a WorkOS user may take over an imported account, and the OAuth
//! authorization server's rules (`oauth`).
//!
//! What this crate must not do: no I/O, no clock, no RNG, no `worker` / `wasm-bindgen` / `js-sys` /
//! `web-sys`. The current time (`now`, unix seconds or ms) and random bytes are parameters, so every rule
//! here is tested natively with `cargo test` and behaves identically inside the Worker.
//!
//! Nothing here may panic in production code: a panic takes the isolate down for every request in flight,
//! so `unwrap`, `expect`, `panic!` and slice indexing are denied outside tests.
//!
//! ```
//! use auth_domain::token::{sign_access, verify_access, AccessClaims, Audience, Ed25519Key, KeySet};
//!
//! let key = Ed25519Key::from_seed([7u8; 32]).map_err(|_| "seed")?;
//! let keys = KeySet::access(Some(key), None, None, vec![]).ok_or("no signing key")?;
//! let claims = AccessClaims {
//!     iss: "https://auth.example.com".into(), aud: Some(Audience::One("https://auth.example.com".into())),
//!     sub: "usr_1".into(), sid: "ses_1".into(), email: "a@example.com".into(), role: "user".into(),
//!     org_id: None, scope: None, client_id: None, iat: 1_700_000_000, exp: 1_700_000_900, jti: "j1".into(),
//! };
//! let token = sign_access(&keys, &claims).map_err(|_| "sign")?;
//! let back = verify_access(&keys, &token, "https://auth.example.com", 1_700_000_100).map_err(|e| e.as_str())?;
//! assert_eq!(back, claims);
//! # Ok::<(), &'static str>(())
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![forbid(unsafe_code)]

pub mod account;
pub mod api_key;
pub mod browser;
pub mod client_ip;
pub mod cookie;
pub mod device;
pub mod encoding;
pub mod ids;
pub mod json;
pub mod linking;
pub mod login_flow;
pub mod oauth;
pub mod permission;
pub mod pkce;
pub mod return_to;
pub mod time;
pub mod token;
pub mod webhook;
pub mod workos;
