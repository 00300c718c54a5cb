//! Round trips and failure modes of every built-in codec, and of a codec
//! defined here, outside the crate, which also takes trait objects on the
//! fast path.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_codec::codec::{Bytes, Codecs, FastPath, Hints, SerdeCodec, Utf8};
use kafka_codec::{Error, ErrorKind, Json, KafkaCodec, KafkaMessage, Position};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
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
struct Inner {
    text: String,
    flag: bool,
    small: i8,
    maybe: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    id: u64,
    signed: i64,
    wide: i128,
    float: f64,
    name: String,
    inner: Inner,
    nested: Vec<Option<Inner>>,
    shapes: Vec<Shape>,
    map: BTreeMap<String, i64>,
    bytes: Vec<u8>,
    unit: (),
}

fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(f64::EPSILON),
    ]
}

fn any_inner() -> impl Strategy<Value = Inner> {
    (
        any::<String>(),
        any::<bool>(),
        any::<i8>(),
        any::<Option<u16>>(),
    )
        .prop_map(|(text, flag, small, maybe)| Inner {
            text,
            flag,
            small,
            maybe,
        })
}

fn any_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        any_float().prop_map(Shape::Circle),
        (any::<i32>(), "\\PC*").prop_map(|(a, b)| Shape::Pair(a, b)),
        (any::<u32>(), any::<u32>(), any::<Option<String>>())
            .prop_map(|(w, h, label)| Shape::Rect { w, h, label }),
    ]
}

prop_compose! {
    fn any_sample()(
        id in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        signed in prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()],
        wide in prop_oneof![Just(i128::MIN), Just(i128::MAX), any::<i128>()],
        float in any_float(),
        name in "\\PC{0,40}",
        inner in any_inner(),
        nested in prop::collection::vec(prop::option::of(any_inner()), 0..4),
        shapes in prop::collection::vec(any_shape(), 0..6),
        map in prop::collection::btree_map("\\PC{0,8}", any::<i64>(), 0..6),
        bytes in prop::collection::vec(any::<u8>(), 0..32),
    ) -> Sample {
        Sample { id, signed, wide, float, name, inner, nested, shapes, map, bytes, unit: () }
    }
}

/// A codec written by a user: JSON behind a one-byte version prefix. It
/// counts, per thread, how often each encode and decode path runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Versioned;

thread_local! {
    /// Decodes of a concrete type by the fast path.
    static FAST: Cell<u32> = const { Cell::new(0) };
    /// Decodes through `KafkaCodec::decode` (for a trait object: typetag).
    static GENERIC: Cell<u32> = const { Cell::new(0) };
    /// Encodes by the fast path (`SerdeCodec::encode_value`).
    static FAST_ENCODE: Cell<u32> = const { Cell::new(0) };
    /// Encodes through `KafkaCodec::encode` (for a trait object: typetag).
    static GENERIC_ENCODE: Cell<u32> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u32>>) {
    counter.with(|c| c.set(c.get() + 1));
}

/// (fast-path decodes, generic decodes) on this thread so far, reset.
fn decodes() -> (u32, u32) {
    (FAST.with(|c| c.replace(0)), GENERIC.with(|c| c.replace(0)))
}

/// (fast-path encodes, generic encodes) on this thread so far, reset.
fn encodes() -> (u32, u32) {
    (
        FAST_ENCODE.with(|c| c.replace(0)),
        GENERIC_ENCODE.with(|c| c.replace(0)),
    )
}

impl Versioned {
    fn body(bytes: &[u8]) -> Result<&[u8], Error> {
        match bytes.split_first() {
            Some((1, rest)) => Ok(rest),
            _ => Err(Error::malformed(
                "versioned",
                Position::Offset(0),
                "missing version byte",
                bytes,
            )),
        }
    }

    fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(Self::body(bytes)?)
            .map_err(|e| Error::malformed("versioned", Position::Unknown, e, bytes))
    }
}

impl<T: Serialize + serde::de::DeserializeOwned> KafkaCodec<T> for Versioned {
    fn content_type(&self) -> &str {
        "application/vnd.example.v1+json"
    }
    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
        bump(&GENERIC_ENCODE);
        write(value, buf)
    }
    fn decode(&self, bytes: &[u8]) -> Result<T, Error> {
        bump(&GENERIC);
        Self::from_json(bytes)
    }
    fn serde_codec(&self, _: &Hints<'_>) -> Option<FastPath<'_>> {
        Some(FastPath::new(self))
    }
}

impl SerdeCodec for Versioned {
    fn find_tag<'a>(
        &self,
        bytes: &'a [u8],
        tag_key: &'static str,
    ) -> Result<Option<Cow<'a, str>>, Error> {
        Json::new().find_tag(Self::body(bytes)?, tag_key)
    }
    fn decode_checked<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, Error> {
        bump(&FAST);
        Self::from_json(bytes)
    }
    fn encode_value<T: Serialize + ?Sized>(
        &self,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        bump(&FAST_ENCODE);
        write(value, buf)
    }
}

/// What `Versioned` writes, both ways.
fn write<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
    buf.push(1);
    serde_json::to_writer(buf, value).map_err(|e| Error::encode("versioned", e))
}

/// A trait whose objects `Versioned` decodes on the fast path.
#[kafka_codec::polymorphic(codecs(Versioned))]
pub trait Figure: std::fmt::Debug {}

/// A trait that does not name `Versioned`: typetag decodes its objects.
#[kafka_codec::polymorphic]
pub trait Plain: std::fmt::Debug {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Circle {
    r: f64,
    label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Square {
    side: u32,
}

#[kafka_codec::polymorphic]
impl Figure for Circle {}
#[kafka_codec::polymorphic]
impl Figure for Square {}
#[kafka_codec::polymorphic]
impl Plain for Circle {}

fn round_trip<T, C>(codec: &C, value: &T) -> T
where
    C: KafkaCodec<T> + ?Sized,
{
    let mut buf = Vec::new();
    codec.encode(value, &mut buf).expect("encode");
    codec.decode(&buf).expect("decode")
}

/// Decoding arbitrary bytes must return, never panic; an error keeps the bytes.
fn decode_arbitrary<T, C: KafkaCodec<T> + ?Sized>(codec: &C, bytes: &[u8]) {
    if let Err(e) = codec.decode(bytes) {
        assert_eq!(e.payload(), Some(bytes), "error keeps the raw bytes: {e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_round_trips(sample in any_sample()) {
        prop_assert_eq!(round_trip(&Json::new(), &sample), sample);
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_round_trips(sample in any_sample()) {
        prop_assert_eq!(round_trip(&kafka_codec::MsgPack::new(), &sample), sample);
    }

    #[test]
    fn user_codec_round_trips(sample in any_sample()) {
        prop_assert_eq!(round_trip(&Versioned, &sample), sample);
    }

    #[test]
    fn dyn_and_shared_codecs_round_trip(sample in any_sample()) {
        let shared: Arc<dyn KafkaCodec<Sample>> = Arc::new(Versioned);
        prop_assert_eq!(&round_trip(&*shared, &sample), &sample);
        prop_assert_eq!(&round_trip(&shared, &sample), &sample);
        let boxed: Box<dyn KafkaCodec<Sample>> = Box::new(Json::new());
        prop_assert_eq!(&round_trip(&boxed, &sample), &sample);
    }

    #[test]
    fn codecs_pick_by_content_type(sample in any_sample()) {
        let codecs: Codecs<Sample> = Codecs::new(Json::new()).with(Versioned);
        for codec in [&Json::new() as &dyn KafkaCodec<Sample>, &Versioned] {
            let mut buf = Vec::new();
            codec.encode(&sample, &mut buf).unwrap();
            let hints = Hints::new(Some(codec.content_type()), None);
            prop_assert_eq!(&codecs.decode_hinted(&buf, &hints).unwrap(), &sample);
        }
    }

    #[test]
    fn raw_codecs_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..256), text in "\\PC*") {
        prop_assert_eq!(round_trip(&Bytes::default(), &bytes), bytes.clone());
        let b = bytes::Bytes::from(bytes);
        prop_assert_eq!(round_trip(&Bytes::default(), &b), b);
        prop_assert_eq!(round_trip(&Utf8::default(), &text), text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_arbitrary::<Sample, _>(&Json::new(), &bytes);
        decode_arbitrary::<serde_json::Value, _>(&Json::new().max_depth(8), &bytes);
        #[cfg(feature = "msgpack")]
        {
            decode_arbitrary::<Sample, _>(&kafka_codec::MsgPack::new(), &bytes);
            decode_arbitrary::<Shape, _>(&kafka_codec::MsgPack::new(), &bytes);
        }
        decode_arbitrary::<Sample, _>(&Versioned, &bytes);
        decode_arbitrary::<String, _>(&Utf8::default(), &bytes);
        decode_arbitrary::<Vec<u8>, _>(&Bytes::default().max_payload(100), &bytes);
    }

    /// Valid JSON prefixes cut short, the likeliest corruption.
    #[test]
    fn truncated_json_is_malformed(sample in any_sample(), cut in any::<prop::sample::Index>()) {
        let bytes = serde_json::to_vec(&sample).unwrap();
        let cut = cut.index(bytes.len());
        let err = KafkaCodec::<Sample>::decode(&Json::new(), &bytes[..cut]).unwrap_err();
        let is_malformed = matches!(err.kind(), ErrorKind::Malformed { .. });
        prop_assert!(is_malformed, "{:?}", err);
        prop_assert_eq!(err.payload(), Some(&bytes[..cut]));
    }
}

#[test]
fn json_writes_non_finite_floats_as_null_and_refuses_them_back() {
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut buf = Vec::new();
        Json::new().encode(&f, &mut buf).unwrap();
        assert_eq!(buf, b"null");
        let err = KafkaCodec::<f64>::decode(&Json::new(), &buf).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
        assert_eq!(
            KafkaCodec::<Option<f64>>::decode(&Json::new(), &buf).unwrap(),
            None
        );
    }
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_keeps_non_finite_floats() {
    let codec = kafka_codec::MsgPack::new();
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
        let back: f64 = round_trip(&codec, &f);
        assert_eq!(back.to_bits(), f.to_bits());
    }
}

#[test]
fn json_error_reports_line_and_column() {
    let bytes = b"{\n  \"id\": x }";
    let err = KafkaCodec::<Sample>::decode(&Json::new(), bytes).unwrap_err();
    match err.kind() {
        ErrorKind::Malformed { position, .. } => {
            assert_eq!(*position, Position::LineColumn { line: 2, column: 9 });
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("line 2 column 9"), "{err}");
    assert_eq!(err.payload(), Some(&bytes[..]));
    assert!(err.is_poison());
}

#[test]
fn payload_limit_is_enforced_before_parsing() {
    let codec = Json::new().max_payload(10);
    let err = KafkaCodec::<String>::decode(&codec, br#""0123456789""#).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::TooLarge {
            size: 12,
            limit: 10
        }
    ));
    assert_eq!(err.payload().map(<[u8]>::len), Some(12));
    assert!(KafkaCodec::<String>::decode(&codec, br#""01234567""#).is_ok());
}

#[test]
fn depth_limit_is_enforced() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let codec = Json::new().max_depth(4);
    let ok = KafkaCodec::<serde_json::Value>::decode(&codec, deep(4).as_bytes());
    assert!(ok.is_ok());
    let err = KafkaCodec::<serde_json::Value>::decode(&codec, deep(5).as_bytes()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 4 }),
        "{err}"
    );
    // The default is serde_json's own limit, exactly: 127 levels pass, 128
    // do not (found by fuzzing: the docs once said 128), and nothing
    // overflows the stack.
    assert_eq!(Json::new().limits().max_depth, 127);
    assert!(KafkaCodec::<serde_json::Value>::decode(&Json::new(), deep(127).as_bytes()).is_ok());
    for n in [128, 100_000] {
        let err =
            KafkaCodec::<serde_json::Value>::decode(&Json::new(), deep(n).as_bytes()).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::TooDeep { limit: 127 }),
            "{err}"
        );
    }
    // A syntax error before the nesting gets deep is malformed, not too
    // deep; one after it, on a second line, is too deep.
    let early = format!("[x, {}", deep(200));
    let err = KafkaCodec::<serde_json::Value>::decode(&Json::new(), early.as_bytes()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    let late = format!("[\n{}, x]", deep(200));
    let err = KafkaCodec::<serde_json::Value>::decode(&Json::new(), late.as_bytes()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 127 }),
        "{err}"
    );
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_depth_limit_is_enforced() {
    let codec = kafka_codec::MsgPack::new().max_depth(3);
    // 0x91 is a one-element array: five of them nest five deep.
    let bytes = [0x91, 0x91, 0x91, 0x91, 0x91, 0x01];
    let err = KafkaCodec::<serde_json::Value>::decode(&codec, &bytes).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooDeep { limit: 3 }),
        "{err}"
    );
    let ok: serde_json::Value = KafkaCodec::decode(&codec, &bytes[3..]).unwrap();
    assert_eq!(ok, serde_json::json!([[1]]));
}

#[test]
fn utf8_reports_where_the_text_breaks() {
    let err = Utf8::default().decode(b"ab\xffcd").unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Malformed {
            position: Position::Offset(2),
            ..
        }
    ));
}

#[test]
fn content_types_compare_by_essence() {
    assert!(KafkaCodec::<u8>::accepts(
        &Json::new(),
        "Application/JSON; charset=utf-8"
    ));
    assert!(!KafkaCodec::<u8>::accepts(
        &Json::new(),
        "application/msgpack"
    ));
    let codecs = Codecs::<u8>::new(Json::new());
    let err = codecs
        .decode_hinted(b"1", &Hints::new(Some("text/csv"), None))
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ContentTypeMismatch { .. }),
        "{err}"
    );
}

fn circle() -> Circle {
    Circle {
        r: 2.5,
        label: "unit \"circle\"".into(),
    }
}

fn encoded<T: Serialize + serde::de::DeserializeOwned>(value: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    Versioned.encode(value, &mut buf).unwrap();
    buf
}

#[test]
fn a_user_codec_the_trait_names_decodes_trait_objects_on_the_fast_path() {
    let figure: Box<dyn Figure> = Box::new(circle());
    let bytes = encoded(&figure);
    assert_eq!(&bytes[..8], b"\x01{\"type\"");
    decodes();
    let back = <Box<dyn Figure>>::decode_with(&Versioned, &bytes, &Hints::NONE).unwrap();
    assert_eq!(back.downcast_ref::<Circle>(), Some(&circle()));
    assert_eq!(
        decodes(),
        (1, 0),
        "one concrete decode, none through typetag"
    );

    // The type header agrees: still the fast path.
    let hints = Hints::new(Some("application/vnd.example.v1+json"), Some("Circle"));
    let back = <Box<dyn Figure>>::decode_with(&Versioned, &bytes, &hints).unwrap();
    assert!(back.is::<Circle>());
    assert_eq!(decodes(), (1, 0));

    // Behind `Codecs`, picked by content type; and shared as a trait object.
    let codecs = Codecs::<Box<dyn Figure>>::new(Json::new()).with(Versioned);
    let back = <Box<dyn Figure>>::decode_with(&codecs, &bytes, &hints).unwrap();
    assert!(back.is::<Circle>());
    let shared: Arc<dyn KafkaCodec<Box<dyn Figure>>> = Arc::new(Versioned);
    let back = <Box<dyn Figure>>::decode_with(&shared, &bytes, &Hints::NONE).unwrap();
    assert!(back.is::<Circle>());
    assert_eq!(decodes(), (2, 0));

    // The tag anywhere in the object, not only first.
    let square = b"\x01{\"side\":3,\"type\":\"Square\"}";
    let back = <Box<dyn Figure>>::decode_with(&Versioned, square, &Hints::NONE).unwrap();
    assert_eq!(back.downcast_ref::<Square>(), Some(&Square { side: 3 }));
    assert_eq!(decodes(), (1, 0));
}

#[test]
fn a_user_codec_on_the_fast_path_refuses_what_the_built_ins_refuse() {
    let bytes = encoded(&(Box::new(circle()) as Box<dyn Figure>));
    let hints = Hints::new(None, Some("Square"));
    let err = <Box<dyn Figure>>::decode_with(&Versioned, &bytes, &hints).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Header { .. }), "{err}");
    assert_eq!(err.payload(), Some(&bytes[..]));

    let unknown = b"\x01{\"type\":\"Hexagon\",\"side\":1}";
    let err = <Box<dyn Figure>>::decode_with(&Versioned, unknown, &Hints::NONE).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownType { tag, .. } if tag == "Hexagon"),
        "{err}"
    );
    let untagged = b"\x01{\"side\":1}";
    let err = <Box<dyn Figure>>::decode_with(&Versioned, untagged, &Hints::NONE).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::MissingTag { .. }), "{err}");
    let unframed = br#"{"type":"Square","side":1}"#;
    let err = <Box<dyn Figure>>::decode_with(&Versioned, unframed, &Hints::NONE).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    assert_eq!(decodes(), (0, 0), "nothing decoded");
}

#[test]
fn a_user_codec_the_trait_does_not_name_decodes_through_typetag() {
    let plain: Box<dyn Plain> = Box::new(circle());
    let bytes = encoded(&plain);
    decodes();
    let back = <Box<dyn Plain>>::decode_with(&Versioned, &bytes, &Hints::NONE).unwrap();
    assert_eq!(back.downcast_ref::<Circle>(), Some(&circle()));
    assert_eq!(decodes(), (0, 1));
}

// ---------------------------------------------------------------------------
// Trait objects encoded on the fast path

/// A struct whose fields serde writes as a map (`#[serde(flatten)]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Framed {
    #[serde(flatten)]
    square: Square,
    note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Dot;

/// A newtype around a struct: written as the struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Boxed(Square);

/// A newtype around a number: `{"type":"Meters","value":2.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Meters(f64);

/// A newtype around a UUID, which serde writes as text or bytes depending on
/// the format; typetag asks its value as text, whatever the codec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Ident(uuid::Uuid);

/// A tuple struct: typetag buffers it, so it stays on typetag's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Point(i32, i32);

/// An enum with every kind of variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub enum Mode {
    Off,
    Level(u8),
    Span { from: u8, to: u8 },
}

/// A struct with a field named like the tag key: typetag skips it when it
/// holds the tag and fails otherwise; both stay on typetag's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Typed {
    #[serde(rename = "type")]
    kind: String,
    n: u8,
}

#[kafka_codec::polymorphic]
impl Figure for Framed {}
#[kafka_codec::polymorphic]
impl Figure for Dot {}
#[kafka_codec::polymorphic]
impl Figure for Boxed {}
#[kafka_codec::polymorphic]
impl Figure for Meters {}
#[kafka_codec::polymorphic]
impl Figure for Ident {}
#[kafka_codec::polymorphic]
impl Figure for Point {}
#[kafka_codec::polymorphic]
impl Figure for Mode {}
#[kafka_codec::polymorphic]
impl Figure for Typed {}

/// `figure` encoded with `codec` both ways: the fast path
/// (`KafkaMessage::encode_with`) and typetag (`KafkaCodec::encode`, which
/// serializes `Box<dyn Figure>` through typetag's `Serialize`).
#[allow(clippy::borrowed_box)] // the message type is the box
fn both_ways<C: KafkaCodec<Box<dyn Figure>>>(
    codec: &C,
    figure: &Box<dyn Figure>,
) -> (kafka_codec::Result<Vec<u8>>, kafka_codec::Result<Vec<u8>>) {
    let mut fast = b"kept".to_vec();
    let fast = figure.encode_with(codec, &mut fast).map(|()| fast);
    let mut typetag = b"kept".to_vec();
    let typetag = codec.encode(figure, &mut typetag).map(|()| typetag);
    (fast, typetag)
}

/// Every shape, whether the fast path writes it (else typetag), and what
/// typetag writes for it in JSON.
fn shapes() -> Vec<(Box<dyn Figure>, bool, &'static str)> {
    let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    vec![
        (
            Box::new(circle()),
            true,
            r#"{"type":"Circle","r":2.5,"label":"unit \"circle\""}"#,
        ),
        (
            Box::new(Framed {
                square: Square { side: 4 },
                note: "n".into(),
            }),
            true,
            r#"{"type":"Framed","side":4,"note":"n"}"#,
        ),
        (Box::new(Dot), true, r#"{"type":"Dot"}"#),
        (
            Box::new(Boxed(Square { side: 5 })),
            true,
            r#"{"type":"Boxed","side":5}"#,
        ),
        (
            Box::new(Meters(2.5)),
            true,
            r#"{"type":"Meters","value":2.5}"#,
        ),
        (
            Box::new(Ident(id)),
            true,
            r#"{"type":"Ident","value":"01234567-89ab-cdef-0123-456789abcdef"}"#,
        ),
        (Box::new(Mode::Off), true, r#"{"type":"Mode","Off":null}"#),
        (
            Box::new(Mode::Level(3)),
            true,
            r#"{"type":"Mode","Level":3}"#,
        ),
        (
            Box::new(Mode::Span { from: 1, to: 2 }),
            false,
            r#"{"type":"Mode","Span":{"from":1,"to":2}}"#,
        ),
        (
            Box::new(Point(1, -2)),
            false,
            r#"{"type":"Point","value":[1,-2]}"#,
        ),
        (
            Box::new(Typed {
                kind: "Typed".into(),
                n: 1,
            }),
            false,
            r#"{"type":"Typed","n":1}"#,
        ),
    ]
}

#[test]
fn trait_objects_encode_on_the_fast_path_with_typetags_bytes() {
    encodes();
    for (figure, fast, json) in shapes() {
        let name = figure.type_name().to_owned();
        let (via_fast, via_typetag) = both_ways(&Versioned, &figure);
        let (via_fast, via_typetag) = (via_fast.unwrap(), via_typetag.unwrap());
        assert_eq!(
            String::from_utf8_lossy(&via_fast),
            String::from_utf8_lossy(&via_typetag),
            "{name}"
        );
        assert_eq!(
            via_fast,
            [&b"kept\x01"[..], json.as_bytes()].concat(),
            "{name}"
        );
        // Tried on the fast path; finished by typetag only when it must.
        let expected = if fast { (1, 1) } else { (1, 2) };
        assert_eq!(encodes(), expected, "{name}: (fast, typetag) encodes");

        // The built-in codecs, against typetag through the format's own
        // serializer.
        let (via_fast, _) = both_ways(&Json::new(), &figure);
        assert_eq!(
            via_fast.unwrap(),
            [&b"kept"[..], &serde_json::to_vec(&figure).unwrap()].concat(),
            "{name}"
        );
        #[cfg(feature = "msgpack")]
        {
            let (via_fast, _) = both_ways(&kafka_codec::MsgPack::new(), &figure);
            let mut typetag = b"kept".to_vec();
            rmp_serde::encode::write_named(&mut typetag, &figure).unwrap();
            assert_eq!(via_fast.unwrap(), typetag, "{name}");
        }
    }
    encodes();
}

#[test]
fn a_field_named_like_the_tag_key_fails_as_typetag_fails() {
    let figure: Box<dyn Figure> = Box::new(Typed {
        kind: "Other".into(),
        n: 1,
    });
    let (via_fast, via_typetag) = both_ways(&Json::new(), &figure);
    let (fast, typetag) = (via_fast.unwrap_err(), via_typetag.unwrap_err());
    assert!(matches!(fast.kind(), ErrorKind::Encode { .. }), "{fast}");
    assert_eq!(fast.to_string(), typetag.to_string());
}

#[test]
fn fast_path_encodes_decode_back() {
    for (figure, _, _) in shapes() {
        let name = figure.type_name().to_owned();
        let mut bytes = Vec::new();
        figure.encode_with(&Versioned, &mut bytes).unwrap();
        // typetag cannot read back a field named like the tag key: it takes
        // the key as the tag.
        if name != "Typed" {
            let back: Box<dyn Figure> = Versioned.decode(&bytes).unwrap();
            assert_eq!(format!("{back:?}"), format!("{figure:?}"));
        }
        // The decode fast path reads maps only: the concrete type decodes the
        // payload as it stands, tag included. The other shapes are read by
        // typetag, on the same call.
        if name != "Typed" {
            decodes();
            let back = <Box<dyn Figure>>::decode_with(&Versioned, &bytes, &Hints::NONE)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(format!("{back:?}"), format!("{figure:?}"));
            let map_shaped = ["Circle", "Framed", "Boxed"].contains(&name.as_str());
            let expected = if map_shaped { (1, 0) } else { (0, 1) };
            assert_eq!(decodes(), expected, "{name}: (fast, typetag) decodes");
            // The built-in codecs and `from_bytes` too.
            let json = figure.to_bytes().unwrap();
            let back =
                <Box<dyn Figure>>::from_bytes(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(format!("{back:?}"), format!("{figure:?}"));
            let hints = Hints::new(None, Some(name.as_str()));
            let back = <Box<dyn Figure>>::decode_with(&Json::new(), &json, &hints)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(format!("{back:?}"), format!("{figure:?}"));
            #[cfg(feature = "msgpack")]
            {
                let codec = kafka_codec::MsgPack::new();
                let mut packed = Vec::new();
                figure.encode_with(&codec, &mut packed).unwrap();
                let back = <Box<dyn Figure>>::decode_with(&codec, &packed, &hints)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(format!("{back:?}"), format!("{figure:?}"));
            }
        }
    }
    decodes();
    encodes();
}

/// A struct that refuses unknown fields cannot read the tag entry: typetag
/// reads it, and a payload it refuses is refused either way.
#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
#[serde(deny_unknown_fields)]
struct Strict {
    n: u32,
}

#[kafka_codec::polymorphic]
impl Figure for Strict {}

#[test]
fn a_type_refusing_unknown_fields_decodes_through_typetag() {
    let figure: Box<dyn Figure> = Box::new(Strict { n: 7 });
    let bytes = figure.to_bytes().unwrap();
    assert_eq!(bytes, br#"{"type":"Strict","n":7}"#);
    let back = <Box<dyn Figure>>::from_bytes(&bytes).unwrap();
    assert_eq!(format!("{back:?}"), "Strict { n: 7 }");
    let extra = br#"{"type":"Strict","n":7,"x":1}"#;
    let err = <Box<dyn Figure>>::from_bytes(extra).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    // The header is still checked against what typetag read.
    let err = <Box<dyn Figure>>::decode_with(&Json::new(), &bytes, &Hints::new(None, Some("Dot")))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Header { .. }), "{err}");
}

#[test]
fn encoding_takes_the_fast_path_of_the_codec_that_writes() {
    let figure: Box<dyn Figure> = Box::new(circle());
    let typetag = encoded(&figure);
    encodes();

    // `Codecs` writes with its first codec; behind `Arc<dyn KafkaCodec>` too.
    let codecs = Codecs::<Box<dyn Figure>>::new(Versioned).with(Json::new());
    let mut buf = Vec::new();
    figure.encode_with(&codecs, &mut buf).unwrap();
    assert_eq!(buf, typetag);
    assert_eq!(encodes(), (1, 0));
    let shared: Arc<dyn KafkaCodec<Box<dyn Figure>>> = Arc::new(codecs);
    buf.clear();
    figure.encode_with(&shared, &mut buf).unwrap();
    assert_eq!(buf, typetag);
    assert_eq!(encodes(), (1, 0));

    let codecs = Codecs::<Box<dyn Figure>>::new(Json::new()).with(Versioned);
    buf.clear();
    figure.encode_with(&codecs, &mut buf).unwrap();
    assert_eq!(buf, serde_json::to_vec(&figure).unwrap());
    assert_eq!(encodes(), (0, 0), "JSON, by the built-in fast path");

    // `to_bytes` uses the trait's default codec.
    assert_eq!(figure.to_bytes().unwrap(), buf);
}

#[test]
fn a_user_codec_the_trait_does_not_name_encodes_through_typetag() {
    let plain: Box<dyn Plain> = Box::new(circle());
    encodes();
    let mut buf = Vec::new();
    plain.encode_with(&Versioned, &mut buf).unwrap();
    assert_eq!(encodes(), (0, 1));
    assert_eq!(buf, encoded(&plain));
    encodes();
}
