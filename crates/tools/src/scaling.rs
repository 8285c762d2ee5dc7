//! The scaling simulator: `berth_core::scaling::replay` over JSON.

use berth_core::scaling::{CapacityChange, ReplayInput, Timeline, replay as core_replay};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Replayed {
    initial_capacity: i32,
    final_capacity: i32,
    changes: Vec<Step>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Step {
    #[serde(flatten)]
    change: CapacityChange,
    /// `"max"` or `"min"` when the capacity after the change sits on that bound, else null.
    bound: Option<&'static str>,
}

/// `replay(input_json)`: see the crate documentation for the JSON shapes.
pub fn replay(input_json: &str) -> String {
    let input: ReplayInput = match serde_json::from_str(input_json) {
        Ok(i) => i,
        Err(e) => return crate::error(format!("input: {e}")),
    };
    match core_replay(&input) {
        Ok(t) => crate::to_json(&steps(t)),
        Err(e) => crate::error(e.to_string()),
    }
}

fn steps(t: Timeline) -> Replayed {
    Replayed {
        initial_capacity: t.initial_capacity,
        final_capacity: t.final_capacity,
        changes: t
            .changes
            .into_iter()
            .map(|change| Step {
                bound: if change.to == change.max_capacity {
                    Some("max")
                } else if change.to == change.min_capacity {
                    Some("min")
                } else {
                    None
                },
                change,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const INPUT: &str = r#"{
      "Target": {"MinCapacity": 1, "MaxCapacity": 4},
      "InitialCapacity": 2,
      "Policies": [{"PolicyName": "cpu50", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50,
          "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}],
      "ScheduledActions": [{"ScheduledActionName": "night", "Schedule": "at(2026-01-01T00:30:00)",
        "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 3}}],
      "Datapoints": [
        {"Timestamp": "2026-01-01T00:00:00Z", "Values": {"ECSServiceAverageCPUUtilization": 100}},
        {"Timestamp": "2026-01-01T00:01:00Z", "Values": {"ECSServiceAverageCPUUtilization": 100}},
        {"Timestamp": "2026-01-01T00:02:00Z", "Values": {"ECSServiceAverageCPUUtilization": 100}},
        {"Timestamp": "2026-01-01T00:30:00Z", "Values": {"ECSServiceAverageCPUUtilization": 40}}
      ]
    }"#;

    #[test]
    fn matches_the_core() {
        let out: Value = serde_json::from_str(&replay(INPUT)).unwrap();
        let input: ReplayInput = serde_json::from_str(INPUT).unwrap();
        let core = serde_json::to_value(core_replay(&input).unwrap()).unwrap();
        assert_eq!(out["InitialCapacity"], core["InitialCapacity"]);
        assert_eq!(out["FinalCapacity"], core["FinalCapacity"]);
        let (ours, theirs) = (
            out["Changes"].as_array().unwrap(),
            core["Changes"].as_array().unwrap(),
        );
        assert_eq!(ours.len(), theirs.len());
        assert!(!ours.is_empty());
        for (a, b) in ours.iter().zip(theirs) {
            let mut a = a.clone();
            a.as_object_mut().unwrap().shift_remove("Bound");
            assert_eq!(&a, b);
        }
        // 2 → 4 by the policy (capped at max 4), then the night action lowers max to 3.
        assert_eq!(ours[0]["To"], 4);
        assert_eq!(ours[0]["Bound"], "max");
        assert_eq!(ours[0]["Cause"]["Type"], "TargetTracking");
        assert_eq!(ours[1]["Cause"]["ScheduledActionName"], "night");
        assert_eq!(ours[1]["MaxCapacity"], 3);
        assert_eq!(ours[1]["Bound"], "max");
    }

    #[test]
    fn bad_input_is_an_error() {
        let out: Value = serde_json::from_str(&replay("{}")).unwrap();
        assert!(
            out["error"].as_str().unwrap().starts_with("input: "),
            "{out}"
        );
        let out: Value = serde_json::from_str(&replay(
            r#"{"Target": {"MinCapacity": 5, "MaxCapacity": 1}, "InitialCapacity": 1, "Datapoints": []}"#,
        ))
        .unwrap();
        assert!(
            out["error"].as_str().unwrap().contains("MinCapacity"),
            "{out}"
        );
    }
}
