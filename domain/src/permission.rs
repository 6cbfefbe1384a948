//! `resource:action` permissions: name syntax, wildcard matching, organization scoping and API-key
//! ceilings. Must not read storage or know about HTTP: the caller loads grants and passes them in.
//!
//! A wildcard is only ever a whole segment (`*`), never a glob: `do*` is not a valid name, and `doc:read`
//! never grants `docs:read`.

use std::fmt;

pub const WILDCARD: &str = "*";
pub const ADMIN_ROLE: &str = "admin";
pub const MAX_NAME_LEN: usize = 64;

/// A resource or action name: `*` or `[a-z0-9_.-]{1,64}`. Not case-folded: `Doc` is invalid, not `doc`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    InvalidCharacter,
}

impl NameError {
    pub fn as_str(&self) -> &'static str {
        match self {
            NameError::Empty => "empty",
            NameError::TooLong => "too_long",
            NameError::InvalidCharacter => "invalid_character",
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for NameError {}

impl Name {
    pub fn parse(s: &str) -> Result<Name, NameError> {
        check_name(s)?;
        Ok(Name(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0 == WILDCARD
    }

    fn wildcard() -> Name {
        Name(WILDCARD.to_string())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_name(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if s == WILDCARD
        || s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'))
    {
        Ok(())
    } else {
        Err(NameError::InvalidCharacter)
    }
}

/// A literal (non-wildcard) valid name: the only thing a query segment can match.
fn is_literal_name(s: &str) -> bool {
    s != WILDCARD && check_name(s).is_ok()
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub resource: Name,
    pub action: Name,
}

impl Scope {
    /// `resource:action` with exactly one `:`. No `:` at all is `Empty` (the action is missing); a second
    /// `:` lands in the action and is an `InvalidCharacter`.
    pub fn parse(s: &str) -> Result<Scope, NameError> {
        let (resource, action) = s.split_once(':').ok_or(NameError::Empty)?;
        Ok(Scope {
            resource: Name::parse(resource)?,
            action: Name::parse(action)?,
        })
    }

    pub fn new(resource: Name, action: Name) -> Scope {
        Scope { resource, action }
    }

    fn everything() -> Scope {
        Scope::new(Name::wildcard(), Name::wildcard())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    /// `None`: applies in every organization and to organization-less requests.
    pub organization_id: Option<String>,
}

pub struct Query<'a> {
    pub resource: &'a str,
    pub action: &'a str,
    pub organization_id: Option<&'a str>,
}

/// Segment-wise match. The wildcard matches any *valid literal* name (and a queried `*`); a literal matches
/// only itself. Query segments that are not valid names never match anything, not even `*:*`, so junk
/// input cannot ride on a wildcard grant.
pub fn scope_matches(pattern: &Scope, resource: &str, action: &str) -> bool {
    segment_matches(&pattern.resource, resource) && segment_matches(&pattern.action, action)
}

fn segment_matches(pattern: &Name, value: &str) -> bool {
    if pattern.is_wildcard() {
        value == WILDCARD || is_literal_name(value)
    } else {
        pattern.as_str() == value
    }
}

/// The scope matches, and the grant's organization (if any) is the query's.
pub fn grant_applies(grant: &Grant, q: &Query) -> bool {
    scope_matches(&grant.scope, q.resource, q.action)
        && match grant.organization_id.as_deref() {
            None => true,
            Some(org) => q.organization_id == Some(org),
        }
}

/// `granted` is at least as broad as `requested` (used to keep API-key scopes and ceilings within what
/// the owner holds). Per segment: a wildcard covers anything, a literal covers only itself.
pub fn covers(granted: &Scope, requested: &Scope) -> bool {
    let seg = |g: &Name, r: &Name| g.is_wildcard() || g == r;
    seg(&granted.resource, &requested.resource) && seg(&granted.action, &requested.action)
}

/// Who is asking: a user's grants, whether they are an admin, and for API keys the key's scopes as a
/// ceiling.
pub struct Principal<'a> {
    pub is_admin: bool,
    pub grants: &'a [Grant],
    /// `None`: no ceiling (a session). `Some(scopes)`: an API key may do at most these; an empty list
    /// allows nothing.
    pub ceiling: Option<&'a [Scope]>,
}

/// `(admin || some grant applies) && (no ceiling || some ceiling scope matches)`. Admin is an implicit
/// org-less `*:*` grant, but an API key's ceiling still limits an admin.
pub fn is_allowed(p: &Principal, q: &Query) -> bool {
    let granted = (p.is_admin && scope_matches(&Scope::everything(), q.resource, q.action))
        || p.grants.iter().any(|g| grant_applies(g, q));
    let within_ceiling = p.ceiling.is_none_or(|scopes| {
        scopes
            .iter()
            .any(|s| scope_matches(s, q.resource, q.action))
    });
    granted && within_ceiling
}

/// The reserved scope that lets an API key manage its owner's account (list and end sessions, list,
/// create and revoke keys). Only a key that lists it *literally* has it: wildcards (`*:*`,
/// `account:*`) and an unscoped key (the owner's permissions as a ceiling) do not, because account
/// management is not a permission anyone is granted; it is the owner's, handed to a key on purpose.
pub const ACCOUNT_MANAGE_RESOURCE: &str = "account";
pub const ACCOUNT_MANAGE_ACTION: &str = "manage";

impl Scope {
    /// `account:manage`, spelled out.
    pub fn is_account_manage(&self) -> bool {
        self.resource.as_str() == ACCOUNT_MANAGE_RESOURCE
            && self.action.as_str() == ACCOUNT_MANAGE_ACTION
    }
}

/// May a key with these scopes manage its owner's account? `None` is an unscoped key: no.
pub fn key_may_manage_account(scopes: Option<&[Scope]>) -> bool {
    scopes.is_some_and(|s| s.iter().any(Scope::is_account_manage))
}

/// Is a key with scopes `other` no broader than one with scopes `mine`? An unscoped key (`None`) is
/// broader than any scoped one; each of `other`'s scopes must be covered by one of `mine`.
pub fn no_broader_than(other: Option<&[Scope]>, mine: Option<&[Scope]>) -> bool {
    match (other, mine) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(other), Some(mine)) => other.iter().all(|o| mine.iter().any(|m| covers(m, o))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_literal_account_manage_scope_lets_a_key_manage_the_account() {
        let with = [scope("docs:read"), scope("account:manage")];
        assert!(key_may_manage_account(Some(&with)));
        for without in [
            vec![scope("*:*")],
            vec![scope("account:*")],
            vec![scope("docs:read")],
            vec![],
        ] {
            assert!(!key_may_manage_account(Some(&without)), "{without:?}");
        }
        assert!(!key_may_manage_account(None), "an unscoped key");
    }

    #[test]
    fn a_key_is_no_broader_than_another_only_when_every_scope_is_covered() {
        let reader = [scope("docs:read"), scope("account:manage")];
        assert!(no_broader_than(Some(&[scope("docs:read")]), Some(&reader)));
        assert!(no_broader_than(Some(&[]), Some(&reader)));
        assert!(!no_broader_than(
            Some(&[scope("docs:write")]),
            Some(&reader)
        ));
        assert!(!no_broader_than(None, Some(&reader)), "unscoped is broader");
        assert!(no_broader_than(None, None));
        assert!(no_broader_than(
            Some(&[scope("*:*")]),
            Some(&[scope("*:*")])
        ));
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    fn grant(s: &str, org: Option<&str>) -> Grant {
        Grant {
            scope: scope(s),
            organization_id: org.map(String::from),
        }
    }

    fn q<'a>(resource: &'a str, action: &'a str, org: Option<&'a str>) -> Query<'a> {
        Query {
            resource,
            action,
            organization_id: org,
        }
    }

    #[test]
    fn name_parse_accepts_the_documented_alphabet() {
        for ok in [
            "doc",
            "a",
            "billing.invoices",
            "read-only",
            "v2_x",
            "*",
            &"a".repeat(64),
        ] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn name_parse_reports_why() {
        assert_eq!(Name::parse(""), Err(NameError::Empty));
        assert_eq!(Name::parse(&"a".repeat(65)), Err(NameError::TooLong));
        for bad in ["Doc", "do*", "*a", "**", "a b", "a:b", "é", "a/b"] {
            assert_eq!(Name::parse(bad), Err(NameError::InvalidCharacter), "{bad}");
        }
    }

    #[test]
    fn glob_like_name_is_not_a_wildcard() {
        assert_eq!(Name::parse("do*"), Err(NameError::InvalidCharacter));
    }

    #[test]
    fn scope_parse_needs_exactly_one_colon() {
        assert_eq!(scope("doc:read").to_string(), "doc:read");
        assert_eq!(scope("*:*").to_string(), "*:*");
        assert_eq!(Scope::parse("doc"), Err(NameError::Empty));
        assert_eq!(Scope::parse(":read"), Err(NameError::Empty));
        assert_eq!(Scope::parse("doc:"), Err(NameError::Empty));
        assert_eq!(Scope::parse("a:b:c"), Err(NameError::InvalidCharacter));
    }

    #[test]
    fn literal_scope_matches_only_itself() {
        let s = scope("doc:read");
        assert!(scope_matches(&s, "doc", "read"));
        assert!(!scope_matches(&s, "doc", "write"));
        assert!(!scope_matches(&s, "docs", "read"));
        assert!(!scope_matches(&s, "do", "read"));
        assert!(!scope_matches(&s, "*", "read"));
    }

    #[test]
    fn doc_read_never_grants_docs_read() {
        let p = Principal {
            is_admin: false,
            grants: &[grant("doc:read", None)],
            ceiling: None,
        };
        assert!(!is_allowed(&p, &q("docs", "read", None)));
    }

    #[test]
    fn wildcard_matches_a_whole_segment_only() {
        let s = scope("doc:*");
        assert!(scope_matches(&s, "doc", "read"));
        assert!(scope_matches(&s, "doc", "delete"));
        assert!(!scope_matches(&s, "docs", "read"));
        assert!(scope_matches(&scope("*:read"), "anything", "read"));
    }

    #[test]
    fn invalid_query_names_match_nothing_even_wildcards() {
        let all = scope("*:*");
        for (r, a) in [
            ("", "read"),
            ("Doc", "read"),
            ("doc", "re ad"),
            ("doc", "a:b"),
        ] {
            assert!(!scope_matches(&all, r, a), "{r}:{a}");
        }
        let admin = Principal {
            is_admin: true,
            grants: &[],
            ceiling: None,
        };
        assert!(!is_allowed(&admin, &q("", "", None)));
    }

    #[test]
    fn org_scoped_grant_applies_only_in_that_org() {
        let g = grant("doc:read", Some("org_a"));
        assert!(grant_applies(&g, &q("doc", "read", Some("org_a"))));
        assert!(!grant_applies(&g, &q("doc", "read", Some("org_b"))));
        assert!(!grant_applies(&g, &q("doc", "read", None)));
    }

    #[test]
    fn org_less_grant_applies_everywhere() {
        let g = grant("doc:read", None);
        assert!(grant_applies(&g, &q("doc", "read", None)));
        assert!(grant_applies(&g, &q("doc", "read", Some("org_a"))));
    }

    #[test]
    fn covers_is_per_segment_breadth() {
        assert!(covers(&scope("*:*"), &scope("doc:read")));
        assert!(covers(&scope("doc:*"), &scope("doc:read")));
        assert!(covers(&scope("doc:*"), &scope("doc:*")));
        assert!(covers(&scope("doc:read"), &scope("doc:read")));
        assert!(!covers(&scope("doc:read"), &scope("doc:*")));
        assert!(!covers(&scope("doc:read"), &scope("*:read")));
        assert!(!covers(&scope("doc:*"), &scope("docs:read")));
    }

    #[test]
    fn admin_is_allowed_everything_without_grants() {
        let p = Principal {
            is_admin: true,
            grants: &[],
            ceiling: None,
        };
        assert!(is_allowed(&p, &q("billing", "delete", Some("org_x"))));
    }

    #[test]
    fn api_key_ceiling_limits_even_an_admin() {
        let ceiling = [scope("doc:read")];
        let p = Principal {
            is_admin: true,
            grants: &[],
            ceiling: Some(&ceiling),
        };
        assert!(is_allowed(&p, &q("doc", "read", None)));
        assert!(!is_allowed(&p, &q("doc", "write", None)));
    }

    #[test]
    fn empty_ceiling_allows_nothing() {
        let p = Principal {
            is_admin: true,
            grants: &[],
            ceiling: Some(&[]),
        };
        assert!(!is_allowed(&p, &q("doc", "read", None)));
    }

    #[test]
    fn ceiling_does_not_grant_by_itself() {
        let ceiling = [scope("*:*")];
        let p = Principal {
            is_admin: false,
            grants: &[],
            ceiling: Some(&ceiling),
        };
        assert!(!is_allowed(&p, &q("doc", "read", None)));
    }

    #[test]
    fn no_grants_no_access() {
        let p = Principal {
            is_admin: false,
            grants: &[],
            ceiling: None,
        };
        assert!(!is_allowed(&p, &q("doc", "read", None)));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn literal() -> impl Strategy<Value = String> {
            "[a-z0-9_.-]{1,64}"
        }

        fn name() -> impl Strategy<Value = Name> {
            prop_oneof![
                1 => Just(Name::wildcard()),
                4 => literal().prop_map(|s| Name::parse(&s).unwrap()),
            ]
        }

        fn scope_strategy() -> impl Strategy<Value = Scope> {
            (name(), name()).prop_map(|(r, a)| Scope::new(r, a))
        }

        fn grant_strategy() -> impl Strategy<Value = Grant> {
            (
                scope_strategy(),
                prop::option::of(prop::sample::select(vec!["org_a", "org_b"])),
            )
                .prop_map(|(scope, org)| Grant {
                    scope,
                    organization_id: org.map(String::from),
                })
        }

        proptest! {
            #[test]
            fn a_grant_never_matches_a_different_literal_name(a in literal(), b in literal(), act in literal()) {
                prop_assume!(a != b);
                let s = Scope::new(Name::parse(&a).unwrap(), Name::parse(&act).unwrap());
                prop_assert!(!scope_matches(&s, &b, &act));
                let s = Scope::new(Name::parse(&act).unwrap(), Name::parse(&a).unwrap());
                prop_assert!(!scope_matches(&s, &act, &b));
            }

            #[test]
            fn a_literal_never_matches_its_extensions(a in literal(), suffix in "[a-z0-9_.-]{1,8}") {
                let extended = format!("{a}{suffix}");
                let s = Scope::new(Name::parse(&a).unwrap(), Name::parse("read").unwrap());
                prop_assert!(!scope_matches(&s, &extended, "read"));
            }

            #[test]
            fn wildcard_matches_every_valid_name(r in literal(), a in literal()) {
                prop_assert!(scope_matches(&Scope::everything(), &r, &a));
                let rs = Scope::new(Name::parse(&r).unwrap(), Name::wildcard());
                prop_assert!(scope_matches(&rs, &r, &a));
            }

            #[test]
            fn star_inside_a_name_is_always_rejected(s in "[a-z*]{1,10}") {
                prop_assume!(s != "*" && s.contains('*'));
                prop_assert_eq!(Name::parse(&s), Err(NameError::InvalidCharacter));
            }

            #[test]
            fn the_ceiling_can_only_remove_permissions(
                is_admin in any::<bool>(),
                grants in prop::collection::vec(grant_strategy(), 0..4),
                ceiling in prop::collection::vec(scope_strategy(), 0..4),
                r in prop_oneof![literal(), Just("doc".to_string())],
                a in prop_oneof![literal(), Just("read".to_string())],
                org in prop::option::of(prop::sample::select(vec!["org_a", "org_b"])),
            ) {
                let query = q(&r, &a, org);
                let limited = Principal { is_admin, grants: &grants, ceiling: Some(&ceiling) };
                let unlimited = Principal { is_admin, grants: &grants, ceiling: None };
                prop_assert!(!is_allowed(&limited, &query) || is_allowed(&unlimited, &query));
            }

            #[test]
            fn covers_implies_match_inclusion(g in scope_strategy(), req in scope_strategy(), r in literal(), a in literal()) {
                if covers(&g, &req) && scope_matches(&req, &r, &a) {
                    prop_assert!(scope_matches(&g, &r, &a));
                }
            }
        }
    }
}
