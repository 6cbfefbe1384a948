//! Log lines: one JSON object per console line (`wrangler tail` and Workers Logs show them), with
//! `level` and `msg` first. No secret, token, code or key may be put in one.

use crate::domain::json::Object;
use crate::error::AppError;

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

/// A log line being written; [`Line::emit`] sends it.
#[must_use = "a line is only logged by emit()"]
pub struct Line {
    level: Level,
    object: Object,
}

fn line(level: Level, msg: &str) -> Line {
    let object = Object::new()
        .str(
            "level",
            match level {
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            },
        )
        .str("msg", msg);
    Line { level, object }
}

pub fn info(msg: &str) -> Line {
    line(Level::Info, msg)
}

pub fn warn(msg: &str) -> Line {
    line(Level::Warn, msg)
}

pub fn error(msg: &str) -> Line {
    line(Level::Error, msg)
}

/// `error` for a failure of ours (a 5xx), `warn` for any other.
pub fn failure(msg: &str, e: &AppError) -> Line {
    line(
        if e.status() >= 500 {
            Level::Error
        } else {
            Level::Warn
        },
        msg,
    )
}

impl Line {
    pub fn str(self, key: &str, value: &str) -> Line {
        Line {
            level: self.level,
            object: self.object.str(key, value),
        }
    }

    pub fn opt_str(self, key: &str, value: Option<&str>) -> Line {
        Line {
            level: self.level,
            object: self.object.opt_str(key, value),
        }
    }

    pub fn int(self, key: &str, value: i64) -> Line {
        Line {
            level: self.level,
            object: self.object.int(key, value),
        }
    }

    /// `value` must already be one JSON value.
    pub fn raw(self, key: &str, value: &str) -> Line {
        Line {
            level: self.level,
            object: self.object.raw(key, value),
        }
    }

    /// The error's public code as `error` and its log-only detail (if any) as `detail`.
    pub fn app_error(self, e: &AppError) -> Line {
        let line = self.str("error", e.code());
        match e.log_detail() {
            Some(detail) => line.str("detail", &detail),
            None => line,
        }
    }

    pub fn emit(self) {
        let text = self.object.finish();
        #[cfg(target_arch = "wasm32")]
        {
            use worker::web_sys::console;
            let text = wasm_bindgen::JsValue::from_str(&text);
            match self.level {
                Level::Info => console::log_1(&text),
                Level::Warn => console::warn_1(&text),
                Level::Error => console::error_1(&text),
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (text, self.level);
    }
}
