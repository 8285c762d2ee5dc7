//! The Smithy RPC v2 CBOR protocol, which the current AWS SDKs (botocore ≥ 1.36 and the AWS CLI
//! on it) use for CloudWatch: `POST …/service/<Service>/operation/<Operation>` with
//! `Smithy-Protocol: rpc-v2-cbor` and a CBOR body; answers carry the same header,
//! `Content-Type: application/cbor` and a CBOR body, timestamps as tag 1 (epoch seconds), errors as
//! a map with `__type` (the absolute shape id) and `message`.
//!
//! The cluster speaks JSON documents (the awsJson1_0 form of the same operations), so this module
//! only transcodes: [`decode_request`] turns a request into that JSON (tag 1 → epoch seconds,
//! special floats → the JSON protocol's `"NaN"` / `"Infinity"` strings) and [`encode`] writes an
//! answer back, tagging the members the operation models as timestamps.
//!
//! Decoding uses `ciborium`, a well-kept CBOR crate that reads every form a client may send
//! (definite and indefinite lengths, half, single and double floats, tags) with a nesting limit.
//! Encoding is written here (a few lines over RFC 8949's headers) because ciborium shrinks every
//! float to the smallest lossless width, half precision included, which the protocol asks
//! servers not to send.

use serde_json::{Map, Number, Value};

/// The `Smithy-Protocol` header value of this protocol.
pub const PROTOCOL: &str = "rpc-v2-cbor";
/// The content type of its bodies.
pub const CONTENT_TYPE: &str = "application/cbor";

/// Why a request body is not a CBOR document the operation can take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CborError {
    /// Not well-formed CBOR (or nested too deep).
    #[error("The request body is not well-formed CBOR: {0}")]
    Malformed(String),
    /// Well-formed, but not an input structure (a map with text keys, no byte strings or
    /// unknown tags).
    #[error("The request body is not a valid input structure: {0}")]
    Shape(String),
}

/// The JSON document a CBOR request body stands for (an empty body is `{}`).
///
/// # Errors
///
/// [`CborError::Malformed`] when the body is not CBOR, [`CborError::Shape`] when it is not a map
/// of members.
///
/// # Example
///
/// ```
/// use berth_server::cbor::{decode_request, encode};
/// let body = encode(&serde_json::json!({"StartTime": 60, "Period": 60}), &|p: &[&str]| p == ["StartTime"]);
/// assert_eq!(decode_request(&body)?, serde_json::json!({"StartTime": 60, "Period": 60}));
/// # Ok::<(), berth_server::cbor::CborError>(())
/// ```
pub fn decode_request(body: &[u8]) -> Result<Value, CborError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let v: ciborium::Value =
        ciborium::de::from_reader(body).map_err(|e| CborError::Malformed(e.to_string()))?;
    let json = to_json(v)?;
    if !json.is_object() {
        return Err(CborError::Shape("expected a map".into()));
    }
    Ok(json)
}

fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

fn to_json(v: ciborium::Value) -> Result<Value, CborError> {
    use ciborium::Value as C;
    Ok(match v {
        C::Integer(i) => {
            let i = i128::from(i);
            if let Ok(n) = i64::try_from(i) {
                Value::from(n)
            } else if let Ok(n) = u64::try_from(i) {
                Value::from(n)
            } else {
                return Err(CborError::Shape(format!("integer {i} is out of range")));
            }
        }
        C::Float(f) => float(f),
        C::Text(s) => Value::String(s),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        // Tag 1: an epoch-seconds timestamp, which the JSON protocol writes as a number.
        C::Tag(1, inner) => match *inner {
            C::Integer(_) | C::Float(_) => to_json(*inner)?,
            _ => return Err(CborError::Shape("tag 1 must hold a number".into())),
        },
        C::Tag(t, _) => return Err(CborError::Shape(format!("unsupported tag {t}"))),
        C::Bytes(_) => {
            return Err(CborError::Shape(
                "byte strings are not used by these operations".into(),
            ));
        }
        C::Array(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        C::Map(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                let C::Text(k) = k else {
                    return Err(CborError::Shape("map keys must be text".into()));
                };
                // Null members are absent members (the protocol omits them; `undefined` reads
                // as null).
                let v = to_json(v)?;
                if !v.is_null() {
                    m.insert(k, v);
                }
            }
            Value::Object(m)
        }
        _ => return Err(CborError::Shape("unsupported CBOR value".into())),
    })
}

/// Writes a JSON answer as CBOR. `is_timestamp` gets the member names from the root to a value
/// (list levels add nothing) and says whether the operation models it as a timestamp; such
/// numbers are written as tag 1. Null members are left out, integers are CBOR integers and
/// every other number a double.
///
/// ```
/// use berth_server::cbor::encode;
/// let v = serde_json::json!({"Datapoints": [{"Timestamp": 60, "Average": 1.5}]});
/// let bytes = encode(&v, &|p: &[&str]| p == ["Datapoints", "Timestamp"]);
/// assert!(bytes.windows(2).any(|w| w == [0xc1, 0x18])); // tag 1, then 60
/// ```
pub fn encode(v: &Value, is_timestamp: &dyn Fn(&[&str]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    write(&mut out, v, &mut path, is_timestamp);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend(s.as_bytes());
}

fn write<'a>(
    out: &mut Vec<u8>,
    v: &'a Value,
    path: &mut Vec<&'a str>,
    is_timestamp: &dyn Fn(&[&str]) -> bool,
) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => {
            if is_timestamp(path) {
                head(out, 6, 1);
            }
            if let Some(u) = n.as_u64() {
                head(out, 0, u);
            } else if let Some(i) = n.as_i64() {
                // Negative: major type 1 carries -1 - n.
                head(out, 1, (-1 - i) as u64);
            } else {
                out.push(0xfb);
                out.extend(n.as_f64().unwrap_or(f64::NAN).to_be_bytes());
            }
        }
        Value::String(s) => text(out, s),
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item, path, is_timestamp);
            }
        }
        Value::Object(m) => {
            let members: Vec<(&String, &Value)> = m.iter().filter(|(_, v)| !v.is_null()).collect();
            head(out, 5, members.len() as u64);
            for (k, v) in members {
                text(out, k);
                path.push(k);
                write(out, v, path, is_timestamp);
                path.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn none(_: &[&str]) -> bool {
        false
    }

    #[test]
    fn what_botocore_sends_reads_as_the_json_document() {
        // botocore's RPCv2CBORSerializer: definite maps, tag 1 with an integer or a double,
        // doubles as 0xfb, negative integers as major type 1.
        let mut b = vec![0xa4];
        text(&mut b, "StartTime");
        b.extend([0xc1, 0x1a, 0x69, 0x55, 0xb9, 0x00]); // tag 1, 1767225600
        text(&mut b, "EndTime");
        b.extend([0xc1, 0xfb]);
        b.extend(1_767_225_660.5f64.to_be_bytes());
        text(&mut b, "Value");
        b.push(0xfb);
        b.extend(f64::NAN.to_be_bytes());
        text(&mut b, "Offset");
        b.extend([0x38, 0x63]); // -100
        assert_eq!(
            decode_request(&b).unwrap(),
            json!({"StartTime": 1_767_225_600, "EndTime": 1_767_225_660.5, "Value": "NaN", "Offset": -100})
        );
        // Indefinite lengths and half floats are read too.
        let mut b = vec![0xbf];
        text(&mut b, "Values");
        b.extend([0x9f, 0xf9, 0x3e, 0x00, 0xff, 0xff]); // [1.5] as a half float
        assert_eq!(decode_request(&b).unwrap(), json!({"Values": [1.5]}));
        assert_eq!(decode_request(b"").unwrap(), json!({}));
        assert!(matches!(
            decode_request(&[0x83, 0x01]),
            Err(CborError::Malformed(_))
        ));
        assert!(matches!(decode_request(&[0x01]), Err(CborError::Shape(_))));
        assert!(matches!(
            decode_request(&[0xa1, 0x01, 0x01]),
            Err(CborError::Shape(_))
        ));
    }

    #[test]
    fn answers_round_trip_with_tagged_timestamps_and_full_doubles() {
        let v = json!({"MetricDataResults": [{"Id": "cpu", "Timestamps": [1_767_225_600, 1_767_225_660],
            "Values": [12.5, 40.0], "StatusCode": "Complete", "Gone": null}], "Messages": []});
        let ts = |p: &[&str]| p == ["MetricDataResults", "Timestamps"];
        let bytes = encode(&v, &ts);
        // 12.5 fits a half float; it is still sent as a double.
        let mut d = vec![0xfb];
        d.extend(12.5f64.to_be_bytes());
        assert!(bytes.windows(9).any(|w| w == d.as_slice()));
        assert_eq!(bytes.iter().filter(|b| **b == 0xc1).count(), 2);
        let back: ciborium::Value = ciborium::de::from_reader(bytes.as_slice()).unwrap();
        let json = to_json(back).unwrap();
        let mut want = v.clone();
        want["MetricDataResults"][0]
            .as_object_mut()
            .unwrap()
            .remove("Gone");
        assert_eq!(json, want);
        assert_eq!(
            encode(&json!({"n": -1, "big": 70000}), &none)[..4],
            [0xa2, 0x61, b'n', 0x20]
        );
    }
}
