//! What the cron trigger runs, in order: the WorkOS Events API catch-up, then retention pruning.
//! Each job logs one summary line; a failure of one does not stop the other.

use worker::Env;

use crate::log;
use crate::service::{retention, sync, App};

pub async fn run(env: &Env) {
    let app = match App::new(env.clone()) {
        Ok(app) => app,
        Err(e) => {
            log::error("scheduled jobs not run").app_error(&e).emit();
            return;
        }
    };
    sync::run_catch_up(&app).await;
    retention::run(&app).await;
}
