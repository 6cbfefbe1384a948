//! Services: the operations of the auth worker, shared by the HTTP routes and the `AUTH_SERVICE`
//! RPC methods so that no rule is implemented twice. They combine pure rules from `domain`, SQL from
//! `store` and calls to WorkOS; they never build HTTP responses.

pub mod api_keys;
pub mod audit;
pub mod discovery;
pub mod health;
pub mod identity;
pub mod limits;
pub mod login;
pub mod oauth;
pub mod permissions;
pub mod retention;
pub mod scheduled;
pub mod sessions;
pub mod sync;
pub mod users;

use std::rc::Rc;

use worker::d1::D1Database;
use worker::Env;

use crate::config::{self, Config};
use crate::error::AppError;

/// The configuration and the database, resolved once per request or RPC call.
pub struct App {
    pub cfg: Rc<Config>,
    pub db: D1Database,
}

impl App {
    pub fn new(env: Env) -> Result<App, AppError> {
        let cfg = config::load(&env)?;
        let db = env.d1("DB").map_err(|_| AppError::Misconfigured {
            var: "DB",
            problem: "is not bound to a D1 database",
        })?;
        Ok(App { cfg, db })
    }
}

/// Facts about the caller's connection, recorded on sessions and audit rows.
#[derive(Default, Clone)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A device label chosen by the caller; otherwise one is derived from the user agent.
    pub device: Option<String>,
}
