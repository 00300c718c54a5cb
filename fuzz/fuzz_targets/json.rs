//! `Json::decode` into rich serde types, the sample hierarchy's concrete
//! types and `serde_json::Value`, with the default limits and with
//! `max_depth(8)`.
//!
//! Invariants: no panic; every error carries the input as its payload; a
//! `TooDeep` error only for input nested deeper than the limit (default 127,
//! the documented maximum) and never for shallower input; the depth-limited
//! codec agrees with the default one on everything within the limit; decoded
//! values re-encode and decode to an equal value.
#![no_main]

use std::fmt::Debug;

use kafka_codec::{Json, KafkaCodec};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

mod common;
use kafka_codec_sample as sample;

use common::*;

const DEFAULT_DEPTH: usize = 127;
const SHALLOW: usize = 8;

fuzz_target!(|data: &[u8]| {
    typed::<Rich>(data);
    typed::<Tree>(data);
    typed::<sample::Person>(data);
    typed::<sample::Employee>(data);
    typed::<sample::Customer>(data);
    typed::<sample::Order>(data);
    typed::<sample::EntityBase>(data);
    typed::<Vec<Option<String>>>(data);
    value(data);
});

/// Decodes `data` as `T` with both codecs and checks the invariants.
fn typed<T>(data: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let full = decode::<T>(&Json::new(), DEFAULT_DEPTH, data);
    let shallow = decode::<T>(&Json::new().max_depth(SHALLOW), SHALLOW, data);
    let depth = json_bracket_depth(data);
    match (&full, &shallow) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the two codecs decode differently"),
        (Err(e), Ok(_)) => panic!("max_depth({SHALLOW}) accepted what the default codec refused: {e}"),
        (Ok(_), Err(e)) => assert!(
            too_deep_limit(e) == Some(SHALLOW) && depth > SHALLOW,
            "max_depth({SHALLOW}) refused a payload {depth} deep that the default codec accepts: {e}"
        ),
        (Err(_), Err(_)) => {}
    }
    if let Ok(v) = full {
        round_trip(&v);
    }
}

/// One decode, with the per-codec checks.
fn decode<T: Serialize + DeserializeOwned>(
    codec: &Json,
    limit: usize,
    data: &[u8],
) -> kafka_codec::Result<T> {
    assert_eq!(codec.limits().max_depth, limit);
    let result: kafka_codec::Result<T> = codec.decode(data);
    let depth = json_bracket_depth(data);
    match &result {
        Ok(_) => assert!(
            depth <= limit,
            "accepted a payload {depth} deep with max_depth {limit}"
        ),
        Err(e) => {
            check_decode_err(e, data);
            if let Some(reported) = too_deep_limit(e) {
                assert_eq!(reported, limit, "TooDeep names the wrong limit: {e}");
                assert!(
                    may_refuse_depth(depth, limit),
                    "refused a payload {depth} deep as deeper than the limit of {limit}"
                );
            }
        }
    }
    result
}

/// Encode, decode again, compare; the second encoding must be identical.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) {
    let codec = Json::new();
    let mut bytes = Vec::new();
    codec
        .encode(v, &mut bytes)
        .expect("a decoded value must encode");
    let back: T = match codec.decode(&bytes) {
        Ok(back) => back,
        Err(e) => panic!(
            "re-encoded value does not decode: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(&back, v, "round trip changed the value");
    let mut again = Vec::new();
    codec.encode(&back, &mut again).expect("encode");
    assert_eq!(bytes, again, "encoding is not stable");
}

fn value(data: &[u8]) {
    let full = decode::<serde_json::Value>(&Json::new(), DEFAULT_DEPTH, data);
    let shallow = decode::<serde_json::Value>(&Json::new().max_depth(SHALLOW), SHALLOW, data);
    if let Ok(v) = &full {
        // The nesting of the text, duplicate keys included (a `Value` keeps
        // only the last of them, so it may be shallower).
        let depth = json_bracket_depth(data);
        assert!(
            value_depth(v) <= depth,
            "bracket scan disagrees with the value"
        );
        match &shallow {
            Ok(w) => assert_eq!(v, w),
            Err(e) => assert!(
                may_refuse_depth(depth, SHALLOW),
                "max_depth({SHALLOW}) refused a payload {depth} deep: {e}"
            ),
        }
        round_trip(v);
    } else if shallow.is_ok() {
        panic!("max_depth({SHALLOW}) accepted what the default codec refused");
    }
}
