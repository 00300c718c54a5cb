//! Schema export (feature `schema`): the JSON Schemas of the sample
//! hierarchy describe what the codec writes, checked by validating encoded
//! records (and the Python sample's) with the `jsonschema` crate.

use kafka_codec::schema::{schema_of, schemars, NO_SCHEMA_KEYWORD, VERSION_KEYWORD};
use kafka_codec::KafkaMessage;
use kafka_codec_sample::{self as sample, Customer, Employee, Entity, Order, Person};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::new(schema).expect("a valid draft-07 schema")
}

fn assert_valid(validator: &jsonschema::Validator, record: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{record}\n{errors:#?}");
}

fn encoded<T: KafkaMessage>(value: &T) -> Value {
    serde_json::from_slice(&value.to_bytes().unwrap()).unwrap()
}

#[test]
fn a_plain_message_has_its_name_version_and_fields() {
    let schema = schema_of::<Employee>();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["title"], "Employee");
    assert_eq!(schema[VERSION_KEYWORD], 2);
    assert!(schema_of::<Person>().get(VERSION_KEYWORD).is_none());
}

#[test]
fn a_hierarchy_is_flattened_as_on_the_wire() {
    let schema = schema_of::<Employee>();
    let props = schema["properties"].as_object().unwrap();
    let names: Vec<&str> = props.keys().map(String::as_str).collect();
    for field in [
        "id",
        "created_at",
        "name",
        "email",
        "birth_date",
        "address",
        "tags",
        "phone",
        "employee_no",
        "department",
        "salary",
        "manager_id",
        "skills",
    ] {
        assert!(names.contains(&field), "{field} missing from {names:?}");
    }
    assert!(!names.contains(&"person") && !names.contains(&"entity"));
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "id",
            "created_at",
            "name",
            "email",
            "birth_date",
            "address",
            "tags",
            "employee_no",
            "department",
            "salary",
            "skills"
        ]
    );
}

#[test]
fn a_trait_object_is_a_one_of_of_the_registered_types_tagged_by_const() {
    let schema = schema_of::<Box<dyn Entity>>();
    assert_eq!(schema["title"], "Entity");
    let members = schema["oneOf"].as_array().unwrap();
    let titles: Vec<&str> = members
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Customer", "Employee", "Order", "Person"]);
    for member in members {
        let tag = member["title"].clone();
        assert_eq!(
            member["properties"]["type"],
            json!({"type": "string", "const": tag})
        );
        assert_eq!(member["required"][0], "type");
        assert!(member.get(NO_SCHEMA_KEYWORD).is_none());
    }
    assert_eq!(members[1][VERSION_KEYWORD], 2);
}

#[test]
fn encoded_records_are_valid_against_their_schemas() {
    let mut rng = StdRng::seed_from_u64(12);
    let entity = validator(&schema_of::<Box<dyn Entity>>());
    let person = validator(&schema_of::<Person>());
    let employee = validator(&schema_of::<Employee>());
    let customer = validator(&schema_of::<Customer>());
    let order = validator(&schema_of::<Order>());
    for _ in 0..100 {
        assert_valid(&entity, &encoded(&sample::random_entity(&mut rng)));
        assert_valid(&person, &encoded(&sample::person(&mut rng)));
        assert_valid(&employee, &encoded(&sample::employee(&mut rng)));
        assert_valid(&customer, &encoded(&sample::customer(&mut rng)));
        assert_valid(&order, &encoded(&sample::order(&mut rng)));
    }
}

#[test]
fn the_python_samples_records_are_valid_too() {
    let entity = validator(&schema_of::<Box<dyn Entity>>());
    let lines = include_str!("fixtures/python_hierarchy.jsonl");
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).unwrap();
        // What the schema accepts, the decoder accepts.
        assert_valid(&entity, &record);
        <Box<dyn Entity>>::from_bytes(line.as_bytes()).unwrap();
    }
}

#[test]
fn the_schema_rejects_what_the_decoder_rejects() {
    let mut rng = StdRng::seed_from_u64(7);
    let entity = validator(&schema_of::<Box<dyn Entity>>());
    let good = encoded(&sample::random_entity(&mut rng));
    let mut cases = Vec::new();
    let mut unknown_tag = good.clone();
    unknown_tag["type"] = json!("Robot");
    cases.push(unknown_tag);
    let mut no_tag = good.clone();
    no_tag.as_object_mut().unwrap().remove("type");
    cases.push(no_tag);
    let mut no_id = good.clone();
    no_id.as_object_mut().unwrap().remove("id");
    cases.push(no_id);
    let mut bad_id = good;
    bad_id["created_at"] = json!(12);
    cases.push(bad_id);
    for case in cases {
        assert!(!entity.is_valid(&case), "accepted: {case}");
        let bytes = serde_json::to_vec(&case).unwrap();
        assert!(
            <Box<dyn Entity>>::from_bytes(&bytes).is_err(),
            "decoded: {case}"
        );
    }
}

mod without_schema {
    //! A registered type without `JsonSchema` still takes part, as an
    //! open object with its tag checked.
    use super::*;
    use serde::{Deserialize, Serialize};

    #[kafka_codec::polymorphic]
    pub trait Shape: std::fmt::Debug {}

    #[derive(Debug, Serialize, Deserialize, KafkaMessage, schemars::JsonSchema)]
    #[schemars(crate = "kafka_codec::schema::schemars")]
    pub(crate) struct Circle {
        pub(crate) r: f64,
    }

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    pub(crate) struct Blob {
        pub(crate) anything: Value,
    }

    #[kafka_codec::polymorphic]
    impl Shape for Circle {}
    #[kafka_codec::polymorphic]
    impl Shape for Blob {}

    #[test]
    fn is_an_open_member() {
        let schema = schema_of::<Box<dyn Shape>>();
        let members = schema["oneOf"].as_array().unwrap();
        assert_eq!(members[0]["title"], "Blob");
        assert_eq!(members[0][NO_SCHEMA_KEYWORD], true, "{schema:#}");
        assert_eq!(members[1]["title"], "Circle");
        let v = validator(&schema);
        let blob: Box<dyn Shape> = Box::new(Blob {
            anything: json!([1]),
        });
        let circle: Box<dyn Shape> = Box::new(Circle { r: 1.5 });
        assert_valid(&v, &encoded(&blob));
        assert_valid(&v, &encoded(&circle));
        assert!(!v.is_valid(&json!({"type": "Circle", "r": "big"})));
    }
}
