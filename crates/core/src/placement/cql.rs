//! The cluster query language (CQL) of `memberOf` constraints and `ListContainerInstances.filter`.
//!
//! [`Expression::parse`] turns text such as
//! `attribute:ecs.instance-type =~ t3.* and not(task:group == service:db)` into a typed tree once;
//! [`Expression::matches`] then evaluates it against any [`InstanceFacts`] without allocating. All
//! literals are checked at parse time (dates, integers, versions, regular expressions, booleans), and
//! each operator is checked against the subject it is applied to (the table in
//! `ecs-semantics.md` §2.5), so a malformed expression fails early with the byte offset of the
//! offending token instead of silently never matching.
//!
//! Choices where ECS's documentation is silent (documented here so callers can rely on them):
//! - `and` binds tighter than `or`; `not`/`!` binds tightest. Keywords, word operators and subject
//!   names are case-insensitive; attribute names and literals are case-sensitive (except the
//!   `true`/`false` literals of `agentConnected`).
//! - `=~`/`!~` take a regular expression that must match the *whole* value, as Java's
//!   `Pattern.matches` does; it is compiled with `regex-lite`, whose syntax covers the common
//!   Java constructs (classes, alternation, repetition, anchors) but not look-around or
//!   possessive quantifiers.
//! - On `attribute:<name>`, `>`/`>=`/`<`/`<=` compare numerically when both sides are numbers and
//!   as strings otherwise. A missing attribute makes every positive test (`==`, `in`, `=~`, `>` …)
//!   false and every negative test (`!=`, `not_in`, `!~`) true.
//! - `task:group == g` holds when the instance runs at least one task of group `g`; `!=`/`not_in`/`!~`
//!   hold when it runs none.
//! - `registeredAt` literals are UTC unless they carry an offset; equality is to the second.
//! - `runningTasksCount` counts every task the view places on the instance plus those placed
//!   earlier in the same plan.
//! - Nesting is limited to [`MAX_DEPTH`] levels so that no input can exhaust the stack.

use std::cmp::Ordering;

use regex_lite::Regex;

/// Deepest nesting of parentheses and `not` that [`Expression::parse`] accepts.
pub const MAX_DEPTH: usize = 64;

/// Why a CQL expression could not be parsed. Every variant carries the byte offset of the
/// offending token ([`CqlError::position`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CqlError {
    /// The expression has no tokens at all.
    #[error("the expression is empty (at byte {position})")]
    Empty {
        /// Byte offset (the end of the blank input).
        position: usize,
    },
    /// A character that starts no token, such as a lone `=`, `&` or `|`.
    #[error("unexpected character {found:?} at byte {position}")]
    UnexpectedChar {
        /// Byte offset of the character.
        position: usize,
        /// The character.
        found: char,
    },
    /// A single-quoted literal with no closing quote.
    #[error("unterminated quoted literal starting at byte {position}; close it with '")]
    UnterminatedQuote {
        /// Byte offset of the opening quote.
        position: usize,
    },
    /// A token that cannot appear where it does.
    #[error("expected {expected} at byte {position}, found {found}")]
    UnexpectedToken {
        /// Byte offset of the token (the input length when the input ended early).
        position: usize,
        /// What the grammar wanted.
        expected: String,
        /// What was there (`end of expression` when the input ended).
        found: String,
    },
    /// A word in subject position that is no CQL subject.
    #[error(
        "unknown subject {subject:?} at byte {position}; expected attribute:<name>, \
         ec2InstanceId, registeredAt, runningTasksCount, agentVersion, agentConnected or task:group"
    )]
    UnknownSubject {
        /// Byte offset of the subject.
        position: usize,
        /// The word found.
        subject: String,
    },
    /// An operator the subject does not support (table in ecs-semantics §2.5).
    #[error(
        "operator {operator:?} cannot be used with {subject} (at byte {position}); \
         {subject} supports {allowed}"
    )]
    OperatorNotAllowed {
        /// Byte offset of the operator.
        position: usize,
        /// The operator as written.
        operator: String,
        /// The subject it was applied to.
        subject: String,
        /// The operators that subject accepts.
        allowed: String,
    },
    /// A literal of the wrong form for its subject or operator.
    #[error("invalid {what} {literal:?} at byte {position}: {reason}")]
    InvalidLiteral {
        /// Byte offset of the literal.
        position: usize,
        /// The literal as written.
        literal: String,
        /// What kind of literal was expected (`date`, `integer`, `regular expression` …).
        what: String,
        /// Why it was rejected and what would be accepted.
        reason: String,
    },
    /// Parentheses or `not` nested deeper than [`MAX_DEPTH`].
    #[error("the expression nests deeper than {max} levels at byte {position}")]
    TooDeep {
        /// Byte offset of the token that went too deep.
        position: usize,
        /// The limit.
        max: usize,
    },
}

impl CqlError {
    /// Byte offset into the expression of the token the error is about.
    pub fn position(&self) -> usize {
        match self {
            CqlError::Empty { position }
            | CqlError::UnexpectedChar { position, .. }
            | CqlError::UnterminatedQuote { position }
            | CqlError::UnexpectedToken { position, .. }
            | CqlError::UnknownSubject { position, .. }
            | CqlError::OperatorNotAllowed { position, .. }
            | CqlError::InvalidLiteral { position, .. }
            | CqlError::TooDeep { position, .. } => *position,
        }
    }

    /// The human-readable message (the same text as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// What the evaluator needs to know about one container instance.
///
/// Implemented by the placement engine's working state and by
/// [`ContainerInstanceFacts`](super::ContainerInstanceFacts); implement it yourself to filter
/// other representations (for example `ListContainerInstances.filter` over a store).
pub trait InstanceFacts {
    /// The attribute's value: `None` if the instance lacks it, `Some(None)` if it has it
    /// without a value.
    fn attribute(&self, name: &str) -> Option<Option<&str>>;
    /// The EC2 (or SSM managed) instance id.
    fn ec2_instance_id(&self) -> &str;
    /// Registration time, seconds since the Unix epoch (UTC).
    fn registered_at(&self) -> i64;
    /// Number of tasks on the instance.
    fn running_tasks_count(&self) -> u64;
    /// The ECS agent version, such as `1.14.5`.
    fn agent_version(&self) -> &str;
    /// Whether the agent is connected.
    fn agent_connected(&self) -> bool;
    /// Whether any task on the instance has a group for which `test` returns true.
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool;
}

/// The subject of a CQL predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `attribute:<name>`, a built-in (`ecs.availability-zone` …) or custom attribute.
    Attribute(String),
    /// `ec2InstanceId`.
    Ec2InstanceId,
    /// `registeredAt`.
    RegisteredAt,
    /// `runningTasksCount`.
    RunningTasksCount,
    /// `agentVersion`.
    AgentVersion,
    /// `agentConnected`.
    AgentConnected,
    /// `task:group`.
    TaskGroup,
}

impl Subject {
    fn name(&self) -> String {
        match self {
            Subject::Attribute(n) => format!("attribute:{n}"),
            Subject::Ec2InstanceId => "ec2InstanceId".into(),
            Subject::RegisteredAt => "registeredAt".into(),
            Subject::RunningTasksCount => "runningTasksCount".into(),
            Subject::AgentVersion => "agentVersion".into(),
            Subject::AgentConnected => "agentConnected".into(),
            Subject::TaskGroup => "task:group".into(),
        }
    }

    fn allows(&self, op: Op) -> bool {
        use Op::*;
        match self {
            Subject::Attribute(_) => true,
            Subject::Ec2InstanceId | Subject::AgentConnected | Subject::TaskGroup => {
                matches!(op, Eq | Ne | In | NotIn | Matches | NotMatches)
            }
            Subject::RegisteredAt | Subject::RunningTasksCount | Subject::AgentVersion => {
                matches!(op, Eq | Ne | Gt | Ge | Lt | Le)
            }
        }
    }

    fn allowed_text(&self) -> &'static str {
        match self {
            Subject::Attribute(_) => "every operator",
            Subject::Ec2InstanceId | Subject::AgentConnected | Subject::TaskGroup => {
                "==, !=, in, not_in, =~ and !~"
            }
            Subject::RegisteredAt | Subject::RunningTasksCount | Subject::AgentVersion => {
                "==, !=, >, >=, < and <="
            }
        }
    }

    /// Whether the subject can change while tasks are placed (so results cannot be memoised).
    fn is_dynamic(&self) -> bool {
        matches!(self, Subject::RunningTasksCount | Subject::TaskGroup)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Ne => ord != Ordering::Equal,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Ge => ord != Ordering::Less,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Le => ord != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone)]
enum Lit {
    /// Attribute text with its numeric reading, if any.
    Text(String, Option<f64>),
    Int(u64),
    Time(i64),
    Version(Vec<u64>),
}

#[derive(Debug, Clone)]
enum Test {
    Exists,
    NotExists,
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Matches(Regex),
    NotMatches(Regex),
    Cmp(CmpOp, Lit),
}

#[derive(Debug, Clone)]
enum Node {
    Pred(Subject, Test),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// A parsed, validated CQL expression.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    root: Node,
    dynamic: bool,
}

impl Expression {
    /// Parses and validates a CQL expression.
    ///
    /// # Errors
    ///
    /// Returns a [`CqlError`] carrying the byte offset of the offending token for any malformed
    /// input: unknown subjects or operators, operators a subject does not support, bad literals
    /// (dates, integers, versions, booleans, regular expressions), unbalanced parentheses or
    /// quotes, a list outside `in`/`not_in`, or nesting deeper than [`MAX_DEPTH`].
    ///
    /// # Examples
    ///
    /// ```
    /// use berth_core::placement::Expression;
    ///
    /// let e = Expression::parse("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]")?;
    /// assert_eq!(e.source(), "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]");
    ///
    /// let err = Expression::parse("runningTasksCount =~ 1").unwrap_err();
    /// assert_eq!(err.position(), 18);
    /// # Ok::<(), berth_core::placement::CqlError>(())
    /// ```
    pub fn parse(source: &str) -> Result<Expression, CqlError> {
        let tokens = lex(source)?;
        let mut p = Parser {
            tokens,
            at: 0,
            depth: 0,
            end: source.len(),
        };
        if p.tokens.is_empty() {
            return Err(CqlError::Empty {
                position: source.len(),
            });
        }
        let root = p.parse_or()?;
        if let Some(t) = p.tokens.get(p.at) {
            return Err(CqlError::UnexpectedToken {
                position: t.pos,
                expected: "'and', 'or' or the end of the expression".into(),
                found: t.describe(),
            });
        }
        let dynamic = node_is_dynamic(&root);
        Ok(Expression {
            source: source.to_owned(),
            root,
            dynamic,
        })
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the result depends only on facts that placing tasks does not change (no
    /// `runningTasksCount`, no `task:group`), so it can be evaluated once per instance.
    pub fn is_static(&self) -> bool {
        !self.dynamic
    }

    /// Evaluates the expression against one instance.
    pub fn matches<F: InstanceFacts + ?Sized>(&self, facts: &F) -> bool {
        eval(&self.root, facts)
    }
}

impl Expression {
    /// The attribute names the expression reads, or `None` when it reads any other subject:
    /// then its result for an instance is a function of those attributes' values alone.
    pub(crate) fn attribute_names(&self) -> Option<Vec<&str>> {
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a str>) -> bool {
            match n {
                Node::Pred(Subject::Attribute(name), _) => {
                    if !out.contains(&name.as_str()) {
                        out.push(name);
                    }
                    true
                }
                Node::Pred(..) => false,
                Node::Not(inner) => walk(inner, out),
                Node::And(v) | Node::Or(v) => v.iter().all(|n| walk(n, out)),
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out).then_some(out)
    }
}

fn node_is_dynamic(n: &Node) -> bool {
    match n {
        Node::Pred(s, _) => s.is_dynamic(),
        Node::Not(inner) => node_is_dynamic(inner),
        Node::And(v) | Node::Or(v) => v.iter().any(node_is_dynamic),
    }
}

fn eval<F: InstanceFacts + ?Sized>(n: &Node, f: &F) -> bool {
    match n {
        Node::Not(inner) => !eval(inner, f),
        Node::And(v) => v.iter().all(|n| eval(n, f)),
        Node::Or(v) => v.iter().any(|n| eval(n, f)),
        Node::Pred(subject, test) => eval_pred(subject, test, f),
    }
}

fn eval_pred<F: InstanceFacts + ?Sized>(subject: &Subject, test: &Test, f: &F) -> bool {
    match subject {
        Subject::Attribute(name) => {
            let v = f.attribute(name);
            match test {
                Test::Exists => v.is_some(),
                Test::NotExists => v.is_none(),
                _ => text_test(test, v.flatten()),
            }
        }
        Subject::Ec2InstanceId => text_test(test, Some(f.ec2_instance_id())),
        Subject::AgentConnected => text_test(
            test,
            Some(if f.agent_connected() { "true" } else { "false" }),
        ),
        Subject::TaskGroup => match test {
            Test::Eq(s) => f.any_task_group(&mut |g| g == s),
            Test::Ne(s) => !f.any_task_group(&mut |g| g == s),
            Test::In(l) => f.any_task_group(&mut |g| l.iter().any(|s| s == g)),
            Test::NotIn(l) => !f.any_task_group(&mut |g| l.iter().any(|s| s == g)),
            Test::Matches(r) => f.any_task_group(&mut |g| r.is_match(g)),
            Test::NotMatches(r) => !f.any_task_group(&mut |g| r.is_match(g)),
            _ => false,
        },
        Subject::RegisteredAt => match test {
            Test::Cmp(op, Lit::Time(t)) => op.holds(f.registered_at().cmp(t)),
            _ => false,
        },
        Subject::RunningTasksCount => match test {
            Test::Cmp(op, Lit::Int(n)) => op.holds(f.running_tasks_count().cmp(n)),
            _ => false,
        },
        Subject::AgentVersion => match test {
            Test::Cmp(op, Lit::Version(v)) => match parse_version(f.agent_version()) {
                Some(have) => op.holds(compare_versions(&have, v)),
                None => false,
            },
            _ => false,
        },
    }
}

fn text_test(test: &Test, v: Option<&str>) -> bool {
    match test {
        Test::Exists => v.is_some(),
        Test::NotExists => v.is_none(),
        Test::Eq(s) => v == Some(s.as_str()),
        Test::Ne(s) => v != Some(s.as_str()),
        Test::In(l) => v.is_some_and(|v| l.iter().any(|s| s == v)),
        Test::NotIn(l) => !v.is_some_and(|v| l.iter().any(|s| s == v)),
        Test::Matches(r) => v.is_some_and(|v| r.is_match(v)),
        Test::NotMatches(r) => !v.is_some_and(|v| r.is_match(v)),
        Test::Cmp(op, Lit::Text(s, num)) => v.is_some_and(|v| {
            let ord = match (num, v.parse::<f64>().ok().filter(|x| x.is_finite())) {
                (Some(b), Some(a)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
                _ => v.cmp(s.as_str()),
            };
            op.holds(ord)
        }),
        Test::Cmp(..) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Word(&'a str),
    Quoted(&'a str),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    pos: usize,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::Word(w) => format!("{w:?}"),
            Tok::Quoted(w) => format!("'{w}'"),
            Tok::Sym(s) => format!("'{s}'"),
        }
    }
}

fn is_symbol_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~' | '&' | '|')
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !is_symbol_char(c) && !matches!(c, '(' | ')' | '[' | ']' | ',' | '\'')
}

fn lex(src: &str) -> Result<Vec<Token<'_>>, CqlError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let simple = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = simple {
            chars.next();
            out.push(Token { tok, pos });
            continue;
        }
        if c == '\'' {
            chars.next();
            let start = pos + 1;
            let mut end = None;
            for (p, ch) in chars.by_ref() {
                if ch == '\'' {
                    end = Some(p);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(CqlError::UnterminatedQuote { position: pos });
            };
            out.push(Token {
                tok: Tok::Quoted(&src[start..end]),
                pos,
            });
            continue;
        }
        if is_symbol_char(c) {
            let next = bytes.get(pos + 1).copied().map(char::from);
            let (sym, len): (&'static str, usize) = match (c, next) {
                ('=', Some('=')) => ("==", 2),
                ('=', Some('~')) => ("=~", 2),
                ('!', Some('=')) => ("!=", 2),
                ('!', Some('~')) => ("!~", 2),
                ('!', _) => ("!", 1),
                ('>', Some('=')) => (">=", 2),
                ('>', _) => (">", 1),
                ('<', Some('=')) => ("<=", 2),
                ('<', _) => ("<", 1),
                ('&', Some('&')) => ("&&", 2),
                ('|', Some('|')) => ("||", 2),
                _ => {
                    return Err(CqlError::UnexpectedChar {
                        position: pos,
                        found: c,
                    });
                }
            };
            for _ in 0..len {
                chars.next();
            }
            out.push(Token {
                tok: Tok::Sym(sym),
                pos,
            });
            continue;
        }
        // A word: everything up to whitespace, punctuation, a quote or an operator character.
        let mut end = src.len();
        while let Some(&(p, ch)) = chars.peek() {
            if !is_word_char(ch) {
                end = p;
                break;
            }
            chars.next();
        }
        out.push(Token {
            tok: Tok::Word(&src[pos..end]),
            pos,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
    depth: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.at)
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn unexpected(&self, expected: &str) -> CqlError {
        CqlError::UnexpectedToken {
            position: self.pos(),
            expected: expected.into(),
            found: self
                .peek()
                .map_or_else(|| "the end of the expression".into(), Token::describe),
        }
    }

    fn peek_is_keyword(&self, words: &[&str], sym: &str) -> bool {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(w)) => words.iter().any(|k| w.eq_ignore_ascii_case(k)),
            Some(Tok::Sym(s)) => *s == sym,
            _ => false,
        }
    }

    fn parse_or(&mut self) -> Result<Node, CqlError> {
        let mut parts = vec![self.parse_and()?];
        while self.peek_is_keyword(&["or"], "||") {
            self.at += 1;
            parts.push(self.parse_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::Or(parts)
        })
    }

    fn parse_and(&mut self) -> Result<Node, CqlError> {
        let mut parts = vec![self.parse_unary()?];
        while self.peek_is_keyword(&["and"], "&&") {
            self.at += 1;
            parts.push(self.parse_unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::And(parts)
        })
    }

    fn enter(&mut self) -> Result<(), CqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CqlError::TooDeep {
                position: self.pos(),
                max: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn parse_unary(&mut self) -> Result<Node, CqlError> {
        let Some(tok) = self.peek() else {
            return Err(self.unexpected("a predicate, 'not' or '('"));
        };
        match tok.tok {
            Tok::Sym("!") => {
                self.enter()?;
                self.at += 1;
                let inner = self.parse_unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.enter()?;
                self.at += 1;
                let inner = self.parse_unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Tok::LParen => {
                self.enter()?;
                self.at += 1;
                let inner = self.parse_or()?;
                match self.peek().map(|t| &t.tok) {
                    Some(Tok::RParen) => self.at += 1,
                    _ => return Err(self.unexpected("')'")),
                }
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.parse_predicate(),
        }
    }

    fn parse_predicate(&mut self) -> Result<Node, CqlError> {
        let (subject, subject_pos) = match self.peek() {
            Some(Token {
                tok: Tok::Word(w),
                pos,
            }) => (parse_subject(w, *pos)?, *pos),
            _ => return Err(self.unexpected("a subject such as attribute:<name>")),
        };
        let _ = subject_pos;
        self.at += 1;
        let op_pos = self.pos();
        let (op, op_text) = self.parse_op()?;
        if !subject.allows(op) {
            return Err(CqlError::OperatorNotAllowed {
                position: op_pos,
                operator: op_text,
                subject: subject.name(),
                allowed: subject.allowed_text().into(),
            });
        }
        let test = match op {
            Op::Exists => Test::Exists,
            Op::NotExists => Test::NotExists,
            Op::In | Op::NotIn => {
                let list = self.parse_list(&subject)?;
                if op == Op::In {
                    Test::In(list)
                } else {
                    Test::NotIn(list)
                }
            }
            Op::Matches | Op::NotMatches => {
                let (lit, pos) = self.parse_literal()?;
                let re = compile_regex(lit, pos)?;
                if op == Op::Matches {
                    Test::Matches(re)
                } else {
                    Test::NotMatches(re)
                }
            }
            Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                let (lit, pos) = self.parse_literal()?;
                let cmp = match op {
                    Op::Eq => CmpOp::Eq,
                    Op::Ne => CmpOp::Ne,
                    Op::Gt => CmpOp::Gt,
                    Op::Ge => CmpOp::Ge,
                    Op::Lt => CmpOp::Lt,
                    _ => CmpOp::Le,
                };
                typed_test(&subject, cmp, lit, pos)?
            }
        };
        Ok(Node::Pred(subject, test))
    }

    fn parse_op(&mut self) -> Result<(Op, String), CqlError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected("an operator"));
        };
        let op = match tok.tok {
            Tok::Sym("==") => Some(Op::Eq),
            Tok::Sym("!=") => Some(Op::Ne),
            Tok::Sym(">") => Some(Op::Gt),
            Tok::Sym(">=") => Some(Op::Ge),
            Tok::Sym("<") => Some(Op::Lt),
            Tok::Sym("<=") => Some(Op::Le),
            Tok::Sym("=~") => Some(Op::Matches),
            Tok::Sym("!~") => Some(Op::NotMatches),
            Tok::Sym("!") => {
                // `!exists` and `!in` are written as `!` followed by a word.
                match self.tokens.get(self.at + 1).map(|t| &t.tok) {
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("exists") => {
                        self.at += 2;
                        return Ok((Op::NotExists, "!exists".into()));
                    }
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => {
                        self.at += 2;
                        return Ok((Op::NotIn, "!in".into()));
                    }
                    _ => None,
                }
            }
            Tok::Word(w) => match w.to_ascii_lowercase().as_str() {
                "equals" => Some(Op::Eq),
                "not_equals" => Some(Op::Ne),
                "greater_than" => Some(Op::Gt),
                "greater_than_equal" => Some(Op::Ge),
                "less_than" => Some(Op::Lt),
                "less_than_equal" => Some(Op::Le),
                "exists" => Some(Op::Exists),
                "not_exists" => Some(Op::NotExists),
                "in" => Some(Op::In),
                "not_in" => Some(Op::NotIn),
                "matches" => Some(Op::Matches),
                "not_matches" => Some(Op::NotMatches),
                _ => None,
            },
            _ => None,
        };
        match op {
            Some(op) => {
                self.at += 1;
                let text = match tok.tok {
                    Tok::Sym(s) => s.to_owned(),
                    Tok::Word(w) => w.to_owned(),
                    _ => String::new(),
                };
                Ok((op, text))
            }
            None => Err(self.unexpected(
                "an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~ \
                 or their word forms)",
            )),
        }
    }

    fn parse_literal(&mut self) -> Result<(&'a str, usize), CqlError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Word(w) | Tok::Quoted(w),
                pos,
            }) => {
                let r = (*w, *pos);
                self.at += 1;
                Ok(r)
            }
            Some(Token {
                tok: Tok::LBracket, ..
            }) => Err(self.unexpected("a single value (lists are only allowed after in / not_in)")),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn parse_list(&mut self, subject: &Subject) -> Result<Vec<String>, CqlError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::LBracket) => self.at += 1,
            _ => return Err(self.unexpected("'[' to start a list such as [a, b]")),
        }
        let mut out = Vec::new();
        loop {
            let (lit, pos) = self.parse_literal()?;
            out.push(text_literal(subject, lit, pos)?);
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::RBracket) => {
                    self.at += 1;
                    return Ok(out);
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }
}

fn parse_subject(word: &str, pos: usize) -> Result<Subject, CqlError> {
    if let Some(prefix) = word.get(..10)
        && prefix.eq_ignore_ascii_case("attribute:")
    {
        let name = &word[10..];
        if name.is_empty() {
            return Err(CqlError::InvalidLiteral {
                position: pos,
                literal: word.into(),
                what: "attribute subject".into(),
                reason: "the attribute name after 'attribute:' is missing".into(),
            });
        }
        return Ok(Subject::Attribute(name.to_owned()));
    }
    let s = match word.to_ascii_lowercase().as_str() {
        "ec2instanceid" => Subject::Ec2InstanceId,
        "registeredat" => Subject::RegisteredAt,
        "runningtaskscount" => Subject::RunningTasksCount,
        "agentversion" => Subject::AgentVersion,
        "agentconnected" => Subject::AgentConnected,
        "task:group" => Subject::TaskGroup,
        _ => {
            return Err(CqlError::UnknownSubject {
                position: pos,
                subject: word.into(),
            });
        }
    };
    Ok(s)
}

/// Validates a literal used by `==`, `!=`, `in`, `not_in` on a text-valued subject.
fn text_literal(subject: &Subject, lit: &str, pos: usize) -> Result<String, CqlError> {
    if *subject == Subject::AgentConnected {
        return match lit.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => Ok(v.to_owned()),
            _ => Err(CqlError::InvalidLiteral {
                position: pos,
                literal: lit.into(),
                what: "boolean".into(),
                reason: "agentConnected compares with true or false".into(),
            }),
        };
    }
    Ok(lit.to_owned())
}

fn typed_test(subject: &Subject, op: CmpOp, lit: &str, pos: usize) -> Result<Test, CqlError> {
    let bad = |what: &str, reason: &str| CqlError::InvalidLiteral {
        position: pos,
        literal: lit.into(),
        what: what.into(),
        reason: reason.into(),
    };
    Ok(match subject {
        Subject::RegisteredAt => match parse_timestamp(lit) {
            Some(t) => Test::Cmp(op, Lit::Time(t)),
            None => {
                return Err(bad(
                    "date",
                    "use 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 \
                     or 2018-06-18",
                ));
            }
        },
        Subject::RunningTasksCount => match lit.parse::<u64>() {
            Ok(n) => Test::Cmp(op, Lit::Int(n)),
            Err(_) => {
                return Err(bad(
                    "integer",
                    "runningTasksCount compares with a whole number",
                ));
            }
        },
        Subject::AgentVersion => match parse_version(lit) {
            Some(v) => Test::Cmp(op, Lit::Version(v)),
            None => {
                return Err(bad(
                    "version",
                    "agentVersion compares with a dotted version such as 1.14.5",
                ));
            }
        },
        Subject::Attribute(_) => match op {
            CmpOp::Eq => Test::Eq(lit.to_owned()),
            CmpOp::Ne => Test::Ne(lit.to_owned()),
            _ => Test::Cmp(
                op,
                Lit::Text(
                    lit.to_owned(),
                    lit.parse::<f64>().ok().filter(|x| x.is_finite()),
                ),
            ),
        },
        Subject::Ec2InstanceId | Subject::AgentConnected | Subject::TaskGroup => {
            let v = text_literal(subject, lit, pos)?;
            match op {
                CmpOp::Eq => Test::Eq(v),
                _ => Test::Ne(v),
            }
        }
    })
}

fn compile_regex(pattern: &str, pos: usize) -> Result<Regex, CqlError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| CqlError::InvalidLiteral {
        position: pos,
        literal: pattern.into(),
        what: "regular expression".into(),
        reason: e.to_string(),
    })
}

/// Parses a dotted version (`1.14.5`, optionally `v1.14.5` or with a `-suffix`) into its numbers.
pub(crate) fn parse_version(s: &str) -> Option<Vec<u64>> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let core = s.split(['-', '+']).next().unwrap_or("");
    if core.is_empty() {
        return None;
    }
    core.split('.')
        .map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse::<u64>().ok()
            }
        })
        .collect()
}

fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the four `registeredAt` formats ECS documents into seconds since the epoch (UTC):
/// `2018-06-18T22:28:28+00:00`, `2018-06-18T22:28:28Z`, `2018-06-18T22:28:28`, `2018-06-18`.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let (date, rest) = match s.find('T') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if date.len() != 10
        || date.as_bytes().get(4) != Some(&b'-')
        || date.as_bytes().get(7) != Some(&b'-')
    {
        return None;
    }
    let y = i64::from(digits(date.get(0..4)?)?);
    let m = digits(date.get(5..7)?)?;
    let d = digits(date.get(8..10)?)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(rest) = rest {
        let (time, offset) = if let Some(t) = rest.strip_suffix('Z') {
            (t, 0)
        } else if rest.len() > 8 {
            let (t, o) = (rest.get(..8)?, rest.get(8..)?);
            let sign = match o.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let o = &o[1..];
            if o.len() != 5 || o.as_bytes().get(2) != Some(&b':') {
                return None;
            }
            let oh = digits(o.get(0..2)?)?;
            let om = digits(o.get(3..5)?)?;
            if oh > 23 || om > 59 {
                return None;
            }
            (t, sign * i64::from(oh * 3600 + om * 60))
        } else {
            (rest, 0)
        };
        if time.len() != 8
            || time.as_bytes().get(2) != Some(&b':')
            || time.as_bytes().get(5) != Some(&b':')
        {
            return None;
        }
        let h = digits(time.get(0..2)?)?;
        let mi = digits(time.get(3..5)?)?;
        let se = digits(time.get(6..8)?)?;
        if h > 23 || mi > 59 || se > 59 {
            return None;
        }
        secs += i64::from(h * 3600 + mi * 60 + se) - offset;
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Facts {
        attrs: Vec<(&'static str, Option<&'static str>)>,
        ec2: &'static str,
        registered_at: i64,
        running: u64,
        version: &'static str,
        connected: bool,
        groups: Vec<&'static str>,
    }

    impl InstanceFacts for Facts {
        fn attribute(&self, name: &str) -> Option<Option<&str>> {
            self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        fn ec2_instance_id(&self) -> &str {
            self.ec2
        }
        fn registered_at(&self) -> i64 {
            self.registered_at
        }
        fn running_tasks_count(&self) -> u64 {
            self.running
        }
        fn agent_version(&self) -> &str {
            self.version
        }
        fn agent_connected(&self) -> bool {
            self.connected
        }
        fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
            self.groups.iter().any(|g| test(g))
        }
    }

    fn facts() -> Facts {
        Facts {
            attrs: vec![
                ("ecs.availability-zone", Some("us-east-1a")),
                ("ecs.instance-type", Some("g2.2xlarge")),
                ("ecs.os-type", Some("linux")),
                ("ecs.cpu-architecture", Some("x86_64")),
                ("stack", Some("prod")),
                ("size", Some("10")),
                ("flag", None),
            ],
            ec2: "i-abcd1234",
            registered_at: parse_timestamp("2018-06-18T22:28:28Z").unwrap_or(0),
            running: 3,
            version: "1.14.5",
            connected: true,
            groups: vec!["service:production", "family:web"],
        }
    }

    #[test]
    fn every_operator_and_subject() {
        let f = facts();
        let table: &[(&str, bool)] = &[
            // attribute, every operator, symbol and word forms
            ("attribute:ecs.instance-type == g2.2xlarge", true),
            ("attribute:ecs.instance-type equals g2.2xlarge", true),
            ("attribute:ecs.instance-type == t2.small", false),
            ("attribute:ecs.instance-type != t2.small", true),
            ("attribute:ecs.instance-type not_equals g2.2xlarge", false),
            ("attribute:size > 9", true),
            ("attribute:size greater_than 10", false),
            ("attribute:size >= 10", true),
            ("attribute:size greater_than_equal 11", false),
            ("attribute:size < 100", true), // numeric, not string, comparison
            ("attribute:size less_than 10", false),
            ("attribute:size <= 10", true),
            ("attribute:size less_than_equal 9", false),
            ("attribute:stack > prea", true), // string comparison
            ("attribute:stack exists", true),
            ("attribute:flag exists", true),
            ("attribute:nope exists", false),
            ("attribute:nope !exists", true),
            ("attribute:stack not_exists", false),
            (
                "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
                true,
            ),
            ("attribute:ecs.availability-zone in [us-east-1c]", false),
            (
                "attribute:ecs.availability-zone !in [us-east-1c, 'us-east-1d']",
                true,
            ),
            ("attribute:ecs.availability-zone not_in [us-east-1a]", false),
            ("attribute:ecs.instance-type =~ g2.*", true),
            ("attribute:ecs.instance-type matches t2.*", false),
            ("attribute:ecs.instance-type =~ 2xlarge", false), // whole-value match
            ("attribute:ecs.instance-type !~ t2.*", true),
            (
                "attribute:ecs.instance-type not_matches 'g[0-9]\\.2xlarge'",
                false,
            ),
            ("attribute:nope == x", false),
            ("attribute:nope != x", true),
            ("attribute:nope !~ x", true),
            ("attribute:nope not_in [x]", true),
            ("attribute:nope > 1", false),
            ("attribute:flag == x", false),
            // ec2InstanceId
            ("ec2InstanceId == i-abcd1234", true),
            ("ec2InstanceId != i-abcd1234", false),
            ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true),
            ("ec2InstanceId not_in ['i-abcd1234']", false),
            ("ec2InstanceId =~ i-abcd.*", true),
            ("ec2InstanceId !~ i-abcd.*", false),
            // registeredAt, four formats
            ("registeredAt < 2018-06-19", true),
            ("registeredAt > 2018-06-18", true),
            ("registeredAt == 2018-06-18T22:28:28Z", true),
            ("registeredAt == 2018-06-18T22:28:28", true),
            ("registeredAt == 2018-06-18T22:28:28+00:00", true),
            ("registeredAt == 2018-06-19T00:28:28+02:00", true),
            ("registeredAt != 2018-06-18T22:28:28Z", false),
            ("registeredAt >= 2018-06-18T22:28:29Z", false),
            ("registeredAt <= 2018-06-18T22:28:28Z", true),
            ("registeredAt < 2018-02-13", false),
            // runningTasksCount
            ("runningTasksCount == 3", true),
            ("runningTasksCount != 3", false),
            ("runningTasksCount > 2", true),
            ("runningTasksCount >= 4", false),
            ("runningTasksCount < 4", true),
            ("runningTasksCount <= 2", false),
            // agentVersion, numeric not lexicographic
            ("agentVersion < 1.14.10", true),
            ("agentVersion > 1.9", true),
            ("agentVersion == 1.14.5", true),
            ("agentVersion >= 1.14.5.0", true),
            ("agentVersion <= 1.14.4", false),
            ("agentVersion != 1.14.5", false),
            // agentConnected
            ("agentConnected == true", true),
            ("agentConnected != TRUE", false),
            ("agentConnected in [false]", false),
            ("agentConnected not_in [false]", true),
            ("agentConnected =~ t.*", true),
            ("agentConnected !~ t.*", false),
            // task:group
            ("task:group == service:production", true),
            ("task:group == database", false),
            ("task:group != database", true),
            ("not(task:group == database)", true),
            ("task:group in [database, family:web]", true),
            ("task:group not_in [database]", true),
            ("task:group =~ service:.*", true),
            ("task:group !~ service:.*", false),
            // boolean structure and precedence
            (
                "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
                true,
            ),
            ("runningTasksCount == 0 or runningTasksCount == 3", true),
            ("runningTasksCount == 0 || runningTasksCount == 1", false),
            ("runningTasksCount == 3 && ec2InstanceId == x", false),
            (
                "runningTasksCount == 0 or runningTasksCount == 3 and ec2InstanceId == x",
                false,
            ),
            (
                "(runningTasksCount == 3 or runningTasksCount == 0) and ec2InstanceId == i-abcd1234",
                true,
            ),
            ("!(runningTasksCount == 3)", false),
            ("! runningTasksCount == 3", false),
            ("not not runningTasksCount == 3", true),
            (
                "NOT(runningTasksCount == 1) AND attribute:stack == prod",
                true,
            ),
            ("Attribute:stack == prod", true),
        ];
        for (src, want) in table {
            let e = Expression::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(e.matches(&f), *want, "{src}");
        }
    }

    #[test]
    fn parse_error_positions() {
        let table: &[(&str, usize, &str)] = &[
            ("", 0, "empty"),
            ("   ", 3, "empty"),
            ("foo == bar", 0, "unknown subject"),
            ("attribute: == x", 0, "attribute name"),
            ("attribute:a", 11, "operator"),
            ("attribute:a = b", 12, "unexpected character"),
            ("attribute:a == ", 15, "a value"),
            ("attribute:a == 'x", 15, "unterminated"),
            ("attribute:a == x y", 17, "'and', 'or'"),
            ("(attribute:a == x", 17, "')'"),
            ("attribute:a == x)", 16, "'and', 'or'"),
            ("attribute:a in x", 15, "'['"),
            ("attribute:a in [x", 17, "',' or ']'"),
            ("attribute:a in []", 16, "a value"),
            ("attribute:a == [x]", 15, "lists are only allowed"),
            ("runningTasksCount =~ 1", 18, "cannot be used"),
            ("agentVersion in [1]", 13, "cannot be used"),
            ("ec2InstanceId > i-1", 14, "cannot be used"),
            ("registeredAt exists", 13, "cannot be used"),
            ("task:group < a", 11, "cannot be used"),
            ("agentConnected == yes", 18, "boolean"),
            ("runningTasksCount > x", 20, "integer"),
            ("runningTasksCount > -1", 20, "integer"),
            ("agentVersion < 1.x", 15, "version"),
            ("registeredAt < 2018-13-01", 15, "date"),
            ("registeredAt < 2018-02-30", 15, "date"),
            ("registeredAt < 2018-02-03T25:00:00", 15, "date"),
            ("attribute:a =~ '('", 15, "regular expression"),
            ("attribute:a == x and", 20, "predicate"),
            ("attribute:a == x or or", 20, "subject"),
            ("&& attribute:a == x", 0, "subject"),
            ("attribute:a == x & y", 17, "unexpected character"),
            ("attribute:a ! x", 12, "operator"),
        ];
        for (src, pos, needle) in table {
            let err = Expression::parse(src)
                .err()
                .unwrap_or_else(|| panic!("{src} parsed"));
            assert_eq!(err.position(), *pos, "{src}: {err}");
            assert!(err.message().contains(needle), "{src}: {err}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{}runningTasksCount == 1{}",
            "(".repeat(100),
            ")".repeat(100)
        );
        assert!(matches!(
            Expression::parse(&deep),
            Err(CqlError::TooDeep { .. })
        ));
        let nots = format!("{}runningTasksCount == 1", "not ".repeat(100));
        assert!(matches!(
            Expression::parse(&nots),
            Err(CqlError::TooDeep { .. })
        ));
        let ok = format!("{}runningTasksCount == 1{}", "(".repeat(10), ")".repeat(10));
        assert!(Expression::parse(&ok).is_ok());
    }

    #[test]
    fn static_and_dynamic() {
        assert!(Expression::parse("attribute:a == b").is_ok_and(|e| e.is_static()));
        assert!(
            Expression::parse("attribute:a == b and runningTasksCount < 3")
                .is_ok_and(|e| !e.is_static())
        );
        assert!(Expression::parse("not(task:group == x)").is_ok_and(|e| !e.is_static()));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1));
        assert_eq!(
            parse_timestamp("2018-06-18T22:28:28+00:00"),
            Some(1_529_360_908)
        );
        assert_eq!(
            parse_timestamp("2018-06-18T22:28:28-01:30"),
            Some(1_529_360_908 + 5400)
        );
        assert_eq!(parse_timestamp("2020-02-29"), Some(1_582_934_400));
        for bad in [
            "2019-02-29",
            "2018-6-18",
            "2018-06-18T",
            "2018-06-18T22:28",
            "x",
            "2018-06-18T22:28:28+0000",
            "２０１８-06-18",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.14.5"), Some(vec![1, 14, 5]));
        assert_eq!(parse_version("v1.2-rc1"), Some(vec![1, 2]));
        assert_eq!(parse_version("1..2"), None);
        assert_eq!(compare_versions(&[1, 2], &[1, 2, 0]), Ordering::Equal);
        assert_eq!(compare_versions(&[1, 10], &[1, 9]), Ordering::Greater);
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,80}") {
            let _ = Expression::parse(&s);
        }

        #[test]
        fn parser_never_panics_on_cql_like_text(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "attribute:a", "==", "!=", "in", "[", "]", ",", "(", ")", "'", "not", "!", "and", "or",
                "&&", "||", "exists", "=~", "x", "1", "runningTasksCount", "task:group", "<", ">=", "~",
            ]), 0..20)
        ) {
            let s = parts.join(" ");
            if let Err(e) = Expression::parse(&s) {
                proptest::prop_assert!(e.position() <= s.len());
            }
        }
    }
}
