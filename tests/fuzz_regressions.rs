//! Every failure the fuzzers found (`scripts/fuzz.sh`), kept as a test. The
//! raw inputs are in `tests/fixtures/fuzz/`; where a target frames its input
//! (hint selectors and such), the test builds the same case directly.

use kafka_codec_sample as sample;

use kafka_codec::codec::Codecs;
#[cfg(feature = "msgpack")]
use kafka_codec::MsgPack;
use kafka_codec::{ErrorKind, Hints, Json, KafkaCodec, KafkaMessage};
use rand::SeedableRng;
#[cfg(feature = "msgpack")]
use serde::{Deserialize, Serialize};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/fuzz/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A recursive type whose levels MessagePack writes as enum maps.
#[cfg(feature = "msgpack")]
#[derive(Debug, Serialize, Deserialize)]
enum Tree {
    Leaf(u8),
    Node(Box<Tree>),
}

#[test]
fn json_depth_limit_is_what_the_docs_say() {
    // json-1: 128 `[`; serde_json stops at 127, so the default limit is 127.
    let bytes = fixture("json-1.bin");
    assert_eq!(bytes.len(), 128);
    let err = KafkaCodec::<serde_json::Value>::decode(&Json::new(), &bytes).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 127 }),
        "{err}"
    );
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_max_depth_accepts_exactly_its_limit() {
    // msgpack-1: eight nested arrays around a nil.
    let bytes = fixture("msgpack-1.bin");
    let v: serde_json::Value = KafkaCodec::decode(&MsgPack::new().max_depth(8), &bytes).unwrap();
    assert!(v.is_array());
    let err =
        KafkaCodec::<serde_json::Value>::decode(&MsgPack::new().max_depth(7), &bytes).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 7 }),
        "{err}"
    );
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_enum_maps_count_towards_the_depth_limit() {
    // msgpack-2: a Tree ten levels deep, each level an enum map.
    let bytes = fixture("msgpack-2.bin");
    let err = KafkaCodec::<Tree>::decode(&MsgPack::new().max_depth(8), &bytes).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 8 }),
        "{err}"
    );
    assert!(KafkaCodec::<Tree>::decode(&MsgPack::new().max_depth(16), &bytes).is_ok());
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_deep_nesting_cannot_overflow_the_stack() {
    // msgpack-3: 50,000 nested enum maps, once a segfault. Decoded on a
    // thread with a tokio worker's 2 MiB stack.
    let bytes = fixture("msgpack-3.bin");
    let err = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || KafkaCodec::<Tree>::decode(&MsgPack::new(), &bytes).unwrap_err())
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 128 }),
        "{err}"
    );
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_refuses_trailing_bytes_even_when_they_are_cut_short() {
    // msgpack-4: the value 1, then the start of an array.
    let bytes = fixture("msgpack-4.bin");
    assert_eq!(bytes, [0x01, 0x91]);
    let err = KafkaCodec::<serde_json::Value>::decode(&MsgPack::new(), &bytes).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
}

fn person_json_with_tag_last(tag: &str) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut value = serde_json::to_value(sample::person(&mut rng)).unwrap();
    value["type"] = tag.into();
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn a_type_header_cannot_override_a_payload_tag_that_is_not_leading() {
    // poly_json-1: a Person payload tagged "Cr" (last, not leading) under the
    // header `ce_type: Person` was decoded as a Person.
    let bytes = person_json_with_tag_last("Cr");
    let hints = Hints::new(None, Some("Person"));
    let err = <Box<dyn sample::Entity>>::decode_with(&Json::new(), &bytes, &hints).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Header { .. }), "{err}");
    // Agreeing header and trailing tag still decode.
    let bytes = person_json_with_tag_last("Person");
    assert!(<Box<dyn sample::Entity>>::decode_with(&Json::new(), &bytes, &hints).is_ok());
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_polymorphic_decode_checks_the_size_limit_first() {
    // poly_msgpack-1: an oversized payload was refused as an unknown type.
    let codec = MsgPack::new().max_payload(256);
    let bytes =
        rmp_serde::to_vec_named(&serde_json::json!({"type": "Robot", "pad": "x".repeat(300)}))
            .unwrap();
    let err = <Box<dyn sample::Entity>>::decode_with(&codec, &bytes, &Hints::NONE).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooLarge { limit: 256, .. }),
        "{err}"
    );
}

/// JSON without the fast path: trait objects decode through typetag.
struct Typetag;

impl<T: serde::Serialize + serde::de::DeserializeOwned> KafkaCodec<T> for Typetag {
    fn content_type(&self) -> &str {
        Json::CONTENT_TYPE
    }
    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> kafka_codec::Result<()> {
        Json::new().encode(value, buf)
    }
    fn decode(&self, bytes: &[u8]) -> kafka_codec::Result<T> {
        Json::new().decode(bytes)
    }
}

#[test]
fn a_type_header_must_match_what_a_user_codec_decoded() {
    // headers-1: through a codec without the fast path (then `Codecs`) an
    // Order came back under `ce_type: Person`.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let order: Box<dyn sample::Entity> = Box::new(sample::order(&mut rng));
    let bytes = order.to_bytes().unwrap();
    let codecs: Codecs<Box<dyn sample::Entity>> = Codecs::new(Json::new());
    let codecs: [&dyn KafkaCodec<Box<dyn sample::Entity>>; 2] = [&Typetag, &codecs];
    for codec in codecs {
        let hints = Hints::new(Some("application/json"), Some("Person"));
        let err = <Box<dyn sample::Entity>>::decode_with(codec, &bytes, &hints).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Header { .. }), "{err}");
        let hints = Hints::new(Some("application/json"), Some("Order"));
        assert!(<Box<dyn sample::Entity>>::decode_with(codec, &bytes, &hints).is_ok());
    }
}
