//! The key file of Berth's SigV4 endpoint: which access keys may call the AWS API and the
//! dashboard, with which role.
//!
//! The file uses the AWS shared-credentials format, so the same profile works in
//! `~/.aws/credentials` for the AWS CLI and SDKs:
//!
//! ```ini
//! # Berth keys. A profile per key pair.
//! [operator]
//! aws_access_key_id = BKIAEXAMPLE7Q2K3M4N
//! aws_secret_access_key = …40 characters…
//! role = operator
//! ```
//!
//! **Strict by choice.** A key file is a security boundary, so a mistake is an error naming the
//! file and line, never a guess: every profile needs all three keys (a missing `role` is not read
//! as "operator"); unknown keys, duplicate keys or profiles, text outside a profile, duplicate
//! access key ids, secrets shorter than 16 characters and session tokens (Berth issues none) are
//! refused. Comments are whole lines starting with `#` or `;`; there are no inline comments (as in
//! the AWS CLI's own parser), so a value is everything after the `=`, trimmed.
//!
//! [`KeyRing::load_or_create`] creates a missing file (and its folders) with mode 0600 holding one
//! `[operator]` profile with a fresh key pair: an access key id `BKIA` + 16 base32 characters
//! (never `AKIA`, so nobody mistakes it for a real AWS key, and [`is_real_aws_key`] can tell the
//! two apart) and a 40-character secret in the alphabet of AWS secrets, both from the operating
//! system's CSPRNG (`getrandom`).
//!
//! **Loose permissions warn, they do not refuse.** A file that others can read is logged as a
//! warning (with the `chmod` that fixes it) rather than refused: container secrets and bind mounts
//! often arrive 0644 or 0444 with no way for the user to change it, and refusing would push
//! people to turn verification off altogether. [`permission_warning`] holds the rule.
//!
//! It does not verify signatures ([`crate::sigv4`] does) and keeps no state beyond the keys it
//! read: editing the file takes a restart.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use subtle::ConstantTimeEq;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every operation the server allows.
    Operator,
    /// Read-only operations only.
    Viewer,
}

impl Role {
    /// The name used in the key file and in JSON: `operator` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// The role with this name (exact, lower-case).
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key pair of the file. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// The profile (section) it came from.
    pub profile: String,
    /// The access key id (`aws_access_key_id`).
    pub access_key_id: String,
    /// The secret access key (`aws_secret_access_key`).
    pub secret: String,
    /// What it may do.
    pub role: Role,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("profile", &self.profile)
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// The keys of a key file, looked up by access key id.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    /// In file order.
    keys: Vec<Key>,
    /// Access key id → index in `keys`.
    by_id: HashMap<String, usize>,
}

/// The secret's alphabet: the one AWS secret access keys use.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The access key id's alphabet (RFC 4648 base32), as in AWS key ids.
const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The prefix of the key ids Berth generates ("Berth", where AWS uses `AKIA`).
pub const GENERATED_PREFIX: &str = "BKIA";
/// The shortest secret the file accepts.
pub const MIN_SECRET_LEN: usize = 16;

impl KeyRing {
    /// A key ring holding these keys. Later duplicates of an access key id are ignored (use
    /// [`KeyRing::parse`] to get them reported).
    pub fn from_keys(keys: Vec<Key>) -> KeyRing {
        let mut ring = KeyRing::default();
        for key in keys {
            if !ring.by_id.contains_key(&key.access_key_id) {
                ring.by_id
                    .insert(key.access_key_id.clone(), ring.keys.len());
                ring.keys.push(key);
            }
        }
        ring
    }

    /// The key with this access key id.
    pub fn get(&self, access_key_id: &str) -> Option<&Key> {
        self.by_id.get(access_key_id).map(|&i| &self.keys[i])
    }

    /// The key with this access key id if `secret` is its secret, compared in constant time
    /// (the dashboard's key sign-in).
    pub fn authenticate(&self, access_key_id: &str, secret: &str) -> Option<&Key> {
        self.get(access_key_id)
            .filter(|k| bool::from(k.secret.as_bytes().ct_eq(secret.as_bytes())))
    }

    /// Every key, in file order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads the key file at `path`, or creates it (with its folders, mode 0600) holding one
    /// `[operator]` profile with a fresh key pair. The `bool` is `true` when it was created.
    /// Logs a warning when others may read the file or when a key looks like a real AWS key.
    ///
    /// # Errors
    ///
    /// A message naming the file (and line, for a syntax or content error) when it cannot be
    /// read, created or parsed, or holds no key.
    pub fn load_or_create(path: &Path) -> Result<(KeyRing, bool), String> {
        let (text, created) = match std::fs::read_to_string(path) {
            Ok(text) => (text, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create(path) {
                Ok(text) => (text, true),
                // Another process created it between the read and the create: read theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        format!("{}: cannot read the key file: {e}", path.display())
                    })?;
                    (text, false)
                }
                Err(e) => {
                    return Err(format!(
                        "{}: cannot create the key file: {e}",
                        path.display()
                    ));
                }
            },
            Err(e) => return Err(format!("{}: cannot read the key file: {e}", path.display())),
        };
        let ring = KeyRing::parse(&text, &path.display().to_string())?;
        if ring.is_empty() {
            return Err(format!(
                "{}: the key file holds no profile; add one with aws_access_key_id, \
                 aws_secret_access_key and role, or delete the file to have a new one created",
                path.display()
            ));
        }
        if let Some(warning) = file_mode(path).and_then(|mode| permission_warning(path, mode)) {
            tracing::warn!("{warning}");
        }
        for key in ring.keys() {
            if is_real_aws_key(&key.access_key_id) {
                tracing::warn!(
                    "{}: profile [{}] holds what looks like a real AWS access key id ({}); \
                     Berth's keys should be its own, never your AWS credentials",
                    path.display(),
                    key.profile,
                    key.access_key_id
                );
            }
        }
        Ok((ring, created))
    }

    /// Parses key-file text; `origin` (the file name) prefixes every error as `origin:line: …`.
    ///
    /// # Errors
    ///
    /// The first problem found, as `origin:line: message`.
    ///
    /// # Example
    ///
    /// ```
    /// use berth_server::credentials::{KeyRing, Role};
    /// let ring = KeyRing::parse(
    ///     "[ci]\naws_access_key_id = BKIA0000000000000001\n\
    ///      aws_secret_access_key = abcdefghijklmnopqrstuvwxyz0123456789ABCD\nrole = viewer\n",
    ///     "keys",
    /// )
    /// .unwrap();
    /// assert_eq!(ring.get("BKIA0000000000000001").unwrap().role, Role::Viewer);
    /// let err = KeyRing::parse("[ci]\naws_access_key_id = X\n", "keys").unwrap_err();
    /// assert!(err.starts_with("keys:1: profile [ci]"), "{err}");
    /// ```
    pub fn parse(text: &str, origin: &str) -> Result<KeyRing, String> {
        /// A profile being read.
        struct Section {
            name: String,
            line: usize,
            id: Option<(String, usize)>,
            secret: Option<String>,
            role: Option<Role>,
        }
        let finish = |s: Section, keys: &mut Vec<(Key, usize)>| -> Result<(), String> {
            let mut missing = Vec::new();
            if s.id.is_none() {
                missing.push("aws_access_key_id");
            }
            if s.secret.is_none() {
                missing.push("aws_secret_access_key");
            }
            if s.role.is_none() {
                missing.push("role (operator or viewer)");
            }
            match (s.id, s.secret, s.role) {
                (Some((access_key_id, id_line)), Some(secret), Some(role)) => {
                    keys.push((
                        Key {
                            profile: s.name,
                            access_key_id,
                            secret,
                            role,
                        },
                        id_line,
                    ));
                    Ok(())
                }
                _ => Err(format!(
                    "{origin}:{}: profile [{}] lacks {}",
                    s.line,
                    s.name,
                    missing.join(", ")
                )),
            }
        };

        let mut keys: Vec<(Key, usize)> = Vec::new();
        let mut profiles: HashMap<String, usize> = HashMap::new();
        let mut current: Option<Section> = None;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("{origin}:{n}: a profile header must end with ']'"))?
                    .trim();
                if name.is_empty() {
                    return Err(format!("{origin}:{n}: the profile name is empty"));
                }
                if let Some(first) = profiles.insert(name.to_string(), n) {
                    return Err(format!(
                        "{origin}:{n}: profile [{name}] appears twice (first on line {first})"
                    ));
                }
                if let Some(done) = current.take() {
                    finish(done, &mut keys)?;
                }
                current = Some(Section {
                    name: name.to_string(),
                    line: n,
                    id: None,
                    secret: None,
                    role: None,
                });
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!(
                    "{origin}:{n}: expected `key = value`, a `[profile]` header or a comment"
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            let Some(section) = current.as_mut() else {
                return Err(format!(
                    "{origin}:{n}: `{key}` is outside any profile; start one with `[name]`"
                ));
            };
            let profile = &section.name;
            if value.is_empty() {
                return Err(format!("{origin}:{n}: profile [{profile}]: {key} is empty"));
            }
            let twice = || format!("{origin}:{n}: profile [{profile}]: {key} is set twice");
            match key {
                "aws_access_key_id" => {
                    if section.id.is_some() {
                        return Err(twice());
                    }
                    if value.len() > 128
                        || !value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return Err(format!(
                            "{origin}:{n}: profile [{profile}]: aws_access_key_id must be 1 to 128 \
                             letters, digits or underscores"
                        ));
                    }
                    section.id = Some((value.to_string(), n));
                }
                "aws_secret_access_key" => {
                    if section.secret.is_some() {
                        return Err(twice());
                    }
                    if value.chars().count() < MIN_SECRET_LEN
                        || value.chars().any(|c| c.is_whitespace() || c.is_control())
                    {
                        return Err(format!(
                            "{origin}:{n}: profile [{profile}]: aws_secret_access_key must be at \
                             least {MIN_SECRET_LEN} characters without spaces"
                        ));
                    }
                    section.secret = Some(value.to_string());
                }
                "role" => {
                    if section.role.is_some() {
                        return Err(twice());
                    }
                    section.role = Some(Role::from_name(value).ok_or_else(|| {
                        format!(
                            "{origin}:{n}: profile [{profile}]: role must be `operator` or \
                             `viewer`, not `{value}`"
                        )
                    })?);
                }
                "aws_session_token" | "aws_security_token" => {
                    return Err(format!(
                        "{origin}:{n}: profile [{profile}]: {key} is not supported: Berth issues \
                         no session tokens, its keys are long-term key pairs"
                    ));
                }
                other => {
                    return Err(format!(
                        "{origin}:{n}: profile [{profile}]: unknown key `{other}` (expected \
                         aws_access_key_id, aws_secret_access_key or role)"
                    ));
                }
            }
        }
        if let Some(done) = current.take() {
            finish(done, &mut keys)?;
        }
        let mut seen: HashMap<&str, (&str, usize)> = HashMap::new();
        for (key, line) in &keys {
            if let Some((profile, first)) = seen.insert(&key.access_key_id, (&key.profile, *line)) {
                return Err(format!(
                    "{origin}:{line}: profile [{}] repeats the access key id of profile \
                     [{profile}] (line {first}); every key needs its own id",
                    key.profile
                ));
            }
        }
        Ok(KeyRing::from_keys(
            keys.into_iter().map(|(k, _)| k).collect(),
        ))
    }
}

/// Whether an access key id looks like a real AWS one (`AKIA…` long-term, `ASIA…` temporary),
/// for the one-time warning when such a key signs a request to Berth.
pub fn is_real_aws_key(access_key_id: &str) -> bool {
    access_key_id.starts_with("AKIA") || access_key_id.starts_with("ASIA")
}

/// A fresh key pair: `BKIA` + 16 base32 characters, and a 40-character secret, from the
/// operating system's CSPRNG.
///
/// # Errors
///
/// When the operating system has no randomness to give.
pub fn generate_key_pair() -> Result<(String, String), String> {
    let mut bytes = [0u8; 16 + 40];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    // 32 and 64 divide 256, so masking a uniform byte gives a uniform character.
    let id: String = GENERATED_PREFIX
        .chars()
        .chain(
            bytes[..16]
                .iter()
                .map(|b| ID_ALPHABET[(b & 31) as usize] as char),
        )
        .collect();
    let secret: String = bytes[16..]
        .iter()
        .map(|b| SECRET_ALPHABET[(b & 63) as usize] as char)
        .collect();
    Ok((id, secret))
}

/// The text of a new key file holding one operator key.
fn new_file_text(id: &str, secret: &str) -> String {
    format!(
        "# Berth's SigV4 keys (AWS shared-credentials format). Created by `berth serve`.\n\
         # One [profile] per key pair; role is operator (every call) or viewer (read-only calls).\n\
         # Keep this file private (mode 0600). Restart berth serve after editing it.\n\
         [operator]\n\
         aws_access_key_id = {id}\n\
         aws_secret_access_key = {secret}\n\
         role = operator\n"
    )
}

/// Creates the key file (never overwriting one) with a fresh key and returns its text.
fn create(path: &Path) -> std::io::Result<String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let (id, secret) = generate_key_pair().map_err(std::io::Error::other)?;
    let text = new_file_text(&id, &secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(text)
}

/// The file's permission bits (Unix only).
fn file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The warning for a key file with these permission bits, if group or others may read or write
/// it. Berth warns rather than refuses (see the module docs).
pub fn permission_warning(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "{}: the key file is readable or writable by other users (mode {:04o}); \
             run `chmod 600 {}` so only you can read the keys",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# Berth keys
; another comment style

[operator]
aws_access_key_id=BKIAAAAAAAAAAAAAAAAA
aws_secret_access_key   =   abcdefghijklmnopqrstuvwxyz0123456789+/AB
role = operator

[dash board]
	aws_access_key_id = BKIABBBBBBBBBBBBBBBB
	aws_secret_access_key = 0123456789abcdef
	role = viewer
";

    #[test]
    fn parses_profiles_comments_and_whitespace() {
        let ring = KeyRing::parse(GOOD, "keys").unwrap();
        assert_eq!(ring.len(), 2);
        let op = ring.get("BKIAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(op.profile, "operator");
        assert_eq!(op.secret, "abcdefghijklmnopqrstuvwxyz0123456789+/AB");
        assert_eq!(op.role, Role::Operator);
        let viewer = ring.get("BKIABBBBBBBBBBBBBBBB").unwrap();
        assert_eq!(viewer.profile, "dash board");
        assert_eq!(viewer.role, Role::Viewer);
        assert!(ring.get("nope").is_none());
        assert_eq!(ring.keys()[0].profile, "operator");
    }

    #[test]
    fn crlf_and_a_byte_order_mark_are_fine() {
        let text = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        let ring = KeyRing::parse(&text, "keys").unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(
            ring.get("BKIABBBBBBBBBBBBBBBB").unwrap().secret,
            "0123456789abcdef"
        );
    }

    #[test]
    fn authenticate_compares_the_secret() {
        let ring = KeyRing::parse(GOOD, "keys").unwrap();
        assert!(
            ring.authenticate("BKIABBBBBBBBBBBBBBBB", "0123456789abcdef")
                .is_some()
        );
        assert!(
            ring.authenticate("BKIABBBBBBBBBBBBBBBB", "0123456789abcdeF")
                .is_none()
        );
        assert!(ring.authenticate("BKIABBBBBBBBBBBBBBBB", "").is_none());
        assert!(ring.authenticate("BKIAXXXX", "0123456789abcdef").is_none());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let ring = KeyRing::parse(GOOD, "keys").unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    fn err(text: &str) -> String {
        KeyRing::parse(text, "f").unwrap_err()
    }

    const ID: &str = "aws_access_key_id = BKIAAAAAAAAAAAAAAAAA\n";
    const SECRET: &str = "aws_secret_access_key = abcdefghijklmnop\n";

    #[test]
    fn a_missing_role_is_an_error_naming_the_profile_and_line() {
        assert_eq!(
            err(&format!("# c\n[ci]\n{ID}{SECRET}")),
            "f:2: profile [ci] lacks role (operator or viewer)"
        );
        assert_eq!(
            err("[a]\nrole = viewer\n"),
            "f:1: profile [a] lacks aws_access_key_id, aws_secret_access_key"
        );
        // Reported when the next profile starts, still naming the incomplete one.
        assert_eq!(
            err(&format!("[a]\n{ID}\n[b]\n")),
            "f:1: profile [a] lacks aws_secret_access_key, role (operator or viewer)"
        );
    }

    #[test]
    fn syntax_and_content_errors_name_the_line() {
        assert_eq!(err("[a\n"), "f:1: a profile header must end with ']'");
        assert_eq!(err("[ ]\n"), "f:1: the profile name is empty");
        assert_eq!(
            err("role = viewer\n"),
            "f:1: `role` is outside any profile; start one with `[name]`"
        );
        assert_eq!(
            err("[a]\nnonsense\n"),
            "f:2: expected `key = value`, a `[profile]` header or a comment"
        );
        assert_eq!(
            err("[a]\nrole = admin\n"),
            "f:2: profile [a]: role must be `operator` or `viewer`, not `admin`"
        );
        assert_eq!(
            err("[a]\nrole = Operator\n"),
            "f:2: profile [a]: role must be `operator` or `viewer`, not `Operator`"
        );
        assert_eq!(err("[a]\nrole =\n"), "f:2: profile [a]: role is empty");
        assert_eq!(
            err("[a]\nrole = viewer\nrole = viewer\n"),
            "f:3: profile [a]: role is set twice"
        );
        assert_eq!(
            err("[a]\nregion = us-east-1\n"),
            "f:2: profile [a]: unknown key `region` (expected aws_access_key_id, \
             aws_secret_access_key or role)"
        );
        assert!(
            err("[a]\naws_session_token = x\n")
                .starts_with("f:2: profile [a]: aws_session_token is not supported")
        );
        assert_eq!(
            err("[a]\naws_secret_access_key = short\n"),
            "f:2: profile [a]: aws_secret_access_key must be at least 16 characters without spaces"
        );
        assert_eq!(
            err("[a]\naws_access_key_id = BKIA/1\n"),
            "f:2: profile [a]: aws_access_key_id must be 1 to 128 letters, digits or underscores"
        );
        assert_eq!(
            err("[a]\n[a]\n"),
            "f:2: profile [a] appears twice (first on line 1)"
        );
    }

    #[test]
    fn duplicate_access_key_ids_are_refused() {
        let text = format!("[a]\n{ID}{SECRET}role = operator\n[b]\n{SECRET}{ID}role = viewer\n");
        assert_eq!(
            err(&text),
            "f:7: profile [b] repeats the access key id of profile [a] (line 2); every key \
             needs its own id"
        );
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let (id, secret) = generate_key_pair().unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("BKIA"));
        assert!(id[4..].bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
        assert!(!is_real_aws_key(&id));
        assert_eq!(secret.len(), 40);
        assert!(
            secret.bytes().all(|b| SECRET_ALPHABET.contains(&b)),
            "{secret}"
        );
        let (id2, secret2) = generate_key_pair().unwrap();
        assert_ne!(id, id2);
        assert_ne!(secret, secret2);
    }

    #[test]
    fn real_aws_keys_are_recognised() {
        assert!(is_real_aws_key("AKIAIOSFODNN7EXAMPLE"));
        assert!(is_real_aws_key("ASIAJEXAMPLEXEG2JICEA"));
        assert!(!is_real_aws_key("BKIAIOSFODNN7EXAMPLE"));
        assert!(!is_real_aws_key("AKIDEXAMPLE"));
    }

    #[test]
    fn creates_a_private_file_once_then_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/keys");
        let (ring, created) = KeyRing::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(ring.len(), 1);
        let key = &ring.keys()[0];
        assert_eq!(key.profile, "operator");
        assert_eq!(key.role, Role::Operator);
        assert!(key.access_key_id.starts_with(GENERATED_PREFIX));
        #[cfg(unix)]
        assert_eq!(file_mode(&path), Some(0o600));

        let (again, created) = KeyRing::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.keys(), ring.keys());
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "[a]\nrole = viewer\n").unwrap();
        let e = KeyRing::load_or_create(&path).unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}:1: profile [a] lacks aws_access_key_id, aws_secret_access_key",
                path.display()
            )
        );
        std::fs::write(&path, "# nothing\n").unwrap();
        let e = KeyRing::load_or_create(&path).unwrap_err();
        assert!(e.contains("holds no profile"), "{e}");
    }

    #[test]
    fn loose_permissions_warn() {
        let p = Path::new("/home/u/.berth/keys");
        assert_eq!(permission_warning(p, 0o600), None);
        assert_eq!(permission_warning(p, 0o400), None);
        assert_eq!(
            permission_warning(p, 0o644).as_deref(),
            Some(
                "/home/u/.berth/keys: the key file is readable or writable by other users \
                 (mode 0644); run `chmod 600 /home/u/.berth/keys` so only you can read the keys"
            )
        );
        assert!(permission_warning(p, 0o620).is_some());
    }
}
