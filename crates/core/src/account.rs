//! ECS account settings (PutAccountSetting, PutAccountSettingDefault, DeleteAccountSetting,
//! ListAccountSettings): the names, the values each one takes, ECS's own defaults, and which
//! value applies to a principal.
//!
//! A setting applies to a principal (an IAM user, a role, or the account's root user) in this
//! order: the principal's own value, else the root user's (what PutAccountSettingDefault sets,
//! "the default for all users"), else ECS's default. The root user's value is the account
//! default because ECS stores it as the root user's setting: PutAccountSettingDefault answers
//! with `principalArn` `arn:aws:iam::<account>:root`.
//!
//! | Setting | Values | ECS's default |
//! |---|---|---|
//! | `awsvpcTrunking` | `enabled`, `disabled` | `disabled` |
//! | `containerInsights` | `enabled`, `disabled`, `enhanced` | `disabled` |
//! | `containerInstanceLongArnFormat`, `serviceLongArnFormat`, `taskLongArnFormat` | `enabled`, `disabled` | `enabled` |
//! | `defaultLogDriverMode` | `blocking`, `non-blocking` | `non-blocking` (since 2025-06-25; `blocking` before) |
//! | `dualStackIPv6`, `fargateEventWindows`, `fargateFIPSMode` | `enabled`, `disabled` | `disabled` |
//! | `fargateTaskRetirementWaitPeriod` | `0`, `7`, `14` (root user only) | `7` |
//! | `guardDutyActivate` | read-only (`aws_managed`: GuardDuty sets it) | `disabled` |
//! | `tagResourceAuthorization` | `on`, `off` | `on` |
//!
//! Sources: the official API model's documentation of `SettingName` and of the requests' `value`
//! and `principalArn` (`testdata/reference/ecs-service-2.json`; `dualStackIPv6` is documented there but
//! missing from the model's enum, and ECS accepts it); the AWS CLI's examples
//! (`list-account-settings.rst`, `put-account-setting-default.rst`); an effective listing with
//! `tagResourceAuthorization` `on` and `type` `user` (aws/aws-cdk#28854, 2024). The error text
//! for a value a setting does not take, `Invalid setting 'value'` (InvalidParameterException), is
//! ECS's: hashicorp/terraform-provider-aws#32114 (`enabled` for `tagResourceAuthorization`) and
//! aws/aws-cli#3785 (`ENABLED`, upper case). The other messages here are Berth's.
//!
//! # What it does not do
//!
//! It stores nothing and knows no caller: the cluster keeps the settings and decides whose they
//! are. Nothing here acts on a setting (Container Insights, trunking, ARN formats); the cluster
//! applies the ones it models.

/// One account setting: its name, the values it takes and ECS's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The setting's name, as the API spells it.
    pub name: &'static str,
    /// The values PutAccountSetting accepts for it.
    pub values: &'static [&'static str],
    /// What applies when neither the principal nor the account set it.
    pub default: &'static str,
    /// `aws_managed` (read-only, set by another AWS service) rather than `user`.
    pub aws_managed: bool,
    /// Only the root user can set it (`fargateTaskRetirementWaitPeriod`).
    pub root_only: bool,
}

impl Spec {
    /// The setting's `type`: `aws_managed` or `user`.
    pub fn kind(&self) -> &'static str {
        if self.aws_managed {
            "aws_managed"
        } else {
            "user"
        }
    }
}

const ON_OFF: &[&str] = &["enabled", "disabled"];

const fn spec(name: &'static str, values: &'static [&'static str], default: &'static str) -> Spec {
    Spec {
        name,
        values,
        default,
        aws_managed: false,
        root_only: false,
    }
}

/// Every account setting ECS knows, sorted by name (the order ListAccountSettings lists them in).
pub const SETTINGS: [Spec; 12] = [
    spec("awsvpcTrunking", ON_OFF, "disabled"),
    spec(
        "containerInsights",
        &["enabled", "disabled", "enhanced"],
        "disabled",
    ),
    spec("containerInstanceLongArnFormat", ON_OFF, "enabled"),
    spec(
        "defaultLogDriverMode",
        &["blocking", "non-blocking"],
        "non-blocking",
    ),
    spec("dualStackIPv6", ON_OFF, "disabled"),
    spec("fargateEventWindows", ON_OFF, "disabled"),
    spec("fargateFIPSMode", ON_OFF, "disabled"),
    Spec {
        root_only: true,
        ..spec("fargateTaskRetirementWaitPeriod", &["0", "7", "14"], "7")
    },
    Spec {
        aws_managed: true,
        ..spec("guardDutyActivate", ON_OFF, "disabled")
    },
    spec("serviceLongArnFormat", ON_OFF, "enabled"),
    spec("tagResourceAuthorization", &["on", "off"], "on"),
    spec("taskLongArnFormat", ON_OFF, "enabled"),
];

/// The setting called `name`, if ECS has one.
pub fn find(name: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// Why a setting request is refused. [`SettingError::message`] is the text to answer with
/// (always an `InvalidParameterException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingError {
    /// No account setting has this name.
    UnknownName(String),
    /// The setting does not take this value (ECS's text).
    InvalidValue,
    /// The setting is managed by AWS (`guardDutyActivate`).
    ReadOnly(&'static str),
    /// The setting can be set for the root user only.
    RootOnly(&'static str),
    /// The principal is not an IAM user, role or root user of an account.
    InvalidPrincipal(String),
}

impl SettingError {
    /// The message ECS answers (where known; see the module's sources).
    pub fn message(&self) -> String {
        match self {
            SettingError::UnknownName(n) => format!(
                "Invalid setting 'name': {n} is not an account setting. Valid names: {}.",
                SETTINGS.map(|s| s.name).join(", ")
            ),
            SettingError::InvalidValue => "Invalid setting 'value'".into(),
            SettingError::ReadOnly(n) => format!(
                "The {n} account setting is read-only: Amazon GuardDuty manages it on the account's behalf."
            ),
            SettingError::RootOnly(n) => format!(
                "The {n} account setting can only be set for the root user (arn:aws:iam::<account>:root)."
            ),
            SettingError::InvalidPrincipal(p) => format!(
                "Invalid principalArn '{p}': it must be the ARN of an IAM user, an IAM role or the root user (arn:aws:iam::<account>:root)."
            ),
        }
    }
}

/// The setting called `name`, or why there is none.
///
/// # Errors
///
/// [`SettingError::UnknownName`].
pub fn named(name: &str) -> Result<&'static Spec, SettingError> {
    find(name).ok_or_else(|| SettingError::UnknownName(name.into()))
}

/// Checks that `value` may be set for `name` for `principal` (`root`: whether it is the root
/// user). Values are case-sensitive: `ENABLED` is refused, as ECS refuses it.
///
/// # Errors
///
/// The first [`SettingError`] that applies.
pub fn check(name: &str, value: &str, root: bool) -> Result<&'static Spec, SettingError> {
    let s = named(name)?;
    if s.aws_managed {
        return Err(SettingError::ReadOnly(s.name));
    }
    if !s.values.contains(&value) {
        return Err(SettingError::InvalidValue);
    }
    if s.root_only && !root {
        return Err(SettingError::RootOnly(s.name));
    }
    Ok(s)
}

/// The root user's ARN in `account`: whose settings are the account's defaults.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// Checks a `principalArn`: an IAM user or role (`arn:<partition>:iam::<account>:user/…`,
/// `…:role/…`) or a root user (`…:root`). Answers whether it is a root user.
///
/// # Errors
///
/// [`SettingError::InvalidPrincipal`].
pub fn check_principal(arn: &str) -> Result<bool, SettingError> {
    let bad = || SettingError::InvalidPrincipal(arn.into());
    let Some(["arn", partition, "iam", "", account, resource]) = crate::protocol::arn_parts(arn)
    else {
        return Err(bad());
    };
    if partition.is_empty() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match resource.split_once('/') {
        None if resource == "root" => Ok(true),
        Some(("user" | "role", rest)) if !rest.is_empty() && !rest.ends_with('/') => Ok(false),
        _ => Err(bad()),
    }
}

/// The value that applies: the principal's own, else the account default (the root user's),
/// else ECS's default.
pub fn effective<'a>(s: &'a Spec, own: Option<&'a str>, account: Option<&'a str>) -> &'a str {
    own.or(account).unwrap_or(s.default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_sorted_and_unique_and_their_defaults_are_values_they_take() {
        let names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for s in &SETTINGS {
            assert!(s.values.contains(&s.default), "{}", s.name);
        }
    }

    #[test]
    fn every_name_of_the_model_enum_is_known() {
        // The model's SettingName enum, plus dualStackIPv6, which its documentation lists.
        let model: serde_json::Value = serde_json::from_str(include_str!(
            "../../../testdata/reference/ecs-service-2.json"
        ))
        .unwrap();
        for n in model["shapes"]["SettingName"]["enum"].as_array().unwrap() {
            assert!(find(n.as_str().unwrap()).is_some(), "{n}");
        }
        assert!(find("dualStackIPv6").is_some());
    }

    #[test]
    fn values_are_checked_per_setting_and_case_sensitively() {
        assert!(check("containerInsights", "enhanced", true).is_ok());
        assert!(check("awsvpcTrunking", "enabled", false).is_ok());
        // aws/aws-cli#3785: upper case is refused.
        assert_eq!(
            check("taskLongArnFormat", "ENABLED", true),
            Err(SettingError::InvalidValue)
        );
        // terraform-provider-aws#32114: tagResourceAuthorization takes on/off only.
        assert_eq!(
            check("tagResourceAuthorization", "enabled", true),
            Err(SettingError::InvalidValue)
        );
        assert!(check("tagResourceAuthorization", "on", true).is_ok());
        assert_eq!(
            check("fargateTaskRetirementWaitPeriod", "3", true),
            Err(SettingError::InvalidValue)
        );
        assert!(check("fargateTaskRetirementWaitPeriod", "14", true).is_ok());
        assert_eq!(
            SettingError::InvalidValue.message(),
            "Invalid setting 'value'"
        );
    }

    #[test]
    fn read_only_root_only_and_unknown_settings_are_refused() {
        assert!(matches!(
            check("guardDutyActivate", "enabled", true),
            Err(SettingError::ReadOnly("guardDutyActivate"))
        ));
        assert!(matches!(
            check("fargateTaskRetirementWaitPeriod", "0", false),
            Err(SettingError::RootOnly(_))
        ));
        let e = check("containerInsight", "enabled", true).unwrap_err();
        assert!(e.message().contains("containerInsights"), "{}", e.message());
    }

    #[test]
    fn principals_are_users_roles_or_root() {
        assert_eq!(check_principal("arn:aws:iam::123456789012:root"), Ok(true));
        assert_eq!(
            check_principal("arn:aws:iam::123456789012:user/MyUser"),
            Ok(false)
        );
        assert_eq!(
            check_principal("arn:aws:iam::123456789012:role/path/ecsInstanceRole"),
            Ok(false)
        );
        for bad in [
            "",
            "root",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam::12345:root",
            "arn:aws:sts::123456789012:assumed-role/r/s",
            "arn:aws:iam::123456789012:user/",
        ] {
            assert!(check_principal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_principals_own_value_wins_then_the_accounts_then_ecss() {
        let s = find("containerInsights").unwrap();
        assert_eq!(effective(s, None, None), "disabled");
        assert_eq!(effective(s, None, Some("enabled")), "enabled");
        assert_eq!(effective(s, Some("enhanced"), Some("enabled")), "enhanced");
        assert_eq!(find("guardDutyActivate").unwrap().kind(), "aws_managed");
        assert_eq!(s.kind(), "user");
    }
}
