//! Two types registered under one tag: a build mistake the registry reports
//! as an error value, at check time and at decode time, never as a panic or
//! a guess between the two.

use kafka_codec::{ErrorKind, Json, KafkaCodec, KafkaMessage, Polymorphic};
use serde::{Deserialize, Serialize};

#[kafka_codec::polymorphic(topic = "dups")]
trait Dup: std::fmt::Debug {
    fn which(&self) -> &'static str;
}

#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
struct First {
    a: u32,
}

#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
struct Second {
    b: String,
}

#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
struct Third {
    c: bool,
}

#[kafka_codec::polymorphic(name = "Same")]
impl Dup for First {
    fn which(&self) -> &'static str {
        "first"
    }
}

#[kafka_codec::polymorphic(name = "Same")]
impl Dup for Second {
    fn which(&self) -> &'static str {
        "second"
    }
}

#[kafka_codec::polymorphic]
impl Dup for Third {
    fn which(&self) -> &'static str {
        "third"
    }
}

fn assert_duplicate(kind: &ErrorKind) {
    match kind {
        ErrorKind::DuplicateTag { tag, target, count } => {
            assert_eq!(tag, "Same");
            assert_eq!(*target, "dyn Dup");
            assert_eq!(*count, 2);
        }
        other => panic!("expected DuplicateTag, got {other:?}"),
    }
}

#[test]
fn check_reports_the_duplicate() {
    let err = <Box<dyn Dup>>::check().unwrap_err();
    assert_duplicate(err.kind());
    let text = err.to_string();
    assert!(text.contains("`Same` is registered 2 times"), "{text}");

    let registry = <dyn Dup as Polymorphic>::registry();
    assert_eq!(registry.duplicates(), [("Same", 2)]);
    assert!(!registry.contains("Same"));
    assert!(registry.contains("Third"));
    assert_eq!(
        registry.tags().collect::<Vec<_>>(),
        ["Same", "Same", "Third"]
    );
}

#[test]
fn decoding_the_contested_tag_is_an_error_with_the_payload() {
    for payload in [
        &br#"{"type":"Same"}"#[..],
        br#"{"type":"Same","a":1}"#,
        br#"{"type":"Same","b":"x"}"#,
        br#"{"b":"x","type":"Same"}"#,
    ] {
        let err = <Box<dyn Dup>>::from_bytes(payload).unwrap_err();
        assert_duplicate(err.kind());
        assert_eq!(err.payload(), Some(payload));
        assert!(err.is_poison(), "no retry fixes a duplicate: {err}");
    }

    // Plain typetag decoding (the codec called directly, not through
    // `KafkaMessage`) refuses it too, though as a malformed payload.
    let payload = br#"{"type":"Same","a":1}"#;
    let err = KafkaCodec::<Box<dyn Dup>>::decode(&Json::new(), payload).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("non-unique tag"), "{err}");
    assert_eq!(err.payload(), Some(&payload[..]));

    // The tag named only by the type header is refused the same way.
    let hints = kafka_codec::Hints::new(Some("application/json"), Some("Same"));
    let err = <Box<dyn Dup>>::decode_with(&Json::new(), br#"{"a":1}"#, &hints).unwrap_err();
    assert_duplicate(err.kind());
}

#[test]
fn other_tags_of_the_trait_still_decode() {
    let value: Box<dyn Dup> = Box::new(Third { c: true });
    let bytes = value.to_bytes().unwrap();
    assert_eq!(bytes, br#"{"type":"Third","c":true}"#);
    let back = <Box<dyn Dup>>::from_bytes(&bytes).unwrap();
    assert_eq!(back.which(), "third");
    assert_eq!(back.downcast_ref::<Third>().map(|t| t.c), Some(true));

    let slow: Box<dyn Dup> = Json::new().decode(&bytes).unwrap();
    assert_eq!(slow.which(), "third");

    let err = <Box<dyn Dup>>::from_bytes(br#"{"type":"Fourth"}"#).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownType { tag, .. } if tag == "Fourth"),
        "{err}"
    );
}

#[test]
fn encoding_either_duplicate_still_writes_its_tag() {
    // Encoding needs no lookup; only decoding is ambiguous.
    let first: Box<dyn Dup> = Box::new(First { a: 1 });
    assert_eq!(first.to_bytes().unwrap(), br#"{"type":"Same","a":1}"#);
    assert_eq!(first.type_name(), "Same");
    let second: Box<dyn Dup> = Box::new(Second { b: "x".into() });
    assert_eq!(second.to_bytes().unwrap(), br#"{"type":"Same","b":"x"}"#);
}
