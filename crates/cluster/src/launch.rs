//! What a runtime is asked to run for a task: its [`Launch`], built from the task record, its
//! task definition and the task's overrides, with the environment final (secrets from the
//! local Secrets Manager and SSM Parameter Store, environment files, the variables the ECS
//! agent injects) and the `awslogs` stream named as ECS names it.
//!
//! It does not talk to any runtime, and it does not decide when a task starts (the
//! reconciler does). A secret or environment file that does not resolve is not an error here:
//! it becomes the launch's `refusal`, which the runtime reports as the task's failure to start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_core::model as m;

use crate::api;
use crate::config::Config;
use crate::runtime::{ContainerLaunch, Launch};
use crate::state::{Env, State, TaskRec};

/// The launch of task `t` of `cluster`. Environment files are read from
/// `<data_dir>/s3/<bucket>/<key>` for `arn:aws:s3:::<bucket>/<key>`; metadata tokens are keyed
/// with `config.metadata_key`, and made only with `metadata` (a runtime whose containers reach
/// the task metadata endpoint; the others get empty tokens and save a SHA-256 per container).
pub(crate) fn spec(
    st: &State,
    env: &Env,
    config: &Config,
    cluster: &str,
    t: &TaskRec,
    metadata: bool,
) -> Launch {
    let data_dir = config.data_dir.as_deref();
    let arn = t.task.task_definition_arn.as_deref().unwrap_or_default();
    let Some(rec) = api::resolve_task_definition(st, arn) else {
        return Launch {
            task_id: t.id().to_string(),
            cluster: cluster.to_string(),
            refusal: Some(format!(
                "ResourceInitializationError: task definition {arn} is no longer known"
            )),
            ..Launch::default()
        };
    };
    let td = &rec.td;
    let task_id = t.id().to_string();
    let overrides: Vec<&m::ContainerOverride> = t
        .task
        .overrides
        .as_ref()
        .and_then(|o| o.container_overrides.as_ref())
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let mut refusal = None;
    let containers = rec
        .containers()
        .iter()
        .enumerate()
        .map(|(index, cd)| {
            let name = cd.name.clone().unwrap_or_default();
            let over = overrides
                .iter()
                .find(|o| o.name.as_deref() == Some(name.as_str()));
            // The revision's definition, shared, unless an override changes it.
            let mut def = cd.clone();
            if let Some(o) = over {
                if o.command.is_some() {
                    Arc::make_mut(&mut def).command = o.command.clone();
                }
                if o.cpu.is_some() {
                    Arc::make_mut(&mut def).cpu = o.cpu;
                }
                if o.memory.is_some() {
                    Arc::make_mut(&mut def).memory = o.memory;
                }
                if o.memory_reservation.is_some() {
                    Arc::make_mut(&mut def).memory_reservation = o.memory_reservation;
                }
            }
            let environment = match environment(st, env, data_dir, cd, over.copied()) {
                Ok(e) => e,
                Err(reason) => {
                    refusal.get_or_insert(reason);
                    Vec::new()
                }
            };
            let awslogs = cd.log_configuration.as_ref().and_then(|lc| {
                if lc.log_driver.as_ref().map(|d| d.as_str()) != Some("awslogs") {
                    return None;
                }
                let opts = lc.options.clone().unwrap_or_default();
                let group = opts.get("awslogs-group")?.clone();
                let stream = api::logs::stream_name(
                    opts.get("awslogs-stream-prefix").map(String::as_str),
                    &name,
                    &task_id,
                );
                Some((group, stream))
            });
            ContainerLaunch {
                image: cd.image.clone().unwrap_or_default(),
                essential: cd.essential.unwrap_or(true),
                health_check: cd.health_check.is_some(),
                definition: def,
                environment,
                awslogs,
                metadata_token: if metadata {
                    crate::metadata::token(&config.metadata_key, &task_id, index)
                } else {
                    String::new()
                },
                name,
            }
        })
        .collect();
    Launch {
        task_id: task_id.clone(),
        cluster: cluster.to_string(),
        task_arn: t.task.task_arn.clone().unwrap_or_default(),
        family: td.family.clone().unwrap_or_default(),
        revision: td.revision.unwrap_or(0),
        network_mode: td
            .network_mode
            .as_ref()
            .map_or_else(|| "bridge".to_string(), |n| n.as_str().to_string()),
        volumes: td.volumes.clone().unwrap_or_default(),
        containers,
        refusal,
    }
}

/// The container's environment in ECS's precedence: secrets > `environment` (the override's
/// entries over the definition's) > environment files in order; `AWS_REGION`,
/// `AWS_DEFAULT_REGION` and `AWS_EXECUTION_ENV` as the agent injects them unless set.
fn environment(
    st: &State,
    env: &Env,
    data_dir: Option<&Path>,
    cd: &m::ContainerDefinition,
    over: Option<&m::ContainerOverride>,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let files = over
        .and_then(|o| o.environment_files.clone())
        .or_else(|| cd.environment_files.clone())
        .unwrap_or_default();
    for f in files {
        let value = f.value.clone().unwrap_or_default();
        for (k, v) in environment_file(data_dir, &value)? {
            vars.entry(k).or_insert(v);
        }
    }
    let pairs = cd.environment.iter().flatten().chain(
        over.and_then(|o| o.environment.as_ref())
            .into_iter()
            .flatten(),
    );
    for kv in pairs {
        if let Some(name) = &kv.name {
            vars.insert(name.clone(), kv.value.clone().unwrap_or_default());
        }
    }
    for (k, v) in [
        ("AWS_REGION", env.region.as_str()),
        ("AWS_DEFAULT_REGION", env.region.as_str()),
        ("AWS_EXECUTION_ENV", "AWS_ECS_EC2"),
    ] {
        vars.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    // Resolved together, so a failure names every missing parameter as the agent's batch does.
    let secrets: Vec<(&String, &str)> = cd
        .secrets
        .iter()
        .flatten()
        .filter_map(|s| Some((s.name.as_ref()?, s.value_from.as_deref()?)))
        .collect();
    let froms: Vec<&str> = secrets.iter().map(|(_, f)| *f).collect();
    let values = api::secrets::resolve_all(st, env, &froms)?;
    for ((name, _), value) in secrets.into_iter().zip(values) {
        vars.insert(name.clone(), value);
    }
    Ok(vars.into_iter().collect())
}

/// An environment file (`arn:aws:s3:::bucket/key`), read from `<data_dir>/s3/bucket/key`.
fn environment_file(data_dir: Option<&Path>, arn: &str) -> Result<Vec<(String, String)>, String> {
    let fail = |why: String| {
        format!("ResourceInitializationError: failed to download env files: file {arn}: {why}")
    };
    let Some(object) = arn.strip_prefix("arn:aws:s3:::") else {
        return Err(fail(
            "not an S3 object ARN (arn:aws:s3:::bucket/key)".into(),
        ));
    };
    let Some(dir) = data_dir else {
        return Err(fail(
            "the local cluster keeps environment files under <data-dir>/s3/, and this server has no --data-dir".into(),
        ));
    };
    if object
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return Err(fail("not a plain bucket/key path".into()));
    }
    let path = dir.join("s3").join(object);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        fail(format!(
            "{e} (the local cluster reads it from {})",
            path.display()
        ))
    })?;
    Ok(api::secrets::parse_env_file(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_files_come_from_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("s3/bucket")).unwrap();
        std::fs::write(
            dir.path().join("s3/bucket/app.env"),
            "# c\nA=1\nB=x=y\nnoeq\n",
        )
        .unwrap();
        let vars = environment_file(Some(dir.path()), "arn:aws:s3:::bucket/app.env").unwrap();
        assert_eq!(
            vars,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        let e = environment_file(Some(dir.path()), "arn:aws:s3:::bucket/none.env").unwrap_err();
        assert!(
            e.starts_with("ResourceInitializationError: failed to download env files"),
            "{e}"
        );
        assert!(environment_file(Some(dir.path()), "arn:aws:s3:::bucket/../x").is_err());
        assert!(environment_file(None, "arn:aws:s3:::bucket/app.env").is_err());
    }
}
