//! The `berth` binary, driven as users drive it: files, standard input, formats, exit codes.

/// `berth validate` (task definitions, services, RunTask inputs) and `berth normalize`.
mod cli {
    use std::io::Write;
    use std::process::{Command, Output, Stdio};

    const VALID: &str = r#"{
  "family": "web",
  "requiresCompatibilities": ["FARGATE"],
  "networkMode": "awsvpc",
  "cpu": "0.25 vCPU",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
  "containerDefinitions": [{
    "name": "app", "image": "nginx:1.27", "essential": true,
    "portMappings": [{"containerPort": 80}],
    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "web"}}
  }]
}"#;

    const BAD_FARGATE: &str = r#"{
  "family": "web",
  "requiresCompatibilities": ["FARGATE"],
  "networkMode": "bridge",
  "cpu": "256",
  "memory": "4096",
  "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]
}"#;

    fn berth(args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_RUNTIME", "sim")
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth runs");
        if let Some(input) = stdin {
            // A process that rejects its arguments exits without reading; that is not our error.
            if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn stdout(o: &Output) -> String {
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    #[test]
    fn valid_file_exits_0_and_reports_compatibilities() {
        let dir = tempfile::tempdir().unwrap();
        let out = berth(&["validate", &file(&dir, "ok.json", VALID)], None);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(
            stdout(&out).contains("valid; compatibilities: EC2, FARGATE"),
            "{}",
            stdout(&out)
        );
    }

    #[test]
    fn errors_exit_1_with_the_source_line_underlined() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "bad.json", BAD_FARGATE);
        let out = berth(&["validate", &path], None);
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(
            text.contains(
                "error[fargate-network-mode]: Fargate only supports network mode ‘awsvpc’."
            ),
            "{text}"
        );
        assert!(text.contains(&format!("{path}:4:18")), "{text}");
        assert!(text.contains(r#"4 │   "networkMode": "bridge","#), "{text}");
        assert!(text.contains("^^^^^^^^"), "{text}");
        assert!(
            text.contains("With cpu 256, Fargate memory must be one of 512, 1024, 2048 MiB"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_and_unreadable_files_exit_2() {
        let out = berth(
            &["validate", "-"],
            Some("{\"family\": \"x\",\n  \"cpu\": }"),
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stdout(&out).contains("line 2, column 10"),
            "{}",
            stdout(&out)
        );
        let out = berth(&["validate", "/definitely/not/here.json"], None);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot read /definitely/not/here.json")
        );
        // Exit 2 wins over 1 when files are mixed.
        let dir = tempfile::tempdir().unwrap();
        let out = berth(
            &["validate", &file(&dir, "bad.json", BAD_FARGATE), "/nope"],
            None,
        );
        assert_eq!(out.status.code(), Some(2));
    }

    #[test]
    fn json_output_is_machine_readable() {
        let out = berth(&["validate", "--format", "json", "-"], Some(BAD_FARGATE));
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["files"][0]["valid"], false);
        let d = v["files"][0]["diagnostics"].as_array().unwrap();
        let net = d
            .iter()
            .find(|d| d["code"] == "fargate-network-mode")
            .unwrap();
        assert_eq!(net["path"], "/networkMode");
        assert_eq!(net["severity"], "error");
        assert_eq!(net["span"]["line"], 4);
        assert_eq!(
            v["errors"].as_u64(),
            Some(d.iter().filter(|d| d["severity"] == "error").count() as u64)
        );
    }

    #[test]
    fn sarif_output_is_sarif_2_1_0() {
        let out = berth(&["validate", "--format", "sarif", "-"], Some(BAD_FARGATE));
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        for r in run["results"].as_array().unwrap() {
            let idx = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[idx]["id"], r["ruleId"]);
            assert!(matches!(r["level"].as_str(), Some("error" | "warning")));
            let region = &r["locations"][0]["physicalLocation"]["region"];
            assert!(region["startLine"].as_u64().unwrap() >= 1);
        }
        assert!(
            run["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["ruleId"] == "fargate-cpu-memory")
        );
    }

    #[test]
    fn launch_type_flag_adds_fargate_rules() {
        let doc = r#"{"family": "x", "containerDefinitions": [{"name": "a", "image": "busybox:1.36", "memory": 64}]}"#;
        assert_eq!(berth(&["validate", "-"], Some(doc)).status.code(), Some(0));
        let out = berth(&["validate", "--launch-type", "FARGATE", "-"], Some(doc));
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("fargate-network-mode"));
        let out = berth(&["validate", "--launch-type", "nope", "-"], Some(doc));
        assert_eq!(
            out.status.code(),
            Some(2),
            "clap rejects unknown launch types"
        );
    }

    #[test]
    fn normalize_prints_the_registration_request() {
        let describe = r#"{"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7",
            "family": "web", "revision": 7, "status": "ACTIVE", "cpu": "1 vCPU", "memory": "2 GB",
            "compatibilities": ["EC2"], "pidMode": null,
            "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]},
            "tags": [{"key": "team", "value": "edge"}]}"#;
        let out = berth(&["normalize", "-"], Some(describe));
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}],
                "cpu": "1024", "memory": "2048", "tags": [{"key": "team", "value": "edge"}]})
        );
        let out = berth(
            &["normalize", "-"],
            Some(r#"{"family": "x", "containerDefinitions": [{"memory": "512"}]}"#),
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("'memory' must be an integer"));
        assert_eq!(
            berth(&["normalize", "-"], Some("nope")).status.code(),
            Some(2)
        );
    }

    #[test]
    fn every_corpus_file_gets_an_answer() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/corpus/taskdefs"
        );
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path().to_string_lossy().into_owned())
            .filter(|p| p.ends_with(".json"))
            .collect();
        files.sort();
        let mut args = vec!["validate", "--format", "json"];
        args.extend(files.iter().map(String::as_str));
        let out = berth(&args, None);
        assert_eq!(
            out.status.code(),
            Some(1),
            "the corpus holds flagged invalid files"
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let results = v["files"].as_array().unwrap();
        assert_eq!(results.len(), 142);
        let invalid = results.iter().filter(|f| f["valid"] == false).count();
        assert_eq!(invalid, 18, "the 18 files SOURCES.tsv flags");
    }

    #[test]
    fn diff_shows_only_real_changes() {
        let dir = tempfile::tempdir().unwrap();
        let written = file(
            &dir,
            "a.json",
            r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.26",
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}]}"#,
        );
        let described = file(
            &dir,
            "b.json",
            r#"{"taskDefinition": {"family": "web", "revision": 3, "status": "ACTIVE",
            "networkMode": "bridge", "containerDefinitions": [{"name": "app", "image": "nginx:1.26", "cpu": 0, "essential": true,
            "mountPoints": [], "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}"#,
        );
        let changed = file(
            &dir,
            "c.json",
            r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}"#,
        );
        let same = berth(&["diff", &written, &described], None);
        assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
        assert_eq!(stdout(&same), "");
        let out = berth(&["diff", "--format", "changes", &written, &changed], None);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stdout(&out),
            "~ /containerDefinitions/app/image: \"nginx:1.26\" -> \"nginx:1.27\"\n"
        );
        let out = berth(&["diff", &written, &changed], None);
        assert!(
            stdout(&out)
                .contains("-      \"image\": \"nginx:1.26\",\n+      \"image\": \"nginx:1.27\","),
            "{}",
            stdout(&out)
        );
        let out = berth(&["diff", "--format", "json", &written, &changed], None);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["same"], false);
        assert_eq!(v["changes"][0]["kind"], "modified");
        assert_eq!(
            berth(&["diff", &written, "/nope.json"], None).status.code(),
            Some(2)
        );
        assert_eq!(
            berth(&["diff", "-", "-"], Some("{}")).status.code(),
            Some(2)
        );
    }

    /// An ecspresso-style service definition (no serviceName) for the `VALID` task definition,
    /// with a load balancer on a port the container does not map.
    const SERVICE: &str = r#"{
  "launchType": "FARGATE",
  "desiredCount": 2,
  "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
  "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/1",
                     "containerName": "app", "containerPort": 8080}]
}"#;

    #[test]
    fn services_are_told_from_their_members_and_checked_against_the_task_definition() {
        let dir = tempfile::tempdir().unwrap();
        let td = file(&dir, "td.json", VALID);
        let svc = file(&dir, "svc.json", SERVICE);
        // Alone, the service is valid: nothing says which ports the container maps.
        let out = berth(&["validate", &svc], None);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(stdout(&out).contains("valid service"), "{}", stdout(&out));
        // Against its task definition, ECS's message with the port underlined.
        let out = berth(&["validate", "--task-definition", &td, &svc], None);
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(
            text.contains("error[load-balancer-container-port]: The container app did not have a container port 8080 defined."),
            "{text}"
        );
        assert!(text.contains(&format!("{svc}:6:63")), "{text}");
        // A task definition and a service in one run; JSON says which is which.
        let out = berth(
            &[
                "validate",
                "--format",
                "json",
                "--task-definition",
                &td,
                &td,
                &svc,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["files"][0]["kind"], "task-definition");
        assert_eq!(v["files"][0]["form"], "register-request");
        assert_eq!(v["files"][0]["valid"], true);
        assert_eq!(v["files"][1]["kind"], "service");
        assert_eq!(v["files"][1]["form"], "service-definition");
        assert_eq!(v["files"][1]["valid"], false);
        assert_eq!(
            v["files"][1]["diagnostics"][0]["path"],
            "/loadBalancers/0/containerPort"
        );
    }

    #[test]
    fn run_task_inputs_and_the_kind_flag() {
        let dir = tempfile::tempdir().unwrap();
        let td = file(&dir, "td.json", VALID);
        let run = r#"{"taskDefinition": "web:1", "count": 12, "launchType": "FARGATE",
            "overrides": {"containerOverrides": [{"name": "migrate", "command": ["./migrate"]}]}}"#;
        let out = berth(
            &[
                "validate",
                "--format",
                "sarif",
                "--task-definition",
                &td,
                "-",
            ],
            Some(run),
        );
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let run0 = &v["runs"][0];
        let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
        let ids: Vec<&str> = run0["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let idx = r["ruleIndex"].as_u64().unwrap() as usize;
                assert_eq!(rules[idx]["id"], r["ruleId"]);
                r["ruleId"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            ids,
            [
                "network-configuration-required",
                "run-task-count",
                "container-override-unknown"
            ]
        );
        // `--kind` overrides detection: as a task definition the same text is something else.
        let out = berth(
            &["validate", "--format", "json", "--kind", "taskdef", "-"],
            Some(run),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["files"][0]["kind"], "task-definition");
        let out = berth(&["validate", "--kind", "service", "-"], Some(SERVICE));
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        assert_eq!(
            berth(&["validate", "--kind", "nope", "-"], Some(SERVICE))
                .status
                .code(),
            Some(2)
        );
        // An unreadable or non-task-definition --task-definition is exit 2.
        let out = berth(
            &["validate", "--task-definition", "/nope.json", "-"],
            Some(SERVICE),
        );
        assert_eq!(out.status.code(), Some(2));
        let out = berth(&["validate", "--task-definition", "-", "-"], Some(SERVICE));
        assert_eq!(out.status.code(), Some(2));
        let bad = file(&dir, "bad.json", "[1]");
        let out = berth(&["validate", "--task-definition", &bad, "-"], Some(SERVICE));
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a task definition"));
    }

    #[test]
    fn every_service_fixture_gets_an_answer() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/services");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path().to_string_lossy().into_owned())
            .filter(|p| p.ends_with(".json"))
            .collect();
        files.sort();
        let mut args = vec!["validate", "--format", "json"];
        args.extend(files.iter().map(String::as_str));
        let out = berth(&args, None);
        assert_eq!(
            out.status.code(),
            Some(1),
            "SOURCES.tsv flags three invalid files"
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let results = v["files"].as_array().unwrap();
        assert_eq!(results.len(), 13);
        let kinds: Vec<&str> = results
            .iter()
            .map(|f| f["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == "service").count(), 10);
        assert_eq!(kinds.iter().filter(|k| **k == "run-task").count(), 2);
        let invalid: Vec<&str> = results
            .iter()
            .filter(|f| f["valid"] == false)
            .map(|f| f["file"].as_str().unwrap().rsplit('/').next().unwrap())
            .collect();
        assert_eq!(
            invalid,
            [
                "003-ijin-ecs-parallel-ecs-service-def.json",
                "006-neilkuan-cdk-agent-broker-ecs-service-def.json",
                "011-kayac-ecspresso-tests-sv.json"
            ]
        );
    }
}

/// `berth serve`: the ECS API over HTTP (in process with `oneshot`, over a socket, and the real
/// binary killed with SIGKILL and restarted on the same data directory).
mod api;

/// Application Auto Scaling and CloudWatch Logs on the same endpoint, and the `/_berth/metric`
/// test control that drives target tracking.
mod other_apis;

/// CloudWatch metrics over both of its protocols: awsJson1_0 (`X-Amz-Target`, also the
/// dashboard's `/_berth/api`) and Smithy RPC v2 CBOR (`/service/…/operation/…`), with
/// awsQuery-compatible errors and gzip-compressed bodies.
mod cloudwatch;

/// The dashboard's routes: its files (index.html, hashed assets, precompressed siblings, 304s,
/// the "not built" page), the same-origin API route and `/_berth/info`.
mod dashboard;

/// The change stream `GET /_berth/events` over a real socket: live changes, coalescing,
/// replay after a reconnect, resync.
mod events;

/// `x-amzn-RequestId` on every answer of the AWS routes (ECS, Application Auto Scaling,
/// CloudWatch Logs; successes and errors), `x-amzn-ErrorType` on every error, neither on the
/// dashboard's files or the event stream.
mod request_id;

/// Who may reach the server and what is recorded: the `Host` allow-list, cross-origin refusals,
/// security headers, dashboard login, CSRF and roles, SigV4 verification, read-only mode, the
/// audit trail (on disk before the answer, secrets redacted, unwritable → writes refused) and
/// the refusal to listen beyond loopback without authentication.
mod security;
