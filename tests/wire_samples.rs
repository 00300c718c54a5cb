//! Frozen wire samples (see `kafka_codec::samples`): records written by
//! past versions of our types, and by the original Python producer, kept
//! under `tests/fixtures/wire/` and replayed through today's types. A
//! change that stops an old record from decoding fails here.
//!
//! Before a type below moves to a new version, freeze records of the version
//! it has now, then commit the files:
//!
//! ```sh
//! cargo test --all-features --test wire_samples -- --ignored freeze
//! ```
//!
//! The Python samples come from `scripts/freeze-python-samples.py`.

use std::path::{Path, PathBuf};

use kafka_codec::samples::{self, Sample};
use kafka_codec::{headers, ErrorKind, KafkaMessage};
use kafka_codec_sample::{random_entity, Entity, OrderStatus};
use rand::SeedableRng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wire")
        .join(dir)
}

/// Every class of the sample hierarchy as this crate's producers wrote
/// them (Employee at version 2), read back as `Box<dyn Entity>`.
#[test]
fn frozen_entities_decode() {
    let entities = samples::replay::<Box<dyn Entity>>(fixtures("entity")).unwrap();
    let types: std::collections::BTreeSet<&str> =
        entities.iter().map(|(_, e)| e.type_name()).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["Customer", "Employee", "Order", "Person"]
    );
    for (path, entity) in &entities {
        let sample = Sample::read(path).unwrap();
        assert_eq!(sample.header(headers::TYPE), Some(entity.type_name()));
        // Today's encoding of the decoded value is the frozen payload:
        // nothing was lost on the way.
        assert_eq!(
            entity.to_bytes().unwrap(),
            sample.payload,
            "{}",
            path.display()
        );
    }
}

#[test]
#[ignore = "run by hand, before a type of the sample hierarchy changes version"]
fn freeze_entities() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_130);
    let mut values: Vec<Box<dyn Entity>> = Vec::new();
    while values.len() < 8 {
        values.push(random_entity(&mut rng));
    }
    samples::freeze(fixtures("entity"), &values).unwrap();
}

/// Records the original Python producer wrote (no headers at all): as
/// `Box<dyn Entity>` they are of each type's oldest version, which for
/// today's types is the current one.
#[test]
fn python_records_decode_as_entities() {
    let entities = samples::replay::<Box<dyn Entity>>(fixtures("python/entities")).unwrap();
    assert_eq!(entities.len(), 8);
    for (path, entity) in &entities {
        let sample = Sample::read(path).unwrap();
        assert!(
            sample.headers.is_empty(),
            "the Python producer writes no headers"
        );
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert!(stem.starts_with(entity.type_name()), "{stem}");
    }
}

/// A version 2 of the sample's `Order`, as a team might evolve it: the
/// decimal `total` became integer cents, `note` became `comment`, and the
/// status is an enum of its own. Version 1 is what the Python sample wrote.
#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
#[kafka(name = "Order", version = 2, upcast(from = 1, value = order_v1_to_v2))]
struct OrderV2 {
    id: uuid::Uuid,
    customer_id: uuid::Uuid,
    status: OrderStatus,
    total_cents: i64,
    comment: Option<String>,
    lines: usize,
}

fn order_v1_to_v2(mut v: Value) -> Result<Value, String> {
    let o = v.as_object_mut().ok_or("not an object")?;
    let total: Decimal = o
        .remove("total")
        .and_then(|t| t.as_str()?.parse().ok())
        .ok_or("no decimal `total`")?;
    let cents = (total * Decimal::from(100)).trunc();
    o.insert(
        "total_cents".into(),
        json!(i64::try_from(cents).map_err(|e| e.to_string())?),
    );
    let note = o.remove("note").unwrap_or(Value::Null);
    o.insert("comment".into(), note);
    let lines = o.get("items").and_then(Value::as_array).map_or(0, Vec::len);
    o.insert("lines".into(), json!(lines));
    Ok(v)
}

#[test]
fn python_orders_upcast_to_version_2() {
    let orders = samples::replay::<OrderV2>(fixtures("python/orders")).unwrap();
    assert_eq!(orders.len(), 3);
    for (path, order) in &orders {
        let sample = Sample::read(path).unwrap();
        assert_eq!(
            sample.header(headers::VERSION),
            None,
            "no version header: version 1"
        );
        let v1: Value = serde_json::from_slice(&sample.payload).unwrap();
        let total: Decimal = v1["total"].as_str().unwrap().parse().unwrap();
        assert_eq!(Decimal::from(order.total_cents), total * Decimal::from(100));
        assert_eq!(order.id.to_string(), v1["id"].as_str().unwrap());
        assert_eq!(order.comment.as_deref(), v1["note"].as_str());
        assert_eq!(order.lines, v1["items"].as_array().unwrap().len());
    }
}

/// Version 1 of `Reading`, as it was written: frozen under
/// `tests/fixtures/wire/reading/`, JSON and MsgPack.
mod v1 {
    use super::{Deserialize, KafkaMessage, Serialize};

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "Reading", version = 1)]
    pub(crate) struct Reading {
        pub(crate) sensor: String,
        pub(crate) celsius: f64,
    }

    #[cfg(feature = "msgpack")]
    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "Reading", version = 1, codec = kafka_codec::MsgPack)]
    pub(crate) struct PackedReading {
        pub(crate) sensor: String,
        pub(crate) celsius: f64,
    }
}

/// Today's `Reading`: version 2 keeps kelvin.
#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 2, upcast(from = 1, typed = ReadingV1))]
struct Reading {
    sensor: String,
    kelvin: f64,
}

#[derive(Deserialize)]
struct ReadingV1 {
    sensor: String,
    celsius: f64,
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
fn frozen_readings_of_version_1_upcast() {
    // JSON and MsgPack samples side by side: the content-type header picks
    // the codec.
    let codecs = kafka_codec::Codecs::new(kafka_codec::Json::new());
    #[cfg(feature = "msgpack")]
    let codecs = codecs.with(kafka_codec::MsgPack::new());
    let dir = fixtures("reading");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 2, "{paths:?}");
    for path in paths {
        let sample = Sample::read(&path).unwrap();
        if sample.header(headers::CONTENT_TYPE) == Some("application/msgpack")
            && !cfg!(feature = "msgpack")
        {
            continue;
        }
        assert_eq!(sample.header(headers::VERSION), Some("1"));
        let reading: Reading = sample.decode_with(&codecs).unwrap();
        assert_eq!(reading.sensor, "north");
        assert!((reading.kelvin - 294.65).abs() < 1e-9, "{}", reading.kelvin);
    }
}

#[test]
#[ignore = "run by hand, before `Reading` changes version"]
fn freeze_readings() {
    let dir = fixtures("reading");
    let v1 = v1::Reading {
        sensor: "north".into(),
        celsius: 21.5,
    };
    Sample::of(&v1)
        .unwrap()
        .write(dir.join("Reading-v1-json.json"))
        .unwrap();
    #[cfg(feature = "msgpack")]
    {
        let packed = v1::PackedReading {
            sensor: "north".into(),
            celsius: 21.5,
        };
        Sample::of(&packed)
            .unwrap()
            .write(dir.join("Reading-v1-msgpack.json"))
            .unwrap();
    }
}

#[test]
fn samples_round_trip_through_their_files() {
    let sample = Sample::new(
        vec![
            ("text".into(), Some(b"caf\xc3\xa9".to_vec())),
            ("binary".into(), Some(vec![0xff, 0x00, 0x10])),
            ("none".into(), None),
        ],
        Some(vec![0x80]),
        b"{\"a\":1}".to_vec(),
    );
    let text = sample.to_json();
    assert!(text.contains(r#"{"hex":"ff0010"}"#), "{text}");
    assert!(text.contains("café"), "{text}");
    assert_eq!(Sample::from_json(&text).unwrap(), sample);
    assert!(Sample::from_json(r#"{"headers":[],"key":null,"payload":{"hex":"f"}}"#).is_err());
}

#[test]
fn replay_names_every_file_that_does_not_decode_and_refuses_an_empty_dir() {
    let dir = std::env::temp_dir().join(format!("kc-samples-{}", uuid::Uuid::new_v4().simple()));
    let err = samples::replay::<Reading>(&dir).unwrap_err();
    assert_eq!(err.failures.len(), 1, "a missing directory is a failure");
    std::fs::create_dir_all(&dir).unwrap();
    let err = samples::replay::<Reading>(&dir).unwrap_err();
    assert!(err.to_string().contains("no wire samples"), "{err}");

    let good = v1::Reading {
        sensor: "s".into(),
        celsius: 0.0,
    };
    Sample::of(&good)
        .unwrap()
        .write(dir.join("a.json"))
        .unwrap();
    // A version 3 record: newer than `Reading` knows.
    let mut newer = Sample::of(&good).unwrap();
    for (name, value) in &mut newer.headers {
        if name == headers::VERSION {
            *value = Some(b"3".to_vec());
        }
    }
    newer.write(dir.join("b.json")).unwrap();
    std::fs::write(dir.join("c.json"), "not json").unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let err = samples::replay::<Reading>(&dir).unwrap_err();
    let failed: Vec<_> = err
        .failures
        .iter()
        .map(|(p, e)| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                e.kind().name(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("b.json".to_owned(), "newer_version"),
            ("c.json".to_owned(), "other")
        ]
    );
    assert!(matches!(
        err.failures[0].1.kind(),
        ErrorKind::NewerVersion {
            found: 3,
            newest: 2,
            ..
        }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
