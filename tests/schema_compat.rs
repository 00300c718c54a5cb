//! The compatibility check (feature `schema`): pairs of schemas with known
//! answers under Confluent's modes, and the sample hierarchy's schema of
//! the last release against today's.
//!
//! The last release's schema is committed in
//! `tests/fixtures/schemas/entity.json`. After a release, regenerate it:
//!
//! ```text
//! KAFKA_CODEC_BLESS_SCHEMAS=1 cargo test --test schema_compat last_release
//! ```

use kafka_codec::schema::{check, check_all, schema_of, Compatibility, Direction, Rule};
use kafka_codec_sample::Entity;
use serde_json::{json, Value};

use Compatibility::{Backward, BackwardTransitive, Forward, Full, FullTransitive};

/// The rules found, with their directions, sorted.
fn verdict(old: &Value, new: &Value, mode: Compatibility) -> Vec<(Direction, Rule, String)> {
    let mut found: Vec<_> = match check(old, new, mode) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| (e.direction, e.rule, e.path))
            .collect(),
    };
    found.sort_by_key(|(d, r, p)| (format!("{d:?}"), r.name(), p.clone()));
    found
}

fn closed(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn open(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

const B: Direction = Direction::Backward;
const F: Direction = Direction::Forward;

fn one(d: Direction, r: Rule, p: &str) -> Vec<(Direction, Rule, String)> {
    vec![(d, r, p.to_owned())]
}

#[test]
fn identical_schemas_are_fully_compatible() {
    let s = closed(json!({"id": {"type": "integer"}}), &["id"]);
    assert!(verdict(&s, &s, FullTransitive).is_empty());
    let e = schema_of::<Box<dyn Entity>>();
    assert!(verdict(&e, &e, Full).is_empty());
}

#[test]
fn optional_property_added_to_a_closed_model() {
    let old = closed(json!({"id": {"type": "integer"}}), &["id"]);
    let new = closed(
        json!({"id": {"type": "integer"}, "note": {"type": "string"}}),
        &["id"],
    );
    assert!(verdict(&old, &new, Backward).is_empty());
    assert_eq!(
        verdict(&old, &new, Full),
        one(
            F,
            Rule::PropertyRemovedFromClosedContentModel,
            "#/properties/note"
        )
    );
}

#[test]
fn property_added_to_an_open_model() {
    let old = open(json!({"id": {"type": "integer"}}), &["id"]);
    let new = open(
        json!({"id": {"type": "integer"}, "note": {"type": "string"}}),
        &["id"],
    );
    assert_eq!(
        verdict(&old, &new, Backward),
        one(
            B,
            Rule::PropertyAddedToOpenContentModel,
            "#/properties/note"
        )
    );
    assert!(verdict(&old, &new, Forward).is_empty());
}

#[test]
fn required_property_added_to_a_closed_model() {
    let old = closed(json!({"id": {"type": "integer"}}), &["id"]);
    let new = closed(
        json!({"id": {"type": "integer"}, "name": {"type": "string"}}),
        &["id", "name"],
    );
    assert_eq!(
        verdict(&old, &new, Backward),
        one(
            B,
            Rule::RequiredPropertyAddedToUnopenContentModel,
            "#/properties/name"
        )
    );
}

#[test]
fn property_removed_from_a_closed_model() {
    let old = closed(
        json!({"id": {"type": "integer"}, "note": {"type": "string"}}),
        &["id"],
    );
    let new = closed(json!({"id": {"type": "integer"}}), &["id"]);
    assert_eq!(
        verdict(&old, &new, Backward),
        one(
            B,
            Rule::PropertyRemovedFromClosedContentModel,
            "#/properties/note"
        )
    );
    assert!(verdict(&old, &new, Forward).is_empty());
}

#[test]
fn property_removed_from_an_open_model() {
    let old = open(
        json!({"id": {"type": "integer"}, "note": {"type": "string"}}),
        &["id"],
    );
    let new = open(json!({"id": {"type": "integer"}}), &["id"]);
    assert!(verdict(&old, &new, Backward).is_empty());
    // Old readers of new data: the new writer may write `note` with any value.
    assert_eq!(
        verdict(&old, &new, Forward),
        one(
            F,
            Rule::PropertyAddedToOpenContentModel,
            "#/properties/note"
        )
    );
}

#[test]
fn property_made_required_or_optional() {
    let optional = closed(json!({"id": {"type": "integer"}}), &[]);
    let required = closed(json!({"id": {"type": "integer"}}), &["id"]);
    assert_eq!(
        verdict(&optional, &required, Backward),
        one(B, Rule::RequiredAttributeAdded, "#/required/id")
    );
    assert!(verdict(&required, &optional, Backward).is_empty());
    assert_eq!(
        verdict(&required, &optional, Forward),
        one(F, Rule::RequiredAttributeAdded, "#/required/id")
    );
}

#[test]
fn integer_widened_to_number() {
    let old = json!({"type": "integer"});
    let new = json!({"type": "number"});
    assert!(verdict(&old, &new, Backward).is_empty());
    assert_eq!(
        verdict(&old, &new, Forward),
        one(F, Rule::TypeNarrowed, "#")
    );
}

#[test]
fn type_changed() {
    let old = open(json!({"id": {"type": "string"}}), &["id"]);
    let new = open(json!({"id": {"type": "integer"}}), &["id"]);
    assert_eq!(
        verdict(&old, &new, Full),
        vec![
            (B, Rule::TypeChanged, "#/properties/id".to_owned()),
            (F, Rule::TypeChanged, "#/properties/id".to_owned()),
        ]
    );
}

#[test]
fn nullable_removed_and_added() {
    let nullable = json!({"type": ["string", "null"]});
    let plain = json!({"type": "string"});
    assert_eq!(
        verdict(&nullable, &plain, Backward),
        one(B, Rule::TypeNarrowed, "#")
    );
    assert!(verdict(&plain, &nullable, Backward).is_empty());
    // schemars' `Option<Struct>`: a union with null.
    let defs = json!({"A": {"type": "object", "properties": {"x": {"type": "integer"}}}});
    let opt =
        json!({"definitions": defs, "anyOf": [{"$ref": "#/definitions/A"}, {"type": "null"}]});
    let req = json!({"definitions": defs, "$ref": "#/definitions/A"});
    assert!(verdict(&req, &opt, Backward).is_empty());
    assert_eq!(
        verdict(&opt, &req, Backward),
        one(B, Rule::TypeChanged, "#/anyOf/1")
    );
}

#[test]
fn enum_extended_narrowed_and_changed() {
    let two = json!({"type": "string", "enum": ["paid", "pending"]});
    let three = json!({"type": "string", "enum": ["paid", "pending", "shipped"]});
    let other = json!({"type": "string", "enum": ["lost"]});
    assert!(verdict(&two, &three, Backward).is_empty());
    assert_eq!(
        verdict(&two, &three, Forward),
        one(F, Rule::EnumArrayNarrowed, "#")
    );
    assert_eq!(
        verdict(&two, &other, Backward),
        one(B, Rule::EnumArrayChanged, "#")
    );
    // An enum where there was none restricts the values.
    let any = json!({"type": "string"});
    assert_eq!(
        verdict(&any, &two, Backward),
        one(B, Rule::EnumArrayNarrowed, "#")
    );
}

fn tagged(tag: &str, props: Value) -> Value {
    let mut p = props;
    p["type"] = json!({"type": "string", "const": tag});
    json!({"title": tag, "type": "object", "properties": p, "required": ["type"]})
}

#[test]
fn one_of_member_added_or_removed() {
    let a = tagged("A", json!({"x": {"type": "integer"}}));
    let b = tagged("B", json!({"y": {"type": "string"}}));
    let c = tagged("C", json!({"z": {"type": "boolean"}}));
    let old = json!({"oneOf": [a, b]});
    let added = json!({"oneOf": [a, c, b]});
    let removed = json!({"oneOf": [b]});
    // A new registered type: new readers read old data; old readers reject
    // the new tag.
    assert!(verdict(&old, &added, Backward).is_empty());
    assert_eq!(
        verdict(&old, &added, Forward),
        one(F, Rule::SumTypeNarrowed, "#/oneOf/1")
    );
    // A type removed: new readers reject old data of that type.
    assert_eq!(
        verdict(&old, &removed, Backward),
        one(B, Rule::SumTypeNarrowed, "#/oneOf/0")
    );
    // Members are matched by tag, not by position.
    let b2 = tagged("B", json!({"y": {"type": "integer"}}));
    let changed = json!({"oneOf": [b2, a]});
    assert_eq!(
        verdict(&old, &changed, Backward),
        one(B, Rule::TypeChanged, "#/oneOf/1/properties/y")
    );
}

#[test]
fn references_are_resolved_across_drafts() {
    let old = json!({
        "type": "object",
        "properties": {"address": {"$ref": "#/definitions/Address"}},
        "definitions": {"Address": {"type": "object", "properties": {"zip": {"type": "string"}}}}
    });
    let new = json!({
        "type": "object",
        "properties": {"address": {"$ref": "#/$defs/Address"}},
        "$defs": {"Address": {"type": "object", "properties": {"zip": {"type": "integer"}}}}
    });
    assert_eq!(
        verdict(&old, &new, Backward),
        one(B, Rule::TypeChanged, "#/properties/address/properties/zip")
    );
    let dangling = json!({"type": "object", "properties": {"address": {"$ref": "#/$defs/Nope"}}});
    assert_eq!(
        verdict(&old, &dangling, Backward),
        one(B, Rule::ReferenceUnresolved, "#/properties/address")
    );
}

#[test]
fn recursive_schemas_terminate() {
    let tree = json!({
        "$ref": "#/definitions/Node",
        "definitions": {"Node": {"type": "object", "properties": {
            "value": {"type": "integer"},
            "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
        }}}
    });
    let mut narrowed = tree.clone();
    narrowed["definitions"]["Node"]["properties"]["value"] =
        json!({"type": "integer", "maximum": 10});
    assert!(verdict(&tree, &tree, Full).is_empty());
    assert_eq!(
        verdict(&tree, &narrowed, Backward),
        one(B, Rule::MaximumAdded, "#/properties/value")
    );
}

#[test]
fn bounds() {
    let old = json!({"type": "object", "properties": {
        "n": {"type": "integer", "maximum": 100, "minimum": 0},
        "s": {"type": "string"},
        "a": {"type": "array", "items": {"type": "string"}}
    }});
    let new = json!({"type": "object", "properties": {
        "n": {"type": "integer", "maximum": 50, "minimum": -10},
        "s": {"type": "string", "maxLength": 8, "pattern": "^[a-z]+$"},
        "a": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "minItems": 1}
    }});
    let rules: Vec<Rule> = verdict(&old, &new, Backward)
        .into_iter()
        .map(|(_, r, _)| r)
        .collect();
    assert_eq!(
        rules,
        [
            Rule::MaximumDecreased,
            Rule::MaxLengthAdded,
            Rule::MinItemsAdded,
            Rule::PatternAdded,
            Rule::UniqueItemsAdded
        ]
    );
    // The other way round, only the minimum narrows (-10 to 0).
    assert_eq!(
        verdict(&new, &old, Backward),
        one(B, Rule::MinimumIncreased, "#/properties/n")
    );
}

#[test]
fn additional_properties() {
    let open = json!({"type": "object", "properties": {"id": {"type": "integer"}}});
    let closed = json!({"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": false});
    let strings = json!({"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": {"type": "string"}});
    assert_eq!(
        verdict(&open, &closed, Backward),
        one(
            B,
            Rule::AdditionalPropertiesRemoved,
            "#/additionalProperties"
        )
    );
    assert!(verdict(&closed, &open, Backward).is_empty());
    assert_eq!(
        verdict(&open, &strings, Backward),
        one(
            B,
            Rule::AdditionalPropertiesNarrowed,
            "#/additionalProperties"
        )
    );
    // A partially open writer: a new property its additionalProperties
    // cover is compatible, one they do not cover is not.
    let mut covered = strings.clone();
    covered["properties"]["note"] = json!({"type": "string"});
    assert!(verdict(&strings, &covered, Backward).is_empty());
    let mut uncovered = strings.clone();
    uncovered["properties"]["count"] = json!({"type": "integer"});
    assert_eq!(
        verdict(&strings, &uncovered, Backward),
        one(
            B,
            Rule::PropertyAddedNotCoveredByPartiallyOpenContentModel,
            "#/properties/count"
        )
    );
}

#[test]
fn transitive_modes_check_every_earlier_schema() {
    let v1 = closed(
        json!({"id": {"type": "integer"}, "note": {"type": "string"}}),
        &["id"],
    );
    // Registered under NONE: incompatible with v1.
    let v2 = closed(json!({"id": {"type": "integer"}}), &["id"]);
    let v3 = closed(
        json!({"id": {"type": "integer"}, "tag": {"type": "string"}}),
        &["id"],
    );
    let history = [v1, v2];
    assert!(check_all(&history, &v3, Backward).is_ok());
    let errors = check_all(&history, &v3, BackwardTransitive).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].rule, Rule::PropertyRemovedFromClosedContentModel);
    assert_eq!(errors[0].path, "#/properties/note");
    assert_eq!(errors[0].against, 0);
    assert_eq!(Compatibility::None.name(), "NONE");
    assert!(check_all(&history, &v3, Compatibility::None).is_ok());
    assert_eq!(
        "full_transitive".parse::<Compatibility>(),
        Ok(FullTransitive)
    );
}

#[test]
fn the_sample_hierarchy_evolving() {
    let today = schema_of::<Box<dyn Entity>>();
    // Order no longer registered.
    let mut without_order = today.clone();
    without_order["oneOf"].as_array_mut().unwrap().remove(2);
    assert_eq!(
        verdict(&today, &without_order, Backward),
        one(B, Rule::SumTypeNarrowed, "#/oneOf/2")
    );
    // A new registered type.
    let mut with_robot = today.clone();
    with_robot["oneOf"]
        .as_array_mut()
        .unwrap()
        .push(tagged("Robot", json!({})));
    assert!(verdict(&today, &with_robot, Backward).is_empty());
    assert_eq!(
        verdict(&today, &with_robot, Forward),
        one(F, Rule::SumTypeNarrowed, "#/oneOf/4")
    );
    // Person's phone dropped: fine for new readers (open content model).
    let mut no_phone = today.clone();
    no_phone["oneOf"][3]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("phone");
    assert!(verdict(&today, &no_phone, Backward).is_empty());
}

/// The schema of the last release (committed) against today's.
#[test]
fn last_release_is_backward_compatible() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/schemas/entity.json"
    );
    let today = schema_of::<Box<dyn Entity>>();
    if std::env::var_os("KAFKA_CODEC_BLESS_SCHEMAS").is_some() {
        let text = serde_json::to_string_pretty(&today).unwrap() + "\n";
        std::fs::write(path, text).unwrap();
        return;
    }
    let released: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; generate it with KAFKA_CODEC_BLESS_SCHEMAS=1 cargo test --test schema_compat last_release")
    }))
    .unwrap();
    if let Err(errors) = check(&released, &today, Backward) {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!(
            "today's schema of dyn Entity cannot read the last release's data:\n{}",
            lines.join("\n")
        );
    }
}

/// Each version of a type that is a Rust type has its own schema, tagged
/// with its version; the check says what the upcast chain has to bridge.
mod versions {
    use kafka_codec::schema::{check, schema_of, schemars, Compatibility};
    use kafka_codec::KafkaMessage;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, schemars::JsonSchema, KafkaMessage)]
    #[kafka(name = "Reading", version = 1)]
    struct ReadingV1 {
        sensor: String,
        celsius: f64,
    }

    #[derive(Serialize, Deserialize, schemars::JsonSchema, KafkaMessage)]
    #[kafka(name = "Reading", version = 2, upcast(from = 1, typed = ReadingV1))]
    struct Reading {
        sensor: String,
        kelvin: f64,
    }

    impl From<ReadingV1> for Reading {
        fn from(v1: ReadingV1) -> Self {
            Reading {
                sensor: v1.sensor,
                kelvin: v1.celsius + 273.15,
            }
        }
    }

    #[test]
    fn each_version_has_its_schema_and_the_check_names_the_gap() {
        let (v1, v2) = (schema_of::<ReadingV1>(), schema_of::<Reading>());
        assert_eq!(v1["x-kafka-version"], 1);
        assert_eq!(v2["x-kafka-version"], 2);
        // Version 2 cannot read version 1's records by schema alone: it
        // requires `kelvin`, which they lack. The upcast chain bridges it.
        let errors = check(&v1, &v2, Compatibility::Backward).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("kelvin") || e.path.contains("kelvin")),
            "{errors:?}"
        );
        let v1_record = serde_json::to_vec(&ReadingV1 {
            sensor: "s".into(),
            celsius: 0.0,
        })
        .unwrap();
        let hints = kafka_codec::Hints::record(None, None, Some("1"));
        let read = Reading::decode_with(&kafka_codec::Json::new(), &v1_record, &hints).unwrap();
        assert!((read.kelvin - 273.15).abs() < 1e-9);
    }
}
