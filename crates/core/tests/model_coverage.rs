//! The Rust model must hold every member and enum value of the API model it was generated from.

use berth_core::model::{enum_knows, roundtrip_structure};
use serde_json::{Map, Value, json};

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/reference/ecs-service-2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vendored ECS model")).unwrap()
}

/// A value of the given shape with every member filled, depth-limited for recursive shapes.
fn sample(shapes: &Map<String, Value>, name: &str, depth: usize) -> Value {
    let shape = &shapes[name];
    match shape["type"].as_str().unwrap() {
        "structure" if shape.get("document").is_some() => json!({"any": ["document"]}),
        "structure" => {
            let mut obj = Map::new();
            if depth < 6 {
                for (member, def) in shape["members"].as_object().unwrap() {
                    obj.insert(
                        member.clone(),
                        sample(shapes, def["shape"].as_str().unwrap(), depth + 1),
                    );
                }
            }
            Value::Object(obj)
        }
        "list" => json!([sample(
            shapes,
            shape["member"]["shape"].as_str().unwrap(),
            depth + 1
        )]),
        "map" => json!({"k": sample(shapes, shape["value"]["shape"].as_str().unwrap(), depth + 1)}),
        "string" => match shape.get("enum") {
            Some(values) => values[values.as_array().unwrap().len() - 1].clone(),
            None => json!("text"),
        },
        "integer" | "long" => json!(7),
        "double" => json!(1.5),
        "boolean" => json!(true),
        "timestamp" => json!(1700000000),
        other => panic!("unexpected shape type {other}"),
    }
}

#[test]
fn every_structure_member_round_trips() {
    let model = reference();
    let shapes = model["shapes"].as_object().unwrap();
    let mut structures = 0;
    let mut members = 0;
    for (name, shape) in shapes {
        if shape["type"] != "structure"
            || shape.get("exception").is_some()
            || shape.get("document").is_some()
        {
            continue;
        }
        let value = sample(shapes, name, 0);
        let back = roundtrip_structure(name, value.clone())
            .unwrap_or_else(|| panic!("no Rust type for structure {name}"))
            .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        assert_eq!(back, value, "{name} lost members in a round trip");
        structures += 1;
        members += shape["members"].as_object().unwrap().len();
    }
    assert!(
        structures > 300 && members > 1000,
        "{structures} structures, {members} members"
    );
}

#[test]
fn every_enum_value_is_known() {
    let model = reference();
    for (name, shape) in model["shapes"].as_object().unwrap() {
        let Some(values) = shape.get("enum").and_then(Value::as_array) else {
            continue;
        };
        for v in values {
            let v = v.as_str().unwrap();
            assert_eq!(enum_knows(name, v), Some(true), "{name} lacks {v}");
        }
        assert_eq!(enum_knows(name, "NOT-A-VALUE"), Some(false), "{name}");
    }
}

#[test]
fn task_definition_shapes_are_all_there() {
    // The yardstick: RegisterTaskDefinitionRequest and everything it reaches.
    let model = reference();
    let shapes = model["shapes"].as_object().unwrap();
    let mut stack = vec!["RegisterTaskDefinitionRequest", "TaskDefinition"];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        let s = &shapes[n];
        match s["type"].as_str().unwrap() {
            "structure" => {
                assert!(berth_core::model::schema::shape(n).is_some());
                for def in s["members"].as_object().unwrap().values() {
                    stack.push(def["shape"].as_str().unwrap());
                }
            }
            "list" => stack.push(s["member"]["shape"].as_str().unwrap()),
            "map" => stack.push(s["value"]["shape"].as_str().unwrap()),
            _ => {}
        }
    }
    let structures = seen
        .iter()
        .filter(|n| shapes[**n]["type"] == "structure")
        .count();
    assert!(structures >= 36, "{structures}");
}
