//! The command line: `berth validate`, `berth normalize` and `berth serve`.
//!
//! `validate` checks task definitions, service inputs (`CreateService` / `UpdateService`
//! requests, ecspresso service definitions, `describe-services` output) and `RunTask` inputs,
//! telling them apart by their members unless `--kind` says; `--task-definition` names the task
//! definition a service or `RunTask` input runs, to check it against. Output formats of
//! `validate`: `human` (rustc-style, with the source line and the span
//! underlined; rendered by codespan-reporting, which does exactly this job and handles colour and
//! wide characters), `json` (for tools) and `sarif` (SARIF 2.1.0, for code-scanning uploads).
//! Exit status: 0 no errors, 1 errors, 2 a file cannot be read or is not JSON.

use berth_core::model::{Compatibility, read_task_definition};
use berth_core::validate::{
    self, Diagnostic, InputKind, Options, Report, RunTaskOptions, ServiceOptions, Severity,
};
use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use serde_json::json;
use std::io::{Read, Write};
use std::process::ExitCode;

/// Berth: an Amazon ECS toolkit.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate task definitions, services and RunTask inputs the way ECS does (exit 0: no
    /// errors, 1: errors, 2: unreadable).
    Validate {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// What the files are; without it, each file's kind is told from its members.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// The task definition (any form) the services and RunTask inputs run: load balancer
        /// containers and ports, container overrides, the network configuration and the launch
        /// type are checked against it.
        #[arg(long = "task-definition", value_name = "FILE")]
        task_definition: Option<String>,
        /// Also check against this launch type (repeatable), as if it were in requiresCompatibilities.
        #[arg(long = "launch-type", value_enum)]
        launch_type: Vec<LaunchType>,
        /// Hide warnings (errors are always shown).
        #[arg(long)]
        quiet: bool,
        /// Files to check; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the canonical RegisterTaskDefinition request for a task definition (any form).
    Normalize {
        /// The file; `-` reads standard input.
        file: String,
    },
    /// Show what really changed between two task definitions (exit 0: same, 1: different, 2: unreadable).
    Diff {
        /// Output format: a unified diff of the normalised documents, a change list, or JSON.
        #[arg(long, value_enum, default_value_t = DiffFormat::Unified)]
        format: DiffFormat,
        /// The earlier revision (any form; `-` reads standard input).
        before: String,
        /// The later revision.
        after: String,
    },
    /// Run the embedded local ECS cluster and answer the ECS API on 127.0.0.1.
    Serve(Box<ServeArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Unified,
    Changes,
    Json,
}

/// Options of `berth serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 7575)]
    port: u16,
    /// Where state is kept (a redb file inside it); without it, state lives in memory only.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Container instances of the default cluster (first start only).
    #[arg(long, default_value_t = 3)]
    instances: u32,
    /// CPU units per instance.
    #[arg(long, default_value_t = 2048)]
    instance_cpu: u32,
    /// Memory (MiB) per instance.
    #[arg(long, default_value_t = 4096)]
    instance_memory: u32,
    /// Availability zones, comma separated (instances are spread round-robin).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "us-east-1a,us-east-1b,us-east-1c"
    )]
    azs: Vec<String>,
    /// `ecs.instance-type` of the instances.
    #[arg(long, default_value = "t3.medium")]
    instance_type: String,
    /// A custom attribute on every instance, `name` or `name=value` (repeatable).
    #[arg(long = "attribute")]
    attributes: Vec<String>,
    /// Region in ARNs (default us-east-1); with `--upstream`, the region called (default: the
    /// AWS profile's or `AWS_REGION`).
    #[arg(long)]
    region: Option<String>,
    /// Account id in ARNs.
    #[arg(long, default_value = berth_core::protocol::DEFAULT_ACCOUNT)]
    account: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `system` (wall clock, background reconciler) or `manual` (time moves only through
    /// POST /_berth/advance).
    #[arg(long, default_value = "system")]
    clock: String,
    /// How long STOPPED tasks, service events and finished deployments are kept (ECS keeps
    /// them about an hour), e.g. `7d`, `24h`, `90m`, `1h30m`; purged by the reconciler.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    retention: std::time::Duration,
    /// Serve the dashboard from this folder (the output of `cargo xtask dist`) instead of the
    /// one built into the binary.
    #[arg(long)]
    ui_dir: Option<std::path::PathBuf>,
    /// Address to listen on. Anything but loopback needs `--sigv4 verify` and `--auth token`.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// A host name (or `.domain` for it and its subdomains) the server answers besides
    /// localhost and loopback addresses (repeatable): every other `Host` gets 403, which stops
    /// DNS-rebinding pages.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// `verify`: every call of the AWS API must be SigV4-signed with a key of
    /// `--credentials-file`; `off`: signatures are accepted unchecked (loopback only).
    #[arg(long, value_enum, default_value_t = berth_server::serve::SigV4Mode::Off)]
    sigv4: berth_server::serve::SigV4Mode,
    /// The keys that may call (AWS shared-credentials format: a profile per key with
    /// `aws_access_key_id`, `aws_secret_access_key` and `role = operator|viewer`); created with
    /// a fresh operator key on first use. Default: `<data-dir>/credentials`, else
    /// `~/.config/berth/credentials`.
    #[arg(long)]
    credentials_file: Option<std::path::PathBuf>,
    /// `token`: the dashboard needs the one-time login URL printed at start (or a key of the
    /// credentials file); `none`: anyone who reaches it is the operator (loopback only).
    #[arg(long, value_enum, default_value_t = berth_server::session::AuthMode::None)]
    auth: berth_server::session::AuthMode,
    /// Forward every call to real AWS (`aws`: credentials from the standard chain) instead of
    /// running the embedded cluster.
    #[arg(long, value_parser = ["aws"], conflicts_with = "upstream_url")]
    upstream: Option<String>,
    /// Forward every call to this ECS-compatible endpoint (another Berth, moto, LocalStack),
    /// signed with credentials from the standard chain.
    #[arg(long)]
    upstream_url: Option<String>,
    /// The AWS profile for upstream credentials (default: the chain's own choice).
    #[arg(long)]
    profile: Option<String>,
    /// Never ask the EC2 instance metadata service for upstream credentials.
    #[arg(long)]
    no_imds: bool,
    /// Only operations that read pass; the rest get AccessDeniedException (both modes).
    #[arg(long)]
    read_only: bool,
    /// Allow only operations matching these patterns, e.g. `ecs:Describe*`, `logs:*`
    /// (repeatable; default: every operation Berth knows).
    #[arg(long)]
    allow: Vec<String>,
    /// Refuse operations matching these patterns, e.g. `ecs:Delete*` (repeatable; wins over
    /// --allow).
    #[arg(long)]
    deny: Vec<String>,
    /// How long audit records are kept, e.g. `90d` (CloudTrail's event history keeps 90 days).
    #[arg(long, default_value = "90d", value_parser = parse_duration)]
    audit_retention: std::time::Duration,
    /// Upstream mode: how often the dashboard's change stream polls the upstream.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    poll_interval: std::time::Duration,
    /// Where the embedded cluster's tasks run: `docker` (real containers on the Docker engine
    /// of `DOCKER_HOST` or the local socket), `sim` (simulated, no containers) or `auto`
    /// (docker when an engine answers, else sim; the server says which it chose). The
    /// environment variable `BERTH_RUNTIME` sets the default (test harnesses pin `sim`).
    #[arg(long, value_enum, default_value = "auto", env = "BERTH_RUNTIME")]
    runtime: berth_server::runtime::RuntimeChoice,
    /// Let the docker runtime run tasks that reach beyond their containers: `privileged`,
    /// host network/PID/IPC modes, host-path bind mounts, added capabilities, devices,
    /// unconfined security options. Refused by default: the API is as powerful as the Docker
    /// socket.
    #[arg(long)]
    allow_host_access: bool,
    /// Seconds a service task without a health check or load balancer must run before it
    /// counts as healthy (ECS: 40). Lower it to make local deployments complete faster.
    #[arg(long, default_value_t = 40, value_name = "SECONDS")]
    task_healthy_after: u32,
    /// Docker runtime: how long a stopped task's containers stay on the engine, exited, for
    /// `docker logs` and `docker inspect` (the ECS agent's ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION,
    /// 3h), e.g. `10m`; `0` removes them at once.
    #[arg(long, default_value = "3h", value_parser = parse_duration)]
    task_cleanup_wait: std::time::Duration,
}

/// Parses `7d`, `24h`, `90m`, `45s` and sums like `1h30m` (a bare number is seconds).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: use a number with d, h, m, s or ms, e.g. 7d, 1h30m or 250ms"
        )
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(n));
    }
    let mut total_ms: u64 = 0;
    let mut digits = String::new();
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit_ms = match ch {
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'm' => 60_000,
            's' => 1_000,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total_ms = n
            .checked_mul(unit_ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(std::time::Duration::from_millis(total_ms))
}

impl ServeArgs {
    fn config(&self) -> Result<berth_cluster::Config, String> {
        let clock = match self.clock.as_str() {
            "system" => berth_cluster::ClockMode::System,
            "manual" => berth_cluster::ClockMode::Manual,
            other => return Err(format!("--clock must be system or manual, not {other}")),
        };
        Ok(berth_cluster::Config {
            data_dir: self.data_dir.clone(),
            region: self
                .region
                .clone()
                .unwrap_or_else(|| berth_core::protocol::DEFAULT_REGION.to_string()),
            account: self.account.clone(),
            instances: vec![berth_cluster::InstanceSpec {
                count: self.instances,
                cpu: self.instance_cpu,
                memory: self.instance_memory,
                availability_zones: self.azs.clone(),
                instance_type: self.instance_type.clone(),
                attributes: self
                    .attributes
                    .iter()
                    .map(|a| match a.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (a.clone(), None),
                    })
                    .collect(),
            }],
            seed: self.seed,
            clock,
            retention: self.retention,
            allow_host_access: self.allow_host_access,
            task_healthy_after: std::time::Duration::from_secs(u64::from(self.task_healthy_after)),
            ..berth_cluster::Config::default()
        })
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a log file or a CI log gets plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .try_init();
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let upstream = match (&args.upstream, &args.upstream_url) {
        (Some(_), _) => Some(berth_server::serve::UpstreamTarget::Aws),
        (None, Some(url)) => Some(berth_server::serve::UpstreamTarget::Url(url.clone())),
        (None, None) => None,
    };
    let options = berth_server::serve::ServeOptions {
        bind: std::net::SocketAddr::new(args.bind, args.port),
        ui_dir: args.ui_dir.clone(),
        allowed_hosts: args.allowed_hosts.clone(),
        sigv4: args.sigv4,
        credentials_file: args.credentials_file.clone(),
        auth: args.auth,
        upstream,
        profile: args.profile.clone(),
        region: args.region.clone(),
        no_imds: args.no_imds,
        read_only: args.read_only,
        allow: args.allow.clone(),
        deny: args.deny.clone(),
        audit_retention: args.audit_retention,
        poll_interval: args.poll_interval,
        runtime: args.runtime,
        task_cleanup_wait: args.task_cleanup_wait,
        cluster: config,
    };
    match rt.block_on(berth_server::serve::serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--kind` of `berth validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A task definition (RegisterTaskDefinition input, TaskDefinition, describe output).
    #[value(alias = "task-definition")]
    Taskdef,
    /// A CreateService / UpdateService input, service definition or describe-services output.
    Service,
    /// A RunTask input.
    RunTask,
}

impl From<Kind> for InputKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Taskdef => InputKind::TaskDefinition,
            Kind::Service => InputKind::Service,
            Kind::RunTask => InputKind::RunTask,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum LaunchType {
    #[value(alias = "ec2")]
    Ec2,
    #[value(alias = "fargate")]
    Fargate,
    #[value(alias = "external")]
    External,
    #[value(alias = "managed_instances", alias = "managed-instances")]
    ManagedInstances,
}

impl From<LaunchType> for Compatibility {
    fn from(lt: LaunchType) -> Self {
        match lt {
            LaunchType::Ec2 => Compatibility::Ec2,
            LaunchType::Fargate => Compatibility::Fargate,
            LaunchType::External => Compatibility::External,
            LaunchType::ManagedInstances => Compatibility::ManagedInstances,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate {
            format,
            kind,
            task_definition,
            launch_type,
            quiet,
            files,
        } => {
            let options = Options {
                launch_types: launch_type.into_iter().map(Into::into).collect(),
            };
            let td = match task_definition {
                Some(file) if file == "-" && files.iter().any(|f| f == "-") => {
                    eprintln!(
                        "error: only one of the files and --task-definition can be standard input"
                    );
                    return ExitCode::from(2);
                }
                Some(file) => match load_checked_task_definition(&file, &options) {
                    Ok(td) => Some(td),
                    Err(status) => return ExitCode::from(status),
                },
                None => None,
            };
            let request = ValidateRequest {
                format,
                kind: kind.map(Into::into),
                task_definition: td.as_ref(),
                options: &options,
                quiet,
            };
            validate_files(&files, &request)
        }
        Command::Normalize { file } => normalize(&file),
        Command::Diff {
            format,
            before,
            after,
        } => diff(&before, &after, format),
        Command::Serve(args) => serve(&args),
    }
}

fn read_input(name: &str) -> Result<String, String> {
    if name == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(s)
    } else {
        std::fs::read(name)
            .map_err(|e| format!("cannot read {name}: {e}"))
            .and_then(|b| {
                String::from_utf8(b)
                    .map_err(|e| format!("cannot read {name}: not UTF-8 text ({e})"))
            })
    }
}

fn display_name(name: &str) -> &str {
    if name == "-" { "<stdin>" } else { name }
}

struct Checked {
    name: String,
    text: String,
    report: Report,
}

/// What `berth validate` was asked to do, beyond the files.
struct ValidateRequest<'a> {
    format: Format,
    kind: Option<InputKind>,
    task_definition: Option<&'a berth_core::model::TaskDefinition>,
    options: &'a Options,
    quiet: bool,
}

/// Reads `--task-definition` and returns it as ECS would store it; on failure prints why and
/// returns the exit status (2: unreadable or not a task definition at all).
fn load_checked_task_definition(
    file: &str,
    options: &Options,
) -> Result<berth_core::model::TaskDefinition, u8> {
    let text = read_input(file).map_err(|message| {
        eprintln!("error: {message}");
        2u8
    })?;
    let report = validate::validate_task_definition(&text, options);
    let Some(td) = report.task_definition() else {
        let why = report
            .with_severity(Severity::Error)
            .next()
            .map_or_else(String::new, |d| format!(": {}", d.message));
        eprintln!(
            "error: --task-definition {}: not a task definition{why}",
            display_name(file)
        );
        return Err(2);
    };
    if report.has_errors() {
        eprintln!(
            "note: --task-definition {}: ECS would reject this task definition (run `berth validate` on it); its launch types are not checked",
            display_name(file)
        );
    }
    Ok(td)
}

/// Validates one text as the kind asked for, or the kind its members tell.
fn validate_text(text: &str, request: &ValidateRequest<'_>) -> Report {
    let kind = request
        .kind
        .or_else(|| validate::detect_kind(text))
        .unwrap_or(InputKind::TaskDefinition);
    match kind {
        InputKind::TaskDefinition => validate::validate_task_definition(text, request.options),
        InputKind::Service => validate::validate_service(
            text,
            &ServiceOptions {
                task_definition: request.task_definition,
            },
        ),
        InputKind::RunTask => validate::validate_run_task(
            text,
            &RunTaskOptions {
                task_definition: request.task_definition,
            },
        ),
    }
}

fn validate_files(files: &[String], request: &ValidateRequest<'_>) -> ExitCode {
    let (format, quiet) = (request.format, request.quiet);
    let mut checked = Vec::new();
    let mut status = 0u8;
    for name in files {
        match read_input(name) {
            Ok(text) => {
                let mut report = validate_text(&text, request);
                if quiet {
                    report.diagnostics.retain(|d| d.severity == Severity::Error);
                }
                status = status.max(if report.syntax_error {
                    2
                } else {
                    u8::from(report.has_errors())
                });
                checked.push(Checked {
                    name: display_name(name).to_string(),
                    text,
                    report,
                });
            }
            Err(message) => {
                eprintln!("error: {message}");
                status = 2;
            }
        }
    }
    let stdout = std::io::stdout();
    let result = match format {
        Format::Human => print_human(&checked),
        Format::Json => {
            let v = json_output(&checked);
            writeln!(
                stdout.lock(),
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )
        }
        Format::Sarif => {
            let v = sarif_output(&checked);
            writeln!(
                stdout.lock(),
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )
        }
    };
    if let Err(e) = result {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write output: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(status)
}

fn print_human(checked: &[Checked]) -> std::io::Result<()> {
    let choice = if std::env::var_os("NO_COLOR").is_some()
        || !std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        termcolor::ColorChoice::Never
    } else {
        termcolor::ColorChoice::Auto
    };
    let mut out = termcolor::StandardStream::stdout(choice);
    let config = term::Config::default();
    let (mut errors, mut warnings) = (0, 0);
    for c in checked {
        let mut files = SimpleFiles::new();
        let id = files.add(c.name.as_str(), c.text.as_str());
        for d in &c.report.diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            term::emit_to_write_style(&mut out, &config, &files, &to_codespan(id, d))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        if !c.report.syntax_error {
            let compat: Vec<&str> = c
                .report
                .compatibilities
                .iter()
                .map(|x| x.as_str())
                .collect();
            let verdict = if c.report.has_errors() {
                "ECS would reject it".to_string()
            } else if c.report.kind == InputKind::TaskDefinition {
                format!("valid; compatibilities: {}", compat.join(", "))
            } else {
                format!("valid {}", c.report.kind)
            };
            writeln!(out, "{}: {verdict}", c.name)?;
        }
    }
    writeln!(
        out,
        "{} file{} checked: {errors} error{}, {warnings} warning{}",
        checked.len(),
        if checked.len() == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    )
}

fn to_codespan(id: usize, d: &Diagnostic) -> cs::Diagnostic<usize> {
    let base = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    let mut diag = base.with_code(d.code).with_message(&d.message);
    if let Some(span) = d.span {
        let label = cs::Label::primary(id, span.start..span.end);
        let label = if d.path.is_empty() {
            label
        } else {
            label.with_message(format!("at {}", d.path))
        };
        diag = diag.with_labels(vec![label]);
    }
    if let Some(help) = &d.help {
        diag = diag.with_notes(vec![format!("help: {help}")]);
    }
    diag
}

fn json_output(checked: &[Checked]) -> serde_json::Value {
    let files: Vec<_> = checked
        .iter()
        .map(|c| {
            let form = match c.report.form {
                Some(f) => json!(f),
                None => json!(c.report.request_form),
            };
            json!({
                "file": c.name,
                "kind": c.report.kind,
                "form": form,
                "valid": !c.report.has_errors(),
                "compatibilities": c.report.compatibilities,
                "diagnostics": c.report.diagnostics,
            })
        })
        .collect();
    let count = |s: Severity| {
        checked
            .iter()
            .flat_map(|c| &c.report.diagnostics)
            .filter(|d| d.severity == s)
            .count()
    };
    json!({"files": files, "errors": count(Severity::Error), "warnings": count(Severity::Warning)})
}

fn sarif_output(checked: &[Checked]) -> serde_json::Value {
    let rules: Vec<_> = validate::all_rules()
        .map(|(id, text)| json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    let mut results = Vec::new();
    for c in checked {
        for d in &c.report.diagnostics {
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str(" Help: ");
                message.push_str(help);
            }
            let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": c.name}}});
            if let Some(span) = d.span {
                let (end_line, end_column) = line_column(&c.text, span.end);
                location["physicalLocation"]["region"] = json!({
                    "startLine": span.line, "startColumn": span.column,
                    "endLine": end_line, "endColumn": end_column,
                    "byteOffset": span.start, "byteLength": span.end - span.start,
                });
            }
            if !d.path.is_empty() {
                location["logicalLocations"] =
                    json!([{"fullyQualifiedName": d.path, "kind": "member"}]);
            }
            let rule_index = validate::all_rules().position(|(id, _)| *id == d.code);
            results.push(json!({
                "ruleId": d.code,
                "ruleIndex": rule_index,
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": {"text": message},
                "locations": [location],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "berth",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/berth-ecs/berth",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    berth_core::json::line_column(text, offset)
}

/// Reads a task definition for `normalize` and `diff`; on failure prints why and returns the
/// exit status (2: unreadable or not JSON, 1: JSON of the wrong shape).
fn load_task_definition(file: &str) -> Result<berth_core::model::Input, u8> {
    let text = read_input(file).map_err(|message| {
        eprintln!("error: {message}");
        2u8
    })?;
    if let Err(e) = berth_core::json::parse(&text) {
        let (line, column) = line_column(&text, e.offset);
        eprintln!(
            "error: {}: not valid JSON: {} (line {line}, column {column})",
            display_name(file),
            e.message
        );
        return Err(2);
    }
    read_task_definition(&text).map_err(|e| {
        eprintln!("error: {}: {e}", display_name(file));
        let report = validate::validate_task_definition(&text, &Options::default());
        for d in report
            .with_severity(Severity::Error)
            .filter(|d| d.code == "type")
        {
            let at = d
                .span
                .map(|s| format!("{}:{}:{}: ", display_name(file), s.line, s.column))
                .unwrap_or_default();
            eprintln!("  {at}{}", d.message);
        }
        1u8
    })
}

fn normalize(file: &str) -> ExitCode {
    match load_task_definition(file) {
        Ok(input) => {
            let out = serde_json::to_string_pretty(&input.request).unwrap_or_default();
            let _ = writeln!(std::io::stdout().lock(), "{out}");
            ExitCode::SUCCESS
        }
        Err(status) => ExitCode::from(status),
    }
}

fn diff(before: &str, after: &str, format: DiffFormat) -> ExitCode {
    if before == "-" && after == "-" {
        eprintln!("error: only one of the two files can be standard input");
        return ExitCode::from(2);
    }
    let (a, b) = match (load_task_definition(before), load_task_definition(after)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(x), Err(y)) => return ExitCode::from(x.max(y)),
        (Err(x), _) | (_, Err(x)) => return ExitCode::from(x),
    };
    let changes = berth_core::diff::diff(&a.request, &b.request);
    let mut out = std::io::stdout().lock();
    let written = match format {
        DiffFormat::Unified => write!(
            out,
            "{}",
            berth_core::diff::unified(
                display_name(before),
                display_name(after),
                &a.request,
                &b.request
            )
        ),
        DiffFormat::Changes => changes.iter().try_for_each(|c| writeln!(out, "{c}")),
        DiffFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({"same": changes.is_empty(), "changes": changes}))
                .unwrap_or_default()
        ),
    };
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write output: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(u8::from(!changes.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn retention_durations() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("10m5").is_err());
    }
}
