//! `MsgPack::decode` into rich serde types, the sample hierarchy's concrete
//! types and `serde_json::Value`, with the default limits and with
//! `max_depth(8)`.
//!
//! Invariants: no panic (a stack overflow included: nesting must be bounded
//! by the depth limit); every error carries the input as its payload; a
//! `TooDeep` error names the configured limit; a value within the limit is
//! accepted by the depth-limited codec and one beyond it is refused; decoded
//! values re-encode to bytes that decode to the same value and encode
//! identically (byte comparison, since MessagePack floats may be NaN).
#![no_main]

use std::fmt::Debug;

use kafka_codec::{KafkaCodec, MsgPack};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

mod common;
use kafka_codec_sample as sample;

use common::*;

const DEFAULT_DEPTH: usize = 128;
const SHALLOW: usize = 8;

fuzz_target!(|data: &[u8]| {
    // Rich holds f64s, which may be NaN: compare its encodings only.
    typed::<Rich>(data, false);
    typed::<Tree>(data, true);
    typed::<sample::Person>(data, true);
    typed::<sample::Employee>(data, true);
    typed::<sample::Customer>(data, true);
    typed::<sample::Order>(data, true);
    typed::<Vec<Option<String>>>(data, true);
    value(data);
});

fn typed<T>(data: &[u8], eq: bool) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let full = decode::<T>(&MsgPack::new(), DEFAULT_DEPTH, data);
    let shallow = decode::<T>(&MsgPack::new().max_depth(SHALLOW), SHALLOW, data);
    // Nothing nested deeper than the limit may be accepted, whatever the
    // type asks the decoder for (sequences, maps, enums in map form, ...).
    // And what is accepted is exactly one complete value: no trailing bytes.
    for (result, limit) in [(full.is_ok(), DEFAULT_DEPTH), (shallow.is_ok(), SHALLOW)] {
        if result {
            let (depth, end) = msgpack_extent(data).expect("accepted invalid MessagePack");
            assert_eq!(
                end,
                data.len(),
                "max_depth({limit}) accepted a {}-byte value followed by {} more bytes as {}",
                end,
                data.len() - end,
                std::any::type_name::<T>()
            );
            assert!(
                depth <= limit,
                "max_depth({limit}) accepted a payload nested {depth} deep as {}",
                std::any::type_name::<T>()
            );
        }
    }
    match (&full, &shallow) {
        (Ok(a), Ok(b)) => {
            assert_eq!(encode(a), encode(b), "the two codecs decode differently");
            if eq {
                assert_eq!(a, b);
            }
        }
        (Err(e), Ok(_)) => panic!("max_depth({SHALLOW}) accepted what the default codec refused: {e}"),
        (Ok(_), Err(e)) => assert_eq!(
            too_deep_limit(e),
            Some(SHALLOW),
            "max_depth({SHALLOW}) refused, for another reason than depth, what the default codec accepts: {e}"
        ),
        (Err(_), Err(_)) => {}
    }
    let v = full.ok()?;
    round_trip(&v, eq);
    Some(v)
}

fn decode<T: DeserializeOwned + Serialize>(
    codec: &MsgPack,
    limit: usize,
    data: &[u8],
) -> kafka_codec::Result<T> {
    assert_eq!(codec.limits().max_depth, limit);
    let result: kafka_codec::Result<T> = codec.decode(data);
    if let Err(e) = &result {
        check_decode_err(e, data);
        if let Some(reported) = too_deep_limit(e) {
            assert_eq!(reported, limit, "TooDeep names the wrong limit: {e}");
        }
    }
    result
}

fn encode<T: Serialize + DeserializeOwned>(v: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    MsgPack::new()
        .encode(v, &mut bytes)
        .expect("a decoded value must encode");
    bytes
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T, eq: bool) {
    let bytes = encode(v);
    let back: T = match MsgPack::new().decode(&bytes) {
        Ok(back) => back,
        Err(e) => panic!("re-encoded value does not decode: {e}\n{bytes:02x?}"),
    };
    if eq {
        assert_eq!(&back, v, "round trip changed the value");
    }
    assert_eq!(bytes, encode(&back), "round trip changed the encoding");
}

fn value(data: &[u8]) {
    let Some(v) = typed::<serde_json::Value>(data, true) else {
        return;
    };
    // The nesting of the payload, duplicate keys included (a `Value` keeps
    // only the last of them, so it may be shallower).
    let (depth, _) = msgpack_extent(data).expect("accepted invalid MessagePack");
    assert!(value_depth(&v) <= depth);
    let shallow: kafka_codec::Result<serde_json::Value> =
        MsgPack::new().max_depth(SHALLOW).decode(data);
    if let Err(e) = shallow {
        assert!(
            may_refuse_depth(depth, SHALLOW),
            "max_depth({SHALLOW}) refused a payload {depth} deep: {e}"
        );
    }
}

/// The deepest nesting of arrays, maps and extension values in the first
/// MessagePack value of `data`, and where that value ends (`None` if it is
/// truncated or invalid).
fn msgpack_extent(data: &[u8]) -> Option<(usize, usize)> {
    fn be(data: &[u8], at: usize, n: usize) -> Option<usize> {
        let bytes = data.get(at..at + n)?;
        Some(
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
        )
    }
    // Returns (depth, offset after the value). Recursion is bounded by the
    // caller: only payloads a codec accepted are walked, and the walk stops
    // at 4096 levels.
    fn walk(data: &[u8], at: usize, level: usize) -> Option<(usize, usize)> {
        if level > 4096 {
            return None;
        }
        let m = *data.get(at)?;
        let at = at + 1;
        let (items, len_bytes) = match m {
            0x80..=0x8f => (2 * usize::from(m & 0x0f), 0),
            0x90..=0x9f => (usize::from(m & 0x0f), 0),
            0xdc => (be(data, at, 2)?, 2),
            0xdd => (be(data, at, 4)?, 4),
            0xde => (2 * be(data, at, 2)?, 2),
            0xdf => (2 * be(data, at, 4)?, 4),
            _ => {
                let (skip, ext) = match m {
                    0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, false),
                    0xa0..=0xbf => (usize::from(m & 0x1f), false),
                    0xc4 | 0xd9 => (1 + be(data, at, 1)?, false),
                    0xc5 | 0xda => (2 + be(data, at, 2)?, false),
                    0xc6 | 0xdb => (4 + be(data, at, 4)?, false),
                    0xc7 => (1 + 1 + be(data, at, 1)?, true),
                    0xc8 => (2 + 1 + be(data, at, 2)?, true),
                    0xc9 => (4 + 1 + be(data, at, 4)?, true),
                    0xca => (4, false),
                    0xcb => (8, false),
                    0xcc | 0xd0 => (1, false),
                    0xcd | 0xd1 => (2, false),
                    0xce | 0xd2 => (4, false),
                    0xcf | 0xd3 => (8, false),
                    0xd4 => (2, true),
                    0xd5 => (3, true),
                    0xd6 => (5, true),
                    0xd7 => (9, true),
                    0xd8 => (17, true),
                    _ => return None, // 0xc1: never used
                };
                let end = at.checked_add(skip)?;
                return (end <= data.len()).then_some((usize::from(ext), end));
            }
        };
        let mut at = at + len_bytes;
        let mut deepest = 0;
        for _ in 0..items {
            let (d, next) = walk(data, at, level + 1)?;
            deepest = deepest.max(d);
            at = next;
        }
        Some((1 + deepest, at))
    }
    walk(data, 0, 0)
}
