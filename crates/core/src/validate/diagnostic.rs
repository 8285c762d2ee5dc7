//! What the validator reports: [`Diagnostic`]s with a code, a severity, a JSON pointer, a message,
//! help, and the exact place in the source text.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// ECS accepts it, but it is very likely a mistake.
    Warning,
    /// ECS (or the AWS CLI/SDK sending it) would reject it.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// Where a finding is in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column of `start`, in characters.
    pub column: usize,
}

/// One finding of the validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// A stable identifier of the rule, such as `fargate-network-mode`; see [`super::RULES`].
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// JSON pointer (RFC 6901) of the member the finding is about, in the document as given.
    pub path: String,
    /// What is wrong: ECS's own text where it is known.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The exact text the finding is about; `None` only when there is no source text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if !self.path.is_empty() {
            write!(f, " (at {})", self.path)?;
        }
        Ok(())
    }
}
