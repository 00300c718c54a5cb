//! `#[derive(KafkaMessage)]` on every shape it accepts, with every attribute.
//!
//! The lints below are denied on purpose: the generated code must stay
//! warning-free under clippy's pedantic set in the user's crate.
#![deny(warnings, clippy::all, clippy::pedantic)]

use kafka_codec::{Error, ErrorKind, Json, KafkaCodec, KafkaMessage};
use serde::{Deserialize, Serialize};

fn key_of<M: KafkaMessage>(value: &M) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    if value.write_key(&mut buf) {
        Some(buf)
    } else {
        assert!(buf.is_empty(), "no key, yet {buf:?} was written");
        None
    }
}

fn round_trip<M: KafkaMessage + PartialEq + std::fmt::Debug>(value: &M) {
    let bytes = value.to_bytes().unwrap();
    assert_eq!(&M::from_bytes(&bytes).unwrap(), value);
}

fn uses_json<M: KafkaMessage<Codec = Json>>() {}

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Plain {
    id: u64,
    label: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(topic = "readings", name = "sensors.Reading", version = 7)]
struct Reading(#[kafka(key)] u32, i64);

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Ping;

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(topic = "events", name = "evt.Event", version = 3)]
enum Event {
    Created { id: u64 },
    Deleted(u64),
    Cleared,
}

// No trailing comma after the last predicate: the derive adds its own.
#[rustfmt::skip]
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Envelope<T> where T: Clone + Default {
    #[kafka(key)]
    id: u64,
    body: T,
}

#[test]
fn named_struct_defaults() {
    let value = Plain {
        id: 1,
        label: "x".into(),
    };
    round_trip(&value);
    uses_json::<Plain>();
    assert_eq!(Plain::NAME, "Plain");
    assert_eq!(value.type_name(), "Plain");
    assert_eq!(Plain::TOPIC, None);
    assert_eq!(Plain::VERSION, None);
    assert_eq!(value.version(), None);
    assert_eq!(key_of(&value), None);
    assert_eq!(value.to_bytes().unwrap(), br#"{"id":1,"label":"x"}"#);
    assert!(Plain::check().is_ok());
}

#[test]
fn tuple_struct_with_a_key_field_and_every_container_attribute() {
    let value = Reading(42, -5);
    round_trip(&value);
    assert_eq!(key_of(&value).as_deref(), Some(&b"42"[..]));
    assert_eq!(Reading::NAME, "sensors.Reading");
    assert_eq!(value.type_name(), "sensors.Reading");
    assert_eq!(Reading::TOPIC, Some("readings"));
    assert_eq!(Reading::VERSION, Some(7));
    assert_eq!(value.version(), Some(7));
    assert_eq!(value.to_bytes().unwrap(), b"[42,-5]");
}

#[test]
fn unit_struct() {
    round_trip(&Ping);
    assert_eq!(Ping::NAME, "Ping");
    assert_eq!(key_of(&Ping), None);
    assert_eq!(Ping.to_bytes().unwrap(), b"null");
}

#[test]
fn enum_with_name_topic_and_version() {
    for value in [Event::Created { id: 3 }, Event::Deleted(4), Event::Cleared] {
        round_trip(&value);
        assert_eq!(value.type_name(), "evt.Event");
        assert_eq!(value.version(), Some(3));
        assert_eq!(key_of(&value), None);
    }
    assert_eq!(Event::TOPIC, Some("events"));
    assert_eq!(Event::Cleared.to_bytes().unwrap(), br#""Cleared""#);
}

#[test]
fn generic_struct_with_a_where_clause() {
    fn assert_message<M: KafkaMessage>() {}
    assert_message::<Envelope<String>>();
    assert_message::<Envelope<Vec<Plain>>>();
    uses_json::<Envelope<u8>>();

    let value = Envelope {
        id: 9,
        body: "hello".to_owned(),
    };
    round_trip(&value);
    assert_eq!(Envelope::<String>::NAME, "Envelope");
    assert_eq!(key_of(&value).as_deref(), Some(&b"9"[..]));
}

// ---------------------------------------------------------------------------
// A codec of our own
// ---------------------------------------------------------------------------

mod codecs {
    use super::{Error, ErrorKind, Json, KafkaCodec};

    /// JSON behind a `v1:` prefix.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Prefixed;

    impl<T: serde::Serialize + serde::de::DeserializeOwned> KafkaCodec<T> for Prefixed {
        fn content_type(&self) -> &'static str {
            "application/x-prefixed-json"
        }

        fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
            buf.extend_from_slice(b"v1:");
            KafkaCodec::<T>::encode(&Json::new(), value, buf)
        }

        fn decode(&self, bytes: &[u8]) -> Result<T, Error> {
            match bytes.strip_prefix(b"v1:") {
                Some(rest) => KafkaCodec::<T>::decode(&Json::new(), rest),
                None => Err(Error::with_payload(
                    ErrorKind::Other("missing `v1:` prefix".into()),
                    bytes,
                )),
            }
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(codec = codecs::Prefixed)]
struct Custom {
    n: i32,
}

#[test]
fn custom_codec_path() {
    fn codec_is<M: KafkaMessage<Codec = codecs::Prefixed>>() {}
    codec_is::<Custom>();
    let value = Custom { n: -1 };
    let bytes = value.to_bytes().unwrap();
    assert_eq!(bytes, br#"v1:{"n":-1}"#);
    assert_eq!(Custom::from_bytes(&bytes).unwrap(), value);
    let err = Custom::from_bytes(br#"{"n":-1}"#).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Other(_)), "{err}");
    assert_eq!(err.payload(), Some(&br#"{"n":-1}"#[..]));
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(key = "email")]
struct ByText {
    email: String,
    age: u8,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct ByInt {
    #[kafka(key)]
    n: i64,
}

#[cfg(feature = "uuid")]
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct ByUuid {
    #[kafka(key)]
    id: uuid::Uuid,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct ByOption {
    #[kafka(key)]
    partition_key: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct ByBytes {
    #[kafka(key)]
    raw: Vec<u8>,
}

#[test]
fn key_bytes_are_exact() {
    let text = ByText {
        email: "zoë@example.org".into(),
        age: 3,
    };
    assert_eq!(key_of(&text).as_deref(), Some("zoë@example.org".as_bytes()));
    round_trip(&text);

    assert_eq!(key_of(&ByInt { n: -1234 }).as_deref(), Some(&b"-1234"[..]));
    assert_eq!(
        key_of(&ByInt { n: i64::MIN }).as_deref(),
        Some(&b"-9223372036854775808"[..])
    );

    #[cfg(feature = "uuid")]
    {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(
            key_of(&ByUuid { id }).as_deref(),
            Some(&b"01234567-89ab-cdef-0123-456789abcdef"[..])
        );
    }

    assert_eq!(
        key_of(&ByOption {
            partition_key: None
        }),
        None
    );
    assert_eq!(
        key_of(&ByOption {
            partition_key: Some("p-7".into())
        })
        .as_deref(),
        Some(&b"p-7"[..])
    );
    // An empty key is still a key, not "no key".
    assert_eq!(
        key_of(&ByOption {
            partition_key: Some(String::new())
        })
        .as_deref(),
        Some(&b""[..])
    );

    assert_eq!(
        key_of(&ByBytes {
            raw: vec![0, 255, 7]
        })
        .as_deref(),
        Some(&[0, 255, 7][..])
    );
}

#[test]
fn key_is_appended_to_the_callers_buffer() {
    let mut buf = b"prefix/".to_vec();
    assert!(ByInt { n: 5 }.write_key(&mut buf));
    assert_eq!(buf, b"prefix/5");
}

// ---------------------------------------------------------------------------
// Renames and defaults in a hierarchy
// ---------------------------------------------------------------------------

/// A base: plain serde, with its own rename, which the derived struct uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Meta {
    id: u64,
    #[serde(rename = "traceId")]
    trace_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, KafkaMessage)]
#[kafka(topic = "shipments", key = "tracking", version = 2)]
struct Shipment {
    #[kafka(base)]
    meta: Meta,
    #[kafka(rename = "trackingNo")]
    tracking: String,
    #[serde(rename = "carrierName")]
    carrier: String,
    #[serde(default)]
    attempts: u32,
    #[kafka(default)]
    tags: Vec<String>,
    note: Option<String>,
}

/// Two levels: extends a struct that itself extends `Meta`.
#[derive(Debug, Clone, PartialEq, KafkaMessage)]
struct Return {
    #[kafka(base)]
    shipment: Shipment,
    #[serde(rename = "why", alias = "reason")]
    reason: String,
}

fn shipment() -> Shipment {
    Shipment {
        meta: Meta {
            id: 7,
            trace_id: Some("t-1".into()),
        },
        tracking: "TRK-1".into(),
        carrier: "DHL".into(),
        attempts: 2,
        tags: vec!["fragile".into()],
        note: None,
    }
}

#[test]
fn base_fields_come_first_under_their_wire_names() {
    let value = shipment();
    let bytes = value.to_bytes().unwrap();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        r#"{"id":7,"traceId":"t-1","trackingNo":"TRK-1","carrierName":"DHL","attempts":2,"tags":["fragile"],"note":null}"#
    );
    round_trip(&value);
    assert_eq!(key_of(&value).as_deref(), Some(&b"TRK-1"[..]));
    assert_eq!(Shipment::TOPIC, Some("shipments"));
    assert_eq!(value.version(), Some(2));
    // Deref, AsRef and From reach the base.
    assert_eq!(value.id, 7);
    let meta: &Meta = value.as_ref();
    assert_eq!(meta.trace_id.as_deref(), Some("t-1"));
    assert_eq!(Meta::from(value.clone()), value.meta);
}

#[test]
fn defaults_and_absent_options_when_decoding() {
    let value = Shipment::from_bytes(
        br#"{"carrierName":"UPS","trackingNo":"T","id":1,"unknown":{"x":[1,2]}}"#,
    )
    .unwrap();
    assert_eq!(
        value,
        Shipment {
            meta: Meta {
                id: 1,
                trace_id: None
            },
            tracking: "T".into(),
            carrier: "UPS".into(),
            attempts: 0,
            tags: Vec::new(),
            note: None,
        }
    );
}

#[test]
fn rust_names_are_not_wire_names() {
    // `tracking` is written `trackingNo`: the Rust name is an unknown key.
    let err = Shipment::from_bytes(br#"{"id":1,"tracking":"T","carrierName":"UPS"}"#).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    assert!(
        err.to_string().contains("missing field `trackingNo`"),
        "{err}"
    );

    let err = Shipment::from_bytes(br#"{"trackingNo":"T","carrierName":"UPS"}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `id`"), "{err}");

    let err = Shipment::from_bytes(br#"{"id":1,"id":2,"trackingNo":"T","carrierName":"UPS"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("duplicate field `id`"), "{err}");
}

#[test]
fn two_level_hierarchy_with_alias() {
    let value = Return {
        shipment: shipment(),
        reason: "damaged".into(),
    };
    let bytes = value.to_bytes().unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(
        text.starts_with(r#"{"id":7,"traceId":"t-1","trackingNo""#),
        "{text}"
    );
    assert!(text.ends_with(r#""note":null,"why":"damaged"}"#), "{text}");
    round_trip(&value);
    // The key is not inherited: `Return` names none.
    assert_eq!(key_of(&value), None);
    assert_eq!(value.carrier, "DHL");
    assert_eq!(value.id, 7);
    // `#[serde(alias)]` is read as well as the wire name.
    let aliased =
        Return::from_bytes(br#"{"id":1,"trackingNo":"T","carrierName":"UPS","reason":"x"}"#)
            .unwrap();
    assert_eq!(aliased.reason, "x");
    assert_eq!(aliased.tracking, "T");
}
