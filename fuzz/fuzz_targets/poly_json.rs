//! `<Box<dyn Entity> as KafkaMessage>::decode_with` with the JSON codec: once
//! on the whole input with no hints, and once on the input after its first
//! byte, which selects a type header and a content-type header (registered
//! tags, bogus ones, spellings of both codecs' media types, others) and
//! tighter limits (see `poly_common::Selector`).
//!
//! Invariants: no panic; errors carry the payload and have the right kind
//! (content-type mismatch exactly when the codec does not accept the header,
//! `TooLarge` for a payload over the limit); a decoded value is of a
//! registered type that agrees with the type header, the payload's leading
//! tag and any top-level tag; it equals what the concrete type's decoder
//! reads, and round-trips through the fast path and through typetag.
#![no_main]

use kafka_codec::codec::Hints;
use kafka_codec::Json;
use libfuzzer_sys::fuzz_target;

mod common;
mod poly_common;

use common::json_bracket_depth;
use poly_common::*;

fuzz_target!(|data: &[u8]| {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(check_registry);

    let leading = kafka_codec::poly::json_leading_tag(data, "type");
    check_poly(&Json::new(), data, Hints::NONE, leading);

    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let sel = Selector::new(sel);
    let mut codec = Json::new();
    if sel.shallow {
        codec = codec.max_depth(SHALLOW);
    }
    if sel.small {
        codec = codec.max_payload(SMALL_PAYLOAD);
    }
    let leading = kafka_codec::poly::json_leading_tag(rest, "type");
    if check_poly(&codec, rest, sel.hints, leading).is_some() && sel.shallow {
        let depth = json_bracket_depth(rest);
        assert!(
            depth <= SHALLOW,
            "max_depth({SHALLOW}) decoded an entity {depth} deep"
        );
    }
});
