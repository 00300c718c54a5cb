//! Helpers shared by the fuzz targets: the invariants every decode entry
//! point must keep, and a rich serde type to decode into.
//!
//! Strictness: the targets assert what the docs promise: a codec with
//! `max_depth(n)` accepts exactly `n` levels of nesting; a payload over
//! `max_payload` is refused with `TooLarge`; a decoded trait object agrees
//! with the type header and with the payload's tag wherever it is. Set
//! `KC_FUZZ_LENIENT=1` to relax exactly these checks (a refusal at the depth
//! limit itself, another error kind for an oversized payload, a type header
//! or non-leading tag that disagrees with the decoded type) and keep fuzzing
//! for panics and everything else while such a violation is open. Every
//! other invariant (no panic, errors carry the payload, round trips, refusal
//! beyond the limits) always holds.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::OnceLock;

use kafka_codec::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// `KC_FUZZ_LENIENT=1`: relax the exact-boundary checks (see the module docs).
pub fn lenient() -> bool {
    static LENIENT: OnceLock<bool> = OnceLock::new();
    *LENIENT.get_or_init(|| std::env::var_os("KC_FUZZ_LENIENT").is_some_and(|v| v != "0"))
}

/// Checks what every decode error must carry: the exact input as its
/// payload, a poison classification, and a `Display`/`Debug` that does not
/// panic.
pub fn check_decode_err(err: &Error, input: &[u8]) {
    assert_eq!(
        err.payload(),
        Some(input),
        "decode error does not carry the input as its payload: {err}"
    );
    assert!(err.is_poison(), "decode error is not poison: {err:?}");
    assert!(!err.is_retriable(), "decode error is retriable: {err:?}");
    assert!(err.record().is_none());
    let _ = err.to_string();
    let _ = format!("{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let _ = s.to_string();
        source = s.source();
    }
}

/// Whether a payload `depth` levels deep may be refused by a codec whose
/// limit is `limit` (exact: only deeper payloads; lenient: also at the limit).
pub fn may_refuse_depth(depth: usize, limit: usize) -> bool {
    depth > limit || (lenient() && depth == limit)
}

/// The deepest nesting of JSON arrays and objects in `bytes`, counting
/// brackets outside strings, like `Json`'s own pre-scan. For valid JSON this
/// is the value's depth.
pub fn json_bracket_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Nesting depth of a JSON value: scalars 0, a container 1 + its deepest child.
pub fn value_depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(value_depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The depth a codec reports in `TooDeep`, if `err` is one.
pub fn too_deep_limit(err: &Error) -> Option<usize> {
    match err.kind() {
        ErrorKind::TooDeep { limit } => Some(*limit),
        _ => None,
    }
}

/// A type with most serde shapes: structs, enums of every variant kind, an
/// internally tagged enum (serde's buffering path), maps with string and
/// integer keys, options, sequences, wide integers, floats, chars and a
/// recursive enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rich {
    pub id: u64,
    pub signed: i64,
    pub wide: i128,
    pub float: f64,
    pub name: String,
    pub letter: char,
    pub flag: bool,
    pub inner: Inner,
    pub shapes: Vec<Shape>,
    pub nested: Vec<Option<Inner>>,
    pub by_name: BTreeMap<String, u32>,
    pub by_id: BTreeMap<u16, String>,
    pub event: Option<Event>,
    pub tree: Option<Tree>,
    pub raw: Vec<u8>,
    pub unit: Unit,
    pub pair: (u8, String),
    #[serde(default)]
    pub defaulted: Option<i16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inner {
    pub text: String,
    pub small: i8,
    pub maybe: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    Empty,
    Circle(f64),
    Pair(i32, String),
    Rect {
        w: u32,
        h: u32,
        label: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Created { at: u64 },
    Renamed { from: String, to: String },
    Deleted,
}

/// Recursive, so nesting is bounded only by the codec's depth limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Tree {
    Leaf(u8),
    Node(Box<Tree>),
    Branch(Vec<Tree>),
}
