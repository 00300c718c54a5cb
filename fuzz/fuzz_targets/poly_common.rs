//! The checks of the polymorphic targets: `<Box<dyn Entity>>::decode_with`
//! with hints, against any codec, on the sample hierarchy of the
//! `kafka-codec-sample` crate. Needs `mod common;` in the crate root.
#![allow(dead_code)]

use kafka_codec::codec::{Hints, SerdeCodec};
use kafka_codec::{ErrorKind, KafkaCodec, KafkaMessage, Limits, Polymorphic};
use kafka_codec_sample::{Customer, Employee, Entity, Order, Person};

use crate::common::{check_decode_err, lenient};

/// Type headers to try: every registered tag, and bogus ones.
pub const TYPE_HINTS: [Option<&str>; 8] = [
    None,
    Some("Person"),
    Some("Employee"),
    Some("Customer"),
    Some("Order"),
    Some("Robot"),
    Some(""),
    Some("person"),
];

/// Content-type headers to try: each codec's, spelled several ways, and
/// others.
pub const CONTENT_TYPE_HINTS: [Option<&str>; 8] = [
    None,
    Some("application/json"),
    Some("Application/JSON; charset=utf-8"),
    Some(" application/msgpack "),
    Some("APPLICATION/MSGPACK;v=5"),
    Some("text/plain"),
    Some(""),
    Some("application/json-seq"),
];

/// Limits to try, picked by the selector byte's two high bits.
pub const SMALL_PAYLOAD: usize = 256;
pub const SHALLOW: usize = 8;

/// What a selector byte asks for: hints, a depth limit, a size limit.
#[derive(Debug, Clone, Copy)]
pub struct Selector {
    pub hints: Hints<'static>,
    pub shallow: bool,
    pub small: bool,
}

impl Selector {
    pub fn new(sel: u8) -> Self {
        Selector {
            hints: Hints::new(
                CONTENT_TYPE_HINTS[usize::from((sel >> 3) & 7)],
                TYPE_HINTS[usize::from(sel & 7)],
            ),
            shallow: sel & 0x40 != 0,
            small: sel & 0x80 != 0,
        }
    }
}

/// The registered tags, checked once: `inventory` must have run.
pub fn check_registry() {
    let tags: Vec<_> = <dyn Entity as Polymorphic>::registry().tags().collect();
    assert_eq!(tags, ["Customer", "Employee", "Order", "Person"]);
}

/// The codec as a concrete type decoder for each type of the hierarchy.
pub trait EntityCodec:
    KafkaCodec<Box<dyn Entity>>
    + KafkaCodec<Person>
    + KafkaCodec<Employee>
    + KafkaCodec<Customer>
    + KafkaCodec<Order>
    + SerdeCodec
{
    fn limits(&self) -> Limits;
}

impl EntityCodec for kafka_codec::Json {
    fn limits(&self) -> Limits {
        kafka_codec::Json::limits(self)
    }
}

impl EntityCodec for kafka_codec::MsgPack {
    fn limits(&self) -> Limits {
        kafka_codec::MsgPack::limits(self)
    }
}

/// Decodes `data` as `Box<dyn Entity>` with `hints` and checks the
/// invariants. `leading` is the payload's leading tag, as the target's
/// reference reading of the wire format finds it. Returns the type name on
/// success.
pub fn check_poly<C: EntityCodec>(
    codec: &C,
    data: &[u8],
    hints: Hints<'_>,
    leading: Option<&str>,
) -> Option<String> {
    let limits = codec.limits();
    let result = <Box<dyn Entity>>::decode_with(codec, data, &hints);
    let ct_ok = hints
        .content_type
        .is_none_or(|ct| KafkaCodec::<Box<dyn Entity>>::accepts(codec, ct));
    // The tag the payload itself carries anywhere at the top level (first
    // occurrence), as the codec finds it.
    let scanned = SerdeCodec::find_tag(codec, data, "type")
        .ok()
        .flatten()
        .map(std::borrow::Cow::into_owned);
    let v = match result {
        Err(e) => {
            check_decode_err(&e, data);
            match e.kind() {
                ErrorKind::ContentTypeMismatch { found, .. } => {
                    assert!(
                        !ct_ok,
                        "content type `{found}` refused by a codec that accepts it"
                    );
                }
                ErrorKind::UnknownType { tag, .. } => {
                    assert!(
                        !<dyn Entity as Polymorphic>::registry().contains(tag),
                        "registered tag `{tag}` reported unknown"
                    );
                }
                ErrorKind::TooDeep { limit } => assert_eq!(*limit, limits.max_depth, "{e}"),
                ErrorKind::TooLarge { size, limit } => {
                    assert_eq!((*size, *limit), (data.len(), limits.max_payload), "{e}");
                }
                _ => {}
            }
            assert!(
                ct_ok || matches!(e.kind(), ErrorKind::ContentTypeMismatch { .. }),
                "{e}"
            );
            if ct_ok && data.len() > limits.max_payload && !lenient() {
                assert!(
                    matches!(e.kind(), ErrorKind::TooLarge { .. }),
                    "a payload of {} bytes over the limit of {} was refused as `{e}`, not as too large",
                    data.len(),
                    limits.max_payload
                );
            }
            return None;
        }
        Ok(v) => v,
    };
    let name = v.type_name().to_owned();
    assert!(
        ct_ok,
        "decoded despite content type {:?}",
        hints.content_type
    );
    assert!(
        data.len() <= limits.max_payload,
        "accepted {} bytes over the limit of {}",
        data.len(),
        limits.max_payload
    );
    assert!(
        <dyn Entity as Polymorphic>::registry().contains(&name),
        "{name}"
    );
    if let Some(t) = hints.type_name {
        assert_eq!(
            name, t,
            "decoded a `{name}` though the type header says `{t}`"
        );
    }
    if let Some(t) = leading {
        assert_eq!(
            name, t,
            "decoded a `{name}` though the payload's leading tag is `{t}`"
        );
    }
    // The docs: "the payload and the header must agree when both name a
    // type", wherever in the payload the tag is.
    if let (Some(t), false) = (&scanned, lenient()) {
        assert_eq!(
            &name, t,
            "decoded a `{name}` though the payload is tagged `{t}` (hints {hints:?})"
        );
    }

    // The fast path must decode exactly what the concrete type's decoder does.
    match name.as_str() {
        "Person" => same_as_concrete::<Person, C>(codec, data, &*v),
        "Employee" => same_as_concrete::<Employee, C>(codec, data, &*v),
        "Customer" => same_as_concrete::<Customer, C>(codec, data, &*v),
        "Order" => same_as_concrete::<Order, C>(codec, data, &*v),
        other => panic!("unexpected type {other}"),
    }

    // Round trip: re-encode through typetag (and by the fast path, which must
    // agree), decode by the fast path and by typetag, with and without a
    // matching type header.
    let mut bytes = Vec::new();
    KafkaCodec::<Box<dyn Entity>>::encode(codec, &v, &mut bytes)
        .expect("a decoded entity must encode");
    // The encode fast path writes typetag's bytes.
    let mut fast = Vec::new();
    v.encode_with(codec, &mut fast)
        .expect("a decoded entity must encode on the fast path");
    assert_eq!(fast, bytes, "the encode fast path and typetag disagree");
    let expected = format!("{v:?}");
    for hints in [
        Hints::NONE,
        Hints::new(
            Some(KafkaCodec::<Box<dyn Entity>>::content_type(codec)),
            Some(&name),
        ),
    ] {
        match <Box<dyn Entity>>::decode_with(codec, &bytes, &hints) {
            Ok(back) => assert_eq!(
                format!("{back:?}"),
                expected,
                "round trip changed the value"
            ),
            Err(e) => panic!("re-encoded `{name}` does not decode with {hints:?}: {e}"),
        }
    }
    let slow: Box<dyn Entity> = match KafkaCodec::<Box<dyn Entity>>::decode(codec, &bytes) {
        Ok(slow) => slow,
        Err(e) => panic!("re-encoded `{name}` does not decode through typetag: {e}"),
    };
    assert_eq!(format!("{slow:?}"), expected, "typetag decodes differently");
    Some(name)
}

fn same_as_concrete<T, C>(codec: &C, data: &[u8], v: &dyn Entity)
where
    T: Entity + PartialEq + std::fmt::Debug,
    C: KafkaCodec<T> + ?Sized,
{
    let concrete = v.downcast_ref::<T>().expect("type_name and type disagree");
    match KafkaCodec::<T>::decode(codec, data) {
        Ok(t) => assert_eq!(&t, concrete, "fast path and concrete decoder disagree"),
        Err(e) => panic!(
            "the fast path decoded a {} that its own decoder refuses: {e}",
            std::any::type_name::<T>()
        ),
    }
}
