//! Keeping users, organizations and memberships in step with WorkOS (the source of truth), from
//! signed webhooks and from the Events API catch-up. Each event is first *planned* (read what is
//! stored, decide the statements) by one function per event family, then *applied* as one D1 batch
//! together with its de-duplication row, so it lands whole or not at all, and never twice. An event
//! older than the stored row (by WorkOS `updated_at`) is acknowledged and skipped: delivery order is
//! not guaranteed (tests/fixtures/workos-api.md §6). Every change to someone's access is audited.

use serde_json::Value;
use worker::d1::D1PreparedStatement;

use crate::domain::ids::OrganizationId;
use crate::domain::json::{Object as JsonObject, Record, Shape};
use crate::domain::time::parse_rfc3339_ms;
use crate::domain::workos::{Event, Membership, Organization, SessionObject, User};
use crate::error::{AppError, Code, Constraint};
use crate::log;
use crate::platform;
use crate::service::audit::{self, Audit};
use crate::service::users as user_rules;
use crate::service::{identity, App};
use crate::store::tombstones::{self, Object};
use crate::store::users::UserKey;
use crate::store::{self, api_keys, events, orgs, sessions, users};
use crate::workos::WorkOs;

/// Event types the catch-up asks the Events API for (the same ones the webhook handles).
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organization_membership.created",
    "organization_membership.updated",
    "organization_membership.deleted",
    "session.revoked",
    "dsync.user.created",
    "dsync.user.updated",
    "dsync.user.deleted",
];

#[derive(Clone, Copy)]
pub enum Source {
    Webhook,
    EventsApi,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::EventsApi => "events_api",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Acknowledged without effect, with the reason.
    Skipped(&'static str),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Skipped(why) => why,
        }
    }
}

/// What one event will do.
enum Plan {
    Apply {
        statements: Vec<D1PreparedStatement>,
        /// Whether the statements change someone's access (this isolate's caches must start over).
        access_changed: bool,
    },
    Skip(&'static str),
}

impl Plan {
    fn apply(statements: Vec<D1PreparedStatement>, access_changed: bool) -> Plan {
        Plan::Apply {
            statements,
            access_changed,
        }
    }
}

fn bad_data(event: &Event) -> AppError {
    Code::InvalidEvent.with(format!(
        "The data of this `{}` event has an unexpected shape.",
        event.event
    ))
}

/// The event's `data` read as `T` by `shape` (the same readers the WorkOS client's answers take).
fn data<T>(event: &Event, shape: fn(&Value) -> Result<T, Shape>) -> Result<T, AppError> {
    shape(&event.data).map_err(|_| bad_data(event))
}

fn organization_id(event: &Event, raw: &str) -> Result<OrganizationId, AppError> {
    OrganizationId::parse(raw).map_err(|_| bad_data(event))
}

/// A directory-sync user (`dsync.user.*`); matched to our users by primary email.
struct DirectoryUser {
    organization_id: Option<String>,
    emails: Vec<DirectoryEmail>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    state: Option<String>,
    updated_at: Option<String>,
}

struct DirectoryEmail {
    primary: bool,
    value: String,
}

impl DirectoryEmail {
    fn from_json(v: &Value) -> Result<DirectoryEmail, Shape> {
        let r = Record::of(v)?;
        Ok(DirectoryEmail {
            primary: r.bool_or("primary", false)?,
            value: r.str("value")?,
        })
    }
}

impl DirectoryUser {
    fn from_json(v: &Value) -> Result<DirectoryUser, Shape> {
        let r = Record::of(v)?;
        Ok(DirectoryUser {
            organization_id: r.opt_str("organization_id")?,
            emails: if r.has("emails") {
                r.list("emails", DirectoryEmail::from_json)?
            } else {
                Vec::new()
            },
            email: r.opt_str("email")?,
            first_name: r.opt_str("first_name")?,
            last_name: r.opt_str("last_name")?,
            state: r.opt_str("state")?,
            updated_at: r.opt_str("updated_at")?,
        })
    }

    fn primary_email(&self) -> Option<&str> {
        self.email.as_deref().or_else(|| {
            self.emails
                .iter()
                .find(|e| e.primary)
                .or_else(|| self.emails.first())
                .map(|e| e.value.as_str())
        })
    }
}

/// Applies one event. Errors are returned (the webhook answers 5xx so WorkOS retries; the
/// catch-up stops before this event).
pub async fn apply(app: &App, event: &Event, source: Source) -> Result<Outcome, AppError> {
    if events::is_processed(&app.db, &event.id).await? {
        return Ok(Outcome::Duplicate);
    }
    let now = platform::now_secs();
    let (mut statements, access_changed, outcome) = match plan(app, event, now).await? {
        Plan::Apply {
            statements,
            access_changed,
        } => (statements, access_changed, Outcome::Applied),
        Plan::Skip(why) => (Vec::new(), false, Outcome::Skipped(why)),
    };
    // Skipped events are recorded too, so a redelivery is answered without re-deciding.
    statements.push(events::mark_processed(
        &app.db,
        &event.id,
        &event.event,
        source.as_str(),
        now,
    )?);
    match store::batch(&app.db, statements).await {
        Ok(_) => {}
        // A concurrent delivery of the same event won the primary key: its effects stand, ours rolled back.
        Err(e)
            if e.is_constraint(Constraint::Unique)
                && events::is_processed(&app.db, &event.id).await? =>
        {
            return Ok(Outcome::Duplicate)
        }
        Err(e) => return Err(e),
    }
    if access_changed {
        identity::forget_all();
    }
    Ok(outcome)
}

/// Decides what `event` does, by event family.
async fn plan(app: &App, event: &Event, now: i64) -> Result<Plan, AppError> {
    match event.event.as_str() {
        "user.created" | "user.updated" => {
            upsert_user(app, event, &data(event, User::from_json)?, now).await
        }
        "user.deleted" => delete_user(app, event, &data(event, User::from_json)?, now).await,
        "dsync.user.created" | "dsync.user.updated" | "dsync.user.deleted" => {
            let u = data(event, DirectoryUser::from_json)?;
            directory_user(app, event, &u, now).await
        }
        "organization.created" | "organization.updated" => {
            let o = data(event, Organization::from_json)?;
            upsert_organization(app, event, &o, now).await
        }
        "organization.deleted" => {
            delete_organization(app, event, &data(event, Organization::from_json)?, now)
        }
        "organization_membership.created" | "organization_membership.updated" => {
            membership(app, event, &data(event, Membership::from_json)?, now).await
        }
        "organization_membership.deleted" => {
            let m = data(event, Membership::from_json)?;
            delete_membership(app, event, &m, now).await
        }
        "session.revoked" => {
            let s = data(event, SessionObject::from_json)?;
            revoke_workos_session(app, event, &s, now).await
        }
        _ => Ok(Plan::Skip("ignored_event_type")),
    }
}

/// An audit row for an effect of `event` (no actor: WorkOS made the change).
fn audit_stmt(
    app: &App,
    action: &str,
    target_type: &str,
    target_id: &str,
    event: &Event,
    detail: JsonObject,
    now: i64,
) -> Result<D1PreparedStatement, AppError> {
    let detail = detail
        .str("event_id", &event.id)
        .str("event", &event.event)
        .finish();
    audit::stmt(
        app,
        &Audit {
            actor: None,
            action,
            target_type,
            target_id,
            ip: None,
            detail: Some(detail),
        },
        now,
    )
}

/// Where a user write made for `event` came from (its audit rows name the event).
fn origin(event: &Event) -> user_rules::Origin<'static> {
    user_rules::Origin {
        ip: None,
        detail: JsonObject::new()
            .str("event_id", &event.id)
            .str("event", &event.event),
    }
}

/// A user seen for the first time follows the sign-in's rule (an imported row with the same email is
/// linked only when WorkOS says the email is verified; see `user_rules::from_workos`).
async fn upsert_user(app: &App, event: &Event, u: &User, now: i64) -> Result<Plan, AppError> {
    let ms = u.updated_at.as_deref().and_then(parse_rfc3339_ms);
    let write = user_rules::from_workos(app, u, ms, None, &origin(event), now).await?;
    if let (Some(stored), Some(ms)) = (write.stored.as_ref().and_then(|s| s.workos_updated_ms), ms)
    {
        if ms < stored {
            return Ok(Plan::Skip("stale"));
        }
    }
    Ok(Plan::apply(write.statements, false))
}

/// Deactivates a user and cuts off every session and API key they hold.
async fn delete_user(app: &App, event: &Event, u: &User, now: i64) -> Result<Plan, AppError> {
    let Some(local) = users::find_by_workos_id(&app.db, &u.id).await? else {
        return Ok(Plan::Skip("unknown_user"));
    };
    Ok(Plan::apply(
        vec![
            users::deactivate(&app.db, &local.id, now)?,
            sessions::revoke_all_for_user(&app.db, &local.id, "user_deleted", now)?,
            api_keys::revoke_all_for_user(&app.db, &local.id, now)?,
            audit_stmt(
                app,
                "user.deactivated",
                "user",
                local.id.as_str(),
                event,
                JsonObject::new()
                    .bool("sessions_revoked", true)
                    .bool("api_keys_revoked", true),
                now,
            )?,
        ],
        true,
    ))
}

async fn directory_user(
    app: &App,
    event: &Event,
    d: &DirectoryUser,
    now: i64,
) -> Result<Plan, AppError> {
    let Some(email) = d.primary_email() else {
        return Ok(Plan::Skip("no_email"));
    };
    let Some(local) = users::find_by_email(&app.db, email).await? else {
        return Ok(Plan::Skip("unknown_user"));
    };
    // A directory speaks only for members of its own organization: matching by email alone would let
    // one tenant's directory rename or deactivate another tenant's user.
    let Some(org_id) = d.organization_id.as_deref() else {
        return Ok(Plan::Skip("no_organization"));
    };
    let org_id = organization_id(event, org_id)?;
    let Some(membership) = orgs::find_membership_of(&app.db, &local.id, &org_id).await? else {
        return Ok(Plan::Skip("not_an_organization_member"));
    };
    let gone = event.event == "dsync.user.deleted" || d.state.as_deref() == Some("inactive");
    if gone {
        // Deprovisioned from this organization's directory: the person loses this organization, not
        // their account (they may belong to others; WorkOS sends user.deleted when the account goes).
        if membership.status == "inactive" {
            return Ok(Plan::Skip("already_inactive"));
        }
        return Ok(Plan::apply(
            vec![
                orgs::set_membership_status(&app.db, &local.id, &org_id, "inactive", now)?,
                sessions::revoke_for_user_in_org(
                    &app.db,
                    &local.id,
                    &org_id,
                    "directory_deprovisioned",
                    now,
                )?,
                audit_stmt(
                    app,
                    "membership.changed",
                    "user",
                    local.id.as_str(),
                    event,
                    JsonObject::new()
                        .str("organization_id", org_id.as_str())
                        .str("status", "inactive")
                        .str("previous_status", &membership.status)
                        .str("via", "directory_sync"),
                    now,
                )?,
            ],
            true,
        ));
    }
    let ms = d.updated_at.as_deref().and_then(parse_rfc3339_ms);
    if let (Some(stored), Some(ms)) = (local.workos_updated_ms, ms) {
        if ms < stored {
            return Ok(Plan::Skip("stale"));
        }
    }
    Ok(Plan::apply(
        vec![users::update_names(
            &app.db,
            &local.id,
            d.first_name.as_deref(),
            d.last_name.as_deref(),
            now,
        )?],
        false,
    ))
}

async fn upsert_organization(
    app: &App,
    event: &Event,
    o: &Organization,
    now: i64,
) -> Result<Plan, AppError> {
    let id = organization_id(event, &o.id)?;
    if tombstones::exists(&app.db, id.as_str()).await? {
        return Ok(Plan::Skip("deleted"));
    }
    let ms = o.updated_at.as_deref().and_then(parse_rfc3339_ms);
    if let (Some(Some(stored)), Some(ms)) = (orgs::find_org_updated_ms(&app.db, &id).await?, ms) {
        if ms < stored {
            return Ok(Plan::Skip("stale"));
        }
    }
    Ok(Plan::apply(
        vec![orgs::upsert_org(&app.db, &id, &o.name, ms, now)?],
        false,
    ))
}

fn delete_organization(
    app: &App,
    event: &Event,
    o: &Organization,
    now: i64,
) -> Result<Plan, AppError> {
    let id = organization_id(event, &o.id)?;
    Ok(Plan::apply(
        vec![
            orgs::delete_org(&app.db, &id)?,
            tombstones::insert(&app.db, id.as_str(), Object::Organization, now)?,
            audit_stmt(
                app,
                "organization.deleted",
                "organization",
                id.as_str(),
                event,
                JsonObject::new(),
                now,
            )?,
        ],
        true,
    ))
}

async fn delete_membership(
    app: &App,
    event: &Event,
    m: &Membership,
    now: i64,
) -> Result<Plan, AppError> {
    // Tombstoned even when never seen here: its create may still be in flight.
    let mut statements = vec![tombstones::insert(&app.db, &m.id, Object::Membership, now)?];
    if let Some(stored) = orgs::find_membership(&app.db, &m.id).await? {
        statements.push(orgs::delete_membership(&app.db, &m.id)?);
        // Sessions scoped to that organization end with the membership.
        statements.push(sessions::revoke_for_user_in_org(
            &app.db,
            &stored.user_id,
            &stored.organization_id,
            "membership_deleted",
            now,
        )?);
        statements.push(audit_stmt(
            app,
            "membership.deleted",
            "user",
            stored.user_id.as_str(),
            event,
            JsonObject::new()
                .str("organization_id", stored.organization_id.as_str())
                .str("role", &stored.role),
            now,
        )?);
    }
    Ok(Plan::apply(statements, true))
}

async fn revoke_workos_session(
    app: &App,
    event: &Event,
    s: &SessionObject,
    now: i64,
) -> Result<Plan, AppError> {
    let ids = sessions::ids_for_workos_session(&app.db, &s.id).await?;
    if ids.is_empty() {
        return Ok(Plan::Skip("unknown_session"));
    }
    let mut statements = Vec::new();
    for id in &ids {
        statements.push(sessions::revoke(
            &app.db,
            id,
            "workos_session_revoked",
            now,
        )?);
        statements.push(audit_stmt(
            app,
            "session.revoked",
            "session",
            id.as_str(),
            event,
            JsonObject::new().str("workos_session_id", &s.id),
            now,
        )?);
    }
    Ok(Plan::apply(statements, true))
}

async fn membership(app: &App, event: &Event, m: &Membership, now: i64) -> Result<Plan, AppError> {
    let org_id = organization_id(event, &m.organization_id)?;
    if tombstones::exists(&app.db, &m.id).await?
        || tombstones::exists(&app.db, org_id.as_str()).await?
    {
        return Ok(Plan::Skip("deleted"));
    }
    let ms = m.updated_at.as_deref().and_then(parse_rfc3339_ms);
    let stored = orgs::find_membership_for_workos_user(&app.db, &m.user_id, &org_id).await?;
    if let Some(s) = &stored {
        if let (Some(stored_ms), Some(ms)) = (s.workos_updated_ms, ms) {
            if ms < stored_ms {
                return Ok(Plan::Skip("stale"));
            }
        }
    }
    let mut statements = Vec::new();
    // The member may never have signed in here: fetch them from WorkOS so the membership has an owner.
    // Either way the membership names its user by WorkOS id, resolved in the statement (a sign-in may
    // be creating the same user right now).
    let owner = UserKey::Workos(&m.user_id);
    let user_id = match users::find_by_workos_id(&app.db, &m.user_id).await? {
        Some(u) => u.id,
        None => {
            let u = match WorkOs::new(&app.cfg).get_user(&m.user_id).await {
                Ok(u) => u,
                // Deleted at WorkOS since: nothing to attach the membership to. That is definitive,
                // so skip; a transient failure stays an error and the event is retried.
                Err(f) if f.is_not_found() => return Ok(Plan::Skip("unknown_user")),
                Err(f) => return Err(f.into()),
            };
            let ms = u.updated_at.as_deref().and_then(parse_rfc3339_ms);
            let write = user_rules::from_workos(app, &u, ms, None, &origin(event), now).await?;
            statements.extend(write.statements);
            write.user_id
        }
    };
    let name = event
        .data
        .get("organization_name")
        .and_then(|v| v.as_str())
        .unwrap_or(org_id.as_str());
    statements.push(orgs::ensure_org(&app.db, &org_id, name, now)?);
    let role = m.role_slug();
    let status = m.known_status().ok_or_else(|| bad_data(event))?;
    statements.push(orgs::upsert_membership(
        &app.db,
        &orgs::MembershipWrite {
            id: &m.id,
            user: owner,
            organization_id: &org_id,
            role,
            status,
            updated_ms: ms,
            now,
        },
    )?);
    let changed = stored
        .as_ref()
        .is_none_or(|s| s.role != role || s.status != status);
    if status != "active" {
        // Sessions scoped to an organization the person no longer actively belongs to end now.
        statements.push(sessions::revoke_for_user_in_org(
            &app.db,
            &user_id,
            &org_id,
            "membership_inactive",
            now,
        )?);
    }
    if changed {
        statements.push(audit_stmt(
            app,
            "membership.changed",
            "user",
            user_id.as_str(),
            event,
            JsonObject::new()
                .str("organization_id", org_id.as_str())
                .str("role", role)
                .str("status", status)
                .opt_str("previous_role", stored.as_ref().map(|s| s.role.as_str()))
                .opt_str(
                    "previous_status",
                    stored.as_ref().map(|s| s.status.as_str()),
                ),
            now,
        )?);
    }
    Ok(Plan::apply(statements, changed || status != "active"))
}

/// What one catch-up run did.
#[derive(Debug, Default)]
pub struct CatchUp {
    pub applied: u32,
    pub skipped: u32,
    pub duplicates: u32,
    pub quarantined: u32,
    pub cursor: Option<String>,
}

/// Records an event whose data cannot be applied (a 4xx from planning: its shape is wrong), so that
/// the catch-up can move past it instead of failing on the same cursor at every run. It is marked
/// processed (a later webhook delivery is a duplicate), kept in `quarantined_events` and audited.
async fn quarantine(
    app: &App,
    event: &Event,
    source: Source,
    why: &AppError,
) -> Result<(), AppError> {
    let now = platform::now_secs();
    let reason = why
        .log_detail()
        .unwrap_or_else(|| why.description().into_owned());
    store::batch(
        &app.db,
        vec![
            events::mark_processed(&app.db, &event.id, &event.event, source.as_str(), now)?,
            events::quarantine(
                &app.db,
                &event.id,
                &event.event,
                source.as_str(),
                &reason,
                now,
            )?,
            audit_stmt(
                app,
                "event.quarantined",
                "event",
                &event.id,
                event,
                JsonObject::new()
                    .str("error", why.code())
                    .str("reason", &reason),
                now,
            )?,
        ],
    )
    .await?;
    log::warn("workos event quarantined")
        .str("event_id", &event.id)
        .str("event", &event.event)
        .str("error", why.code())
        .str("reason", &reason)
        .emit();
    Ok(())
}

/// Pages the Events API forward from the stored cursor and applies each event. The cursor moves
/// only past events that were applied, deliberately skipped or quarantined (bad data); any other
/// failure (WorkOS or D1 unavailable) stops the run there, to be retried at the next run.
pub async fn catch_up(app: &App, max_pages: u32) -> Result<CatchUp, AppError> {
    let workos = WorkOs::new(&app.cfg);
    let mut summary = CatchUp {
        cursor: events::cursor(&app.db).await?,
        ..CatchUp::default()
    };
    for _ in 0..max_pages {
        let page = workos
            .list_events(EVENT_TYPES, summary.cursor.as_deref(), 100)
            .await?;
        let more = page
            .list_metadata
            .as_ref()
            .and_then(|m| m.after.as_ref())
            .is_some();
        let empty = page.data.is_empty();
        for event in &page.data {
            match apply(app, event, Source::EventsApi).await {
                Ok(Outcome::Applied) => summary.applied += 1,
                Ok(Outcome::Duplicate) => summary.duplicates += 1,
                Ok(Outcome::Skipped(_)) => summary.skipped += 1,
                // The event itself is bad: retrying cannot help. Set it aside and go on.
                Err(e) if (400..500).contains(&e.status()) => {
                    quarantine(app, event, Source::EventsApi, &e).await?;
                    summary.quarantined += 1;
                }
                Err(e) => {
                    save_cursor(app, &summary).await?;
                    return Err(e);
                }
            }
            summary.cursor = Some(event.id.clone());
        }
        save_cursor(app, &summary).await?;
        if empty || !more {
            break;
        }
    }
    Ok(summary)
}

async fn save_cursor(app: &App, s: &CatchUp) -> Result<(), AppError> {
    match &s.cursor {
        Some(c) => events::set_cursor(&app.db, c, platform::now_secs()).await,
        None => Ok(()),
    }
}

/// One catch-up run from the cron trigger, summarised in one log line.
pub async fn run_catch_up(app: &App) {
    match catch_up(app, 10).await {
        Ok(s) => log::info("events catch-up")
            .int("applied", i64::from(s.applied))
            .int("skipped", i64::from(s.skipped))
            .int("duplicates", i64::from(s.duplicates))
            .int("quarantined", i64::from(s.quarantined))
            .opt_str("cursor", s.cursor.as_deref())
            .emit(),
        Err(e) => log::error("events catch-up failed").app_error(&e).emit(),
    }
}
