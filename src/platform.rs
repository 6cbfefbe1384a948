//! The clock and the CSPRNG of the Workers runtime, behind two small functions, so that the rest of
//! the worker passes `now` and random bytes into pure code. Must not hold any state.
//! (`std::time` panics on wasm32; `Date.now()` is the platform clock.)

use crate::error::AppError;

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

/// A fresh identifier such as `ses_…`: 128 random bits.
pub fn new_id(prefix: &str) -> Result<String, AppError> {
    Ok(crate::domain::ids::new_id(prefix, &random::<16>()?))
}

/// A uniformly distributed number in [0, 1) for retry jitter.
pub fn jitter_unit() -> f64 {
    match random::<4>() {
        Ok(b) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}
