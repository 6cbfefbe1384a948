//! `tombstones`: WorkOS organizations and memberships deleted here. WorkOS delivers events in no
//! guaranteed order, so a late `created`/`updated` for a deleted object must be skipped.

use super::query;
use worker::d1::{D1Database, D1PreparedStatement};

use crate::error::AppError;

/// Which kind of WorkOS object a tombstone stands for (the table's CHECK lists the same two).
#[derive(Clone, Copy)]
pub enum Object {
    Organization,
    Membership,
}

impl Object {
    fn as_str(self) -> &'static str {
        match self {
            Object::Organization => "organization",
            Object::Membership => "organization_membership",
        }
    }
}

/// Has WorkOS deleted this organization or membership (so later events for it are stale)?
pub async fn exists(db: &D1Database, id: &str) -> Result<bool, AppError> {
    struct One {
        #[allow(dead_code)]
        id: String,
    }

    impl super::FromRow for One {
        fn from_row(row: &super::Row) -> Result<Self, AppError> {
            row.check(One { id: row.text("id") })
        }
    }
    let row: Option<One> =
        super::first(query!(db, "SELECT id FROM tombstones WHERE id = ?1", id)?).await?;
    Ok(row.is_some())
}

/// Records a deletion (idempotent).
pub fn insert(
    db: &D1Database,
    id: &str,
    object: Object,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    Ok(query!(
        db,
        "INSERT INTO tombstones (id, object, deleted_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
        id,
        object.as_str(),
        now
    )?)
}
