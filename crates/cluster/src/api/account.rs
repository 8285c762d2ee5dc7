//! PutAccountSetting, PutAccountSettingDefault, DeleteAccountSetting, ListAccountSettings.
//!
//! The rules (names, values, defaults, which value applies) are `berth_core::account`'s; this
//! module keeps who set what. The caller of the local cluster is the account's root user: the
//! endpoint does not map credentials to IAM principals, so a request without `principalArn`
//! acts for `arn:aws:iam::<account>:root`, whose settings are the account's defaults (as
//! PutAccountSettingDefault's are). Settings for a named user or role are kept apart and win
//! over the defaults for that principal.
//!
//! What the cluster does with a setting: `containerInsights` is copied into a cluster created
//! without its own (as ECS applies the account setting to new clusters). The others are kept and
//! listed but change nothing locally (Berth has no ENI trunking, no short ARNs, no Fargate
//! retirement).

use berth_core::account::{self as rules, SettingError, Spec};
use berth_core::model as m;
use berth_core::protocol::AwsError;
use serde_json::{Value, json};

use super::{Page, Read, Write, out};
use crate::state::{AccountSettings, Key};

fn refused(e: SettingError) -> AwsError {
    AwsError::invalid_parameter(e.message())
}

fn required<T>(v: Option<T>, member: &str) -> Result<T, AwsError> {
    v.ok_or_else(|| AwsError::invalid_parameter(format!("{member} is required.")))
}

/// The principal a request names (checked), or the caller: the root user. Also whether it is
/// the root user.
fn principal(account: &str, arn: Option<String>) -> Result<(String, bool), AwsError> {
    match arn {
        Some(arn) => {
            let root = rules::check_principal(&arn).map_err(refused)?;
            Ok((arn, root))
        }
        None => Ok((rules::root_arn(account), true)),
    }
}

fn setting(s: &Spec, value: &str, principal: &str) -> m::Setting {
    m::Setting {
        name: Some(m::SettingName::from(s.name)),
        value: Some(value.into()),
        principal_arn: Some(principal.into()),
        r#type: Some(m::SettingType::from(s.kind())),
    }
}

/// The value that applies to `principal` for `s`.
fn effective<'a>(all: &'a AccountSettings, root: &str, principal: &str, s: &'a Spec) -> &'a str {
    let of = |p: &str| all.get(p).and_then(|m| m.get(s.name)).map(String::as_str);
    rules::effective(s, of(principal), of(root))
}

/// The `containerInsights` value a new cluster gets when its request sets none: the account's.
pub(crate) fn container_insights(all: &AccountSettings, account: &str) -> String {
    let s = rules::find("containerInsights").expect("a known setting");
    let root = rules::root_arn(account);
    effective(all, &root, &root, s).to_string()
}

fn put_for(
    w: &mut Write<'_>,
    name: Option<m::SettingName>,
    value: Option<String>,
    principal_arn: String,
    root: bool,
) -> Result<Value, AwsError> {
    let name = required(name, "name")?;
    let value = required(value, "value")?;
    let s = rules::check(name.as_str(), &value, root).map_err(refused)?;
    let answer = setting(s, &value, &principal_arn);
    w.st.account_settings
        .entry(principal_arn)
        .or_default()
        .insert(s.name.to_string(), value);
    w.dirty.insert(Key::AccountSettings);
    out(json!({ "setting": answer }))
}

pub(crate) fn put(w: &mut Write<'_>, req: m::PutAccountSettingRequest) -> Result<Value, AwsError> {
    let (p, root) = principal(&w.env.account, req.principal_arn)?;
    put_for(w, req.name, req.value, p, root)
}

pub(crate) fn put_default(
    w: &mut Write<'_>,
    req: m::PutAccountSettingDefaultRequest,
) -> Result<Value, AwsError> {
    let root = rules::root_arn(&w.env.account);
    put_for(w, req.name, req.value, root, true)
}

/// Removes the principal's own value; answers the setting with the value that was removed, or,
/// when the principal had none, the value that applies to it.
pub(crate) fn delete(
    w: &mut Write<'_>,
    req: m::DeleteAccountSettingRequest,
) -> Result<Value, AwsError> {
    let name = required(req.name, "name")?;
    let s = rules::named(name.as_str()).map_err(refused)?;
    if s.aws_managed {
        return Err(refused(SettingError::ReadOnly(s.name)));
    }
    let (p, _) = principal(&w.env.account, req.principal_arn)?;
    let removed = match w.st.account_settings.get_mut(&p) {
        Some(own) => {
            let v = own.remove(s.name);
            if own.is_empty() {
                w.st.account_settings.remove(&p);
            }
            v
        }
        None => None,
    };
    let value = match removed {
        Some(v) => {
            w.dirty.insert(Key::AccountSettings);
            v
        }
        None => {
            let root = rules::root_arn(&w.env.account);
            effective(&w.st.account_settings, &root, &p, s).to_string()
        }
    };
    out(json!({ "setting": setting(s, &value, &p) }))
}

/// The principal's own settings, or with `effectiveSettings` the value that applies for every
/// setting; filtered by `name` (and `value`, which needs `name`), ten to a page by default.
pub(crate) fn list(r: &Read<'_>, req: m::ListAccountSettingsRequest) -> Result<Value, AwsError> {
    if req.value.is_some() && req.name.is_none() {
        return Err(AwsError::invalid_parameter(
            "value can only be used together with name.",
        ));
    }
    let only = match &req.name {
        Some(n) => Some(rules::named(n.as_str()).map_err(refused)?),
        None => None,
    };
    let page = Page::new(
        "ListAccountSettings",
        req.next_token.as_deref(),
        req.max_results,
        10,
        10,
    )?;
    let (p, _) = principal(&r.env.account, req.principal_arn)?;
    let root = rules::root_arn(&r.env.account);
    let all = &r.st.account_settings;
    let own = all.get(&p);
    let rows = rules::SETTINGS
        .iter()
        .filter(|s| only.is_none_or(|o| o.name == s.name))
        .filter_map(|s| {
            let value = if req.effective_settings == Some(true) {
                effective(all, &root, &p, s)
            } else {
                own?.get(s.name)?.as_str()
            };
            let keep = req.value.as_deref().is_none_or(|v| v == value);
            keep.then(|| (s.name.to_string(), setting(s, value, &p)))
        });
    let (settings, next) = page.take("ListAccountSettings", rows);
    out(json!({ "settings": settings, "nextToken": next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(all: &AccountSettings, p: &str, name: &str) -> Option<String> {
        all.get(p)?.get(name).cloned()
    }

    #[test]
    fn a_principals_own_value_wins_over_the_account_default() {
        let mut all = AccountSettings::new();
        let root = rules::root_arn("000000000000");
        let user = "arn:aws:iam::000000000000:user/alice";
        let s = rules::find("awsvpcTrunking").unwrap();
        assert_eq!(effective(&all, &root, user, s), "disabled");
        all.entry(root.clone())
            .or_default()
            .insert(s.name.into(), "enabled".into());
        assert_eq!(effective(&all, &root, user, s), "enabled");
        all.entry(user.into())
            .or_default()
            .insert(s.name.into(), "disabled".into());
        assert_eq!(effective(&all, &root, user, s), "disabled");
        assert_eq!(effective(&all, &root, &root, s), "enabled");
        assert_eq!(
            setting_of(&all, user, "awsvpcTrunking").as_deref(),
            Some("disabled")
        );
    }

    #[test]
    fn new_clusters_take_the_accounts_container_insights() {
        let mut all = AccountSettings::new();
        assert_eq!(container_insights(&all, "000000000000"), "disabled");
        all.entry(rules::root_arn("000000000000"))
            .or_default()
            .insert("containerInsights".into(), "enhanced".into());
        assert_eq!(container_insights(&all, "000000000000"), "enhanced");
        // A user's own value is theirs, not the account's.
        let mut users = AccountSettings::new();
        users
            .entry("arn:aws:iam::000000000000:user/alice".into())
            .or_default()
            .insert("containerInsights".into(), "enabled".into());
        assert_eq!(container_insights(&users, "000000000000"), "disabled");
    }
}
