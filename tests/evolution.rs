//! Schema evolution: upcast chains (JSON-tree and typed steps), plain and
//! behind trait objects, JSON and MsgPack, the version from the header or
//! the payload, records newer or older than the reader knows, tag aliases,
//! serde's field aliases on a struct with a base; and, on the broker under
//! test, old records read by a new consumer and a newer one dead-lettered.

#[path = "support/kafka.rs"]
mod kafka;

use std::cell::Cell;

use kafka_codec::codec::{Hints, VersionHint};
use kafka_codec::kafka::Producer;
use kafka_codec::{headers, ErrorKind, Json, KafkaCodec, KafkaMessage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

thread_local! {
    /// How many upcast steps ran on this thread.
    static STEPS: Cell<u32> = const { Cell::new(0) };
}

fn steps() -> u32 {
    STEPS.with(Cell::get)
}

fn count_step() {
    STEPS.with(|s| s.set(s.get() + 1));
}

/// The versions of `User` as their writers had them.
mod old {
    use super::{Deserialize, KafkaMessage, Serialize};

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "User", version = 1)]
    pub(crate) struct UserV1 {
        pub name: String,
        pub age: u32,
    }

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "User", version = 2)]
    pub(crate) struct UserV2 {
        pub first: String,
        pub last: String,
        pub age: u32,
    }

    /// Version 3 as it was written: also the typed step's input.
    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "User", version = 3)]
    pub(crate) struct UserV3 {
        pub first: String,
        pub last: String,
        pub age: u32,
        pub email: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "User", version = 5)]
    pub(crate) struct UserV5 {
        pub first: String,
        pub last: String,
        pub age_years: u32,
        pub email: Option<String>,
        pub nickname: String,
    }
}

/// Today's `User`, version 4: v1 -> v2 and v2 -> v3 over the JSON tree,
/// v3 -> v4 typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 4)]
#[kafka(upcast(from = 1, value = split_name))]
#[kafka(upcast(from = 2, value = add_email))]
#[kafka(upcast(from = 3, typed = old::UserV3))]
struct User {
    first: String,
    last: String,
    age_years: u32,
    email: Option<String>,
}

fn split_name(mut v: Value) -> Result<Value, String> {
    count_step();
    let name = v["name"].as_str().ok_or("no `name`")?.to_owned();
    let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
    v["first"] = json!(first);
    v["last"] = json!(last);
    Ok(v)
}

/// A step that cannot fail returns the tree itself.
fn add_email(mut v: Value) -> Value {
    count_step();
    v["email"] = Value::Null;
    v
}

impl From<old::UserV3> for User {
    fn from(v3: old::UserV3) -> Self {
        count_step();
        User {
            first: v3.first,
            last: v3.last,
            age_years: v3.age,
            email: v3.email,
        }
    }
}

/// What a producer would send: the bytes and the version header.
fn record<T: KafkaMessage, C: KafkaCodec<T>>(value: &T, codec: &C) -> (Vec<u8>, String) {
    let mut bytes = Vec::new();
    value.encode_with(codec, &mut bytes).unwrap();
    (bytes, value.version().unwrap().to_string())
}

fn read<T: KafkaMessage, C: KafkaCodec<T>>(
    codec: &C,
    bytes: &[u8],
    version: Option<&str>,
) -> kafka_codec::Result<T> {
    T::decode_with(codec, bytes, &Hints::record(None, None, version))
}

fn ada() -> User {
    User {
        first: "Ada".into(),
        last: "Lovelace".into(),
        age_years: 36,
        email: None,
    }
}

fn every_old_version<C>(codec: &C)
where
    C: KafkaCodec<User> + KafkaCodec<old::UserV1> + KafkaCodec<old::UserV2>,
    C: KafkaCodec<old::UserV3>,
{
    let v1 = record(
        &old::UserV1 {
            name: "Ada Lovelace".into(),
            age: 36,
        },
        codec,
    );
    let v2 = record(
        &old::UserV2 {
            first: "Ada".into(),
            last: "Lovelace".into(),
            age: 36,
        },
        codec,
    );
    let v3 = record(
        &old::UserV3 {
            first: "Ada".into(),
            last: "Lovelace".into(),
            age: 36,
            email: Some("ada@example.com".into()),
        },
        codec,
    );
    let v4 = record(&ada(), codec);
    for ((bytes, version), want, step_count) in [
        (&v1, ada(), 3),
        (&v2, ada(), 2),
        (
            &v3,
            User {
                email: Some("ada@example.com".into()),
                ..ada()
            },
            1,
        ),
        (&v4, ada(), 0),
    ] {
        let before = steps();
        let got: User = read(codec, bytes, Some(version)).unwrap();
        assert_eq!(got, want, "version {version}");
        assert_eq!(
            steps() - before,
            step_count,
            "steps run for version {version}"
        );
    }
    // Without a header the record is of the oldest version, 1.
    let got: User = read(codec, &v1.0, None).unwrap();
    assert_eq!(got, ada());
}

#[test]
fn every_old_version_upcasts_with_json() {
    every_old_version(&Json::new());
}

#[cfg(feature = "msgpack")]
#[test]
fn every_old_version_upcasts_with_msgpack() {
    every_old_version(&kafka_codec::MsgPack::new());
}

#[test]
fn bytes_without_headers_are_the_current_version() {
    let bytes = ada().to_bytes().unwrap();
    let before = steps();
    assert_eq!(User::from_bytes(&bytes).unwrap(), ada());
    assert_eq!(steps(), before, "no step for the current version");
    assert_eq!(Hints::NONE.version, VersionHint::Unknown);
}

#[test]
fn a_newer_version_is_an_error_of_its_own_kind_with_the_bytes() {
    let (bytes, _) = record(
        &old::UserV5 {
            first: "Ada".into(),
            last: "L".into(),
            age_years: 36,
            email: None,
            nickname: "A".into(),
        },
        &Json::new(),
    );
    let err = read::<User, _>(&Json::new(), &bytes, Some("5")).unwrap_err();
    match err.kind() {
        ErrorKind::NewerVersion {
            type_name,
            found,
            newest,
        } => assert_eq!((*type_name, *found, *newest), ("User", 5, 4)),
        other => panic!("{other:?}"),
    }
    assert!(err.is_poison());
    assert_eq!(err.kind().name(), "newer_version");
    assert_eq!(err.payload(), Some(&bytes[..]));
}

#[test]
fn a_version_older_than_the_chain_and_a_bad_header_are_errors() {
    let bytes = br#"{"name":"Ada Lovelace","age":36}"#;
    let err = read::<User, _>(&Json::new(), bytes, Some("0")).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::OlderVersion {
                found: 0,
                oldest: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = read::<User, _>(&Json::new(), bytes, Some("one")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Header { name, .. } if name == headers::VERSION));
    assert_eq!(err.payload(), Some(&bytes[..]));
}

#[test]
fn a_failing_step_is_an_upcast_error_naming_the_version() {
    // Version 1 without the `name` the first step needs.
    let bytes = br#"{"age":36}"#;
    let err = read::<User, _>(&Json::new(), bytes, Some("1")).unwrap_err();
    match err.kind() {
        ErrorKind::Upcast {
            type_name, from, ..
        } => assert_eq!((*type_name, *from), ("User", 1)),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("no `name`"), "{err}");
    assert_eq!(err.payload(), Some(&bytes[..]));
    // A tree that does not read as the next typed version.
    let bytes = br#"{"name":"Ada Lovelace","age":"old"}"#;
    let err = read::<User, _>(&Json::new(), bytes, Some("1")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Upcast { from: 3, .. }),
        "{err}"
    );
}

/// The version in a payload field; a `forward` step for version 3.
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 2, version_field = "schema")]
#[kafka(upcast(from = 1, value = rename_amount))]
#[kafka(forward = drop_currency)]
struct Payment {
    schema: u32,
    cents: i64,
}

fn rename_amount(mut v: Value) -> Result<Value, String> {
    let amount = v
        .as_object_mut()
        .unwrap()
        .remove("amount")
        .ok_or("no amount")?;
    v["cents"] = amount;
    v["schema"] = json!(2);
    Ok(v)
}

/// Reads version 3 (which added `currency`) as version 2.
fn drop_currency(mut v: Value) -> Result<Value, String> {
    if v["currency"] != "EUR" {
        return Err(format!("cannot read {} as euros", v["currency"]));
    }
    v.as_object_mut().unwrap().remove("currency");
    v["schema"] = json!(2);
    Ok(v)
}

#[test]
fn the_version_comes_from_the_header_then_the_payload_field() {
    let v1 = br#"{"amount":250,"schema":1}"#;
    let want = Payment {
        schema: 2,
        cents: 250,
    };
    // No header: the payload says 1, with or without record headers.
    assert_eq!(Payment::from_bytes(v1).unwrap(), want);
    assert_eq!(read::<Payment, _>(&Json::new(), v1, None).unwrap(), want);
    // The header wins over the payload.
    let v2 = br#"{"schema":1,"cents":250}"#;
    let got: Payment = read(&Json::new(), v2, Some("2")).unwrap();
    assert_eq!(got.cents, 250);
    // Neither: the oldest version, 1.
    let bare = br#"{"amount":7}"#;
    assert_eq!(
        read::<Payment, _>(&Json::new(), bare, None).unwrap().cents,
        7
    );
    // ... but bytes without any headers are the current version.
    assert!(Payment::from_bytes(bare).is_err());
}

#[test]
fn a_forward_step_reads_the_next_version_and_no_further() {
    let v3 = br#"{"schema":3,"cents":99,"currency":"EUR"}"#;
    assert_eq!(
        Payment::from_bytes(v3).unwrap(),
        Payment {
            schema: 2,
            cents: 99
        }
    );
    let usd = br#"{"schema":3,"cents":99,"currency":"USD"}"#;
    let err = Payment::from_bytes(usd).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Upcast { from: 3, .. }),
        "{err}"
    );
    let v4 = br#"{"schema":4,"cents":99}"#;
    let err = Payment::from_bytes(v4).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::NewerVersion {
                found: 4,
                newest: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[cfg(feature = "msgpack")]
#[test]
fn the_payload_field_is_read_from_msgpack_too() {
    let codec = kafka_codec::MsgPack::new();
    let mut bytes = Vec::new();
    KafkaCodec::<Value>::encode(&codec, &json!({"amount": 5, "schema": 1}), &mut bytes).unwrap();
    let got: Payment = Payment::decode_with(&codec, &bytes, &Hints::NONE).unwrap();
    assert_eq!(got.cents, 5);
}

/// Trait objects: each concrete type has its own version and chain.
#[kafka_codec::polymorphic]
trait Shape: std::fmt::Debug {
    fn area(&self) -> f64;
}

/// Version 1 called the radius `radius`; version 2 had no `filled`; the
/// tag was `Round`, then `Disc`.
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 3)]
#[kafka(upcast(from = 1, value = radius_to_r))]
#[kafka(upcast(from = 2, typed = CircleV2))]
struct Circle {
    r: f64,
    filled: bool,
}

#[derive(Deserialize)]
struct CircleV2 {
    r: f64,
}

impl TryFrom<CircleV2> for Circle {
    type Error = String;

    fn try_from(v2: CircleV2) -> Result<Self, String> {
        count_step();
        if v2.r < 0.0 {
            return Err(format!("a negative radius, {}", v2.r));
        }
        Ok(Circle {
            r: v2.r,
            filled: false,
        })
    }
}

fn circle(r: f64) -> Circle {
    Circle { r, filled: false }
}

fn radius_to_r(mut v: Value) -> Result<Value, String> {
    count_step();
    let r = v
        .as_object_mut()
        .unwrap()
        .remove("radius")
        .ok_or("no radius")?;
    v["r"] = r;
    Ok(v)
}

#[kafka_codec::polymorphic(alias = "Round", alias = "Disc")]
impl Shape for Circle {
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.r * self.r
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Square {
    side: f64,
}

#[kafka_codec::polymorphic]
impl Shape for Square {
    fn area(&self) -> f64 {
        self.side * self.side
    }
}

fn shape_from<C: KafkaCodec<Box<dyn Shape>> + KafkaCodec<Value>>(
    codec: &C,
    tree: &Value,
    type_header: Option<&str>,
    version: Option<&str>,
) -> kafka_codec::Result<Box<dyn Shape>> {
    let mut bytes = Vec::new();
    KafkaCodec::<Value>::encode(codec, tree, &mut bytes).unwrap();
    <Box<dyn Shape>>::decode_with(codec, &bytes, &Hints::record(None, type_header, version))
}

fn trait_objects_upcast<C: KafkaCodec<Box<dyn Shape>> + KafkaCodec<Value>>(codec: &C) {
    let before = steps();
    let v1 = json!({"type": "Circle", "radius": 2.0});
    let shape = shape_from(codec, &v1, Some("Circle"), Some("1")).unwrap();
    assert_eq!(shape.downcast_ref::<Circle>(), Some(&circle(2.0)));
    assert_eq!(steps() - before, 2, "a tree step, then a typed one");
    let v2 = json!({"type": "Circle", "r": 3.0});
    let shape = shape_from(codec, &v2, Some("Circle"), Some("2")).unwrap();
    assert_eq!(shape.downcast_ref::<Circle>(), Some(&circle(3.0)));
    assert_eq!(steps() - before, 3);
    // A typed step that refuses its input.
    let err = shape_from(
        codec,
        &json!({"type": "Circle", "r": -1.0}),
        None,
        Some("2"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Upcast {
                type_name: "Circle",
                from: 2,
                ..
            }
        ),
        "{err}"
    );
    // Current records take the fast path, no step.
    let v3 = json!({"type": "Circle", "r": 4.0, "filled": true});
    let before = steps();
    let shape = shape_from(codec, &v3, Some("Circle"), Some("3")).unwrap();
    assert_eq!(
        shape.downcast_ref::<Circle>(),
        Some(&Circle {
            r: 4.0,
            filled: true
        })
    );
    assert_eq!(steps(), before);
    // No header at all on a record: the oldest version.
    let shape = shape_from(codec, &v1, None, None).unwrap();
    assert_eq!(shape.downcast_ref::<Circle>(), Some(&circle(2.0)));
    // Old tags, in the payload and in the header, and both.
    let old_tag = json!({"type": "Round", "radius": 1.0});
    let shape = shape_from(codec, &old_tag, None, Some("1")).unwrap();
    assert_eq!(shape.downcast_ref::<Circle>(), Some(&circle(1.0)));
    let shape = shape_from(codec, &old_tag, Some("Disc"), Some("1")).unwrap();
    assert!(shape.is::<Circle>());
    let shape = shape_from(codec, &v3, Some("Round"), Some("3")).unwrap();
    assert!(shape.is::<Circle>());
    // ... but a header naming another type still disagrees.
    let err = shape_from(codec, &old_tag, Some("Square"), Some("1")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Header { .. }), "{err}");
    // An unversioned type beside it is unchanged.
    let sq = shape_from(codec, &json!({"type": "Square", "side": 2.0}), None, None).unwrap();
    assert!((sq.area() - 4.0).abs() < 1e-12);
    // Newer than known.
    let err = shape_from(codec, &v3, Some("Circle"), Some("4")).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::NewerVersion {
                type_name: "Circle",
                found: 4,
                newest: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn trait_objects_upcast_each_type_by_its_own_chain_with_json() {
    trait_objects_upcast(&Json::new());
}

#[cfg(feature = "msgpack")]
#[test]
fn trait_objects_upcast_each_type_by_its_own_chain_with_msgpack() {
    trait_objects_upcast(&kafka_codec::MsgPack::new());
}

#[test]
fn aliases_decode_but_encoding_writes_the_canonical_tag() {
    let shape: Box<dyn Shape> = Box::new(circle(1.0));
    let bytes = shape.to_bytes().unwrap();
    assert!(bytes.starts_with(br#"{"type":"Circle""#), "{bytes:?}");
    assert_eq!(shape.type_name(), "Circle");
    let registry = <dyn Shape as kafka_codec::Polymorphic>::registry();
    assert_eq!(
        registry.tags().collect::<Vec<_>>(),
        ["Circle", "Level", "Square"]
    );
    assert_eq!(
        registry.aliases().collect::<Vec<_>>(),
        [("Disc", "Circle"), ("Round", "Circle")]
    );
    assert!(registry.contains("Round"));
    assert_eq!(registry.version_of("Disc"), Some(3));
    assert!(<Box<dyn Shape>>::check().is_ok());
}

/// serde's `alias` on a struct that extends a base.
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Animal {
    id: u32,
}

#[derive(Debug, PartialEq, KafkaMessage)]
struct Dog {
    #[kafka(base)]
    animal: Animal,
    #[serde(alias = "dog_name", alias = "title")]
    name: String,
}

#[test]
fn serde_field_aliases_work_with_a_base() {
    for key in ["name", "dog_name", "title"] {
        let bytes = format!(r#"{{"id":7,"{key}":"Rex"}}"#);
        let dog = Dog::from_bytes(bytes.as_bytes()).unwrap();
        assert_eq!(dog.name, "Rex", "{key}");
        assert_eq!(dog.animal.id, 7);
    }
    let dog = Dog {
        animal: Animal { id: 1 },
        name: "Rex".into(),
    };
    assert_eq!(dog.to_bytes().unwrap(), br#"{"id":1,"name":"Rex"}"#);
}

/// On the broker under test: records of versions 1, 2 and 3 sent by their
/// own producers' types, read by today's consumer as version 4; a record of
/// version 5 dead-lettered byte for byte with its error kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_every_old_version_and_dead_letters_a_newer_one() {
    let broker = kafka::broker();
    let (topic, dlq) = (kafka::fresh("evolution"), kafka::fresh("evolution-dlq"));
    kafka::create_topic(&broker, &topic, 1).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let v1 = old::UserV1 {
        name: "Ada Lovelace".into(),
        age: 36,
    };
    producer.send_to(&topic, &v1).await.unwrap();
    let v2 = old::UserV2 {
        first: "Grace".into(),
        last: "Hopper".into(),
        age: 85,
    };
    producer.send_to(&topic, &v2).await.unwrap();
    let v5 = old::UserV5 {
        first: "Future".into(),
        last: "Person".into(),
        age_years: 1,
        email: None,
        nickname: "F".into(),
    };
    producer.send_to(&topic, &v5).await.unwrap();
    let v3 = old::UserV3 {
        first: "Alan".into(),
        last: "Turing".into(),
        age: 41,
        email: Some("alan@example.com".into()),
    };
    producer.send_to(&topic, &v3).await.unwrap();
    producer.send_to(&topic, &ada()).await.unwrap();

    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .dead_letter_topic(dlq.clone())
        .build::<User>()
        .unwrap();
    let mut got = Vec::new();
    let mut versions = Vec::new();
    kafka::within(&broker, async {
        while got.len() < 4 {
            let record = consumer.next().await.unwrap();
            versions.push(record.version());
            got.push(record.value().clone());
        }
    })
    .await;
    let names: Vec<(&str, &str, u32)> = got
        .iter()
        .map(|u| (u.first.as_str(), u.last.as_str(), u.age_years))
        .collect();
    assert_eq!(
        names,
        [
            ("Ada", "Lovelace", 36),
            ("Grace", "Hopper", 85),
            ("Alan", "Turing", 41),
            ("Ada", "Lovelace", 36)
        ]
    );
    assert_eq!(got[2].email.as_deref(), Some("alan@example.com"));
    assert_eq!(versions, [Some(1), Some(2), Some(3), Some(4)]);

    let letters = kafka::read_dead_letters(&broker.servers, &dlq, 1).await;
    assert_eq!(letters.len(), 1);
    let (_, payload, hs) = &letters[0];
    assert_eq!(payload, &v5.to_bytes().unwrap(), "byte for byte");
    assert_eq!(hs[headers::DLQ_ERROR_KIND], b"newer_version");
    assert_eq!(hs[headers::VERSION], b"5");
    let message = String::from_utf8_lossy(&hs[headers::DLQ_ERROR_MESSAGE]);
    assert!(
        message.contains("version 5") && message.contains('4'),
        "{message}"
    );
}

/// A type typetag alone reads (a newtype of a number is written
/// `{"type":"Level","value":3}`): its current version decodes, another one
/// is refused, since typetag does not upcast.
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 2)]
struct Level(u8);

#[kafka_codec::polymorphic]
impl Shape for Level {
    fn area(&self) -> f64 {
        f64::from(self.0)
    }
}

#[test]
fn a_type_only_typetag_reads_decodes_at_its_version_only() {
    let level = json!({"type": "Level", "value": 3});
    let shape = shape_from(&Json::new(), &level, Some("Level"), Some("2")).unwrap();
    assert_eq!(shape.downcast_ref::<Level>(), Some(&Level(3)));
    let err = shape_from(&Json::new(), &level, Some("Level"), Some("1")).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Upcast {
                type_name: "Level",
                from: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("typetag"), "{err}");
}
